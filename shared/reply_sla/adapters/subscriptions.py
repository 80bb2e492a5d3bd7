"""Managers' e-mail subscriptions to the escalations topic, routed by SNS filter policies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from reply_sla.errors import ConfigError

PENDING = "PendingConfirmation"


@dataclass(frozen=True)
class ManagerSubscription:
    email: str
    arn: str
    filter_policy: dict[str, list[str]]

    @property
    def confirmed(self) -> bool:
        return self.arn not in (PENDING, "pending confirmation") and self.arn.startswith("arn:")


def filter_policy(
    brand: str,
    channels: list[str] | None,
    levels: list[str] | None,
    audiences: list[str] | None = None,
) -> dict[str, list[str]]:
    """Only this brand's messages, and only the channels, levels and audiences asked for (all
    if none)."""
    policy: dict[str, list[str]] = {"brand": [brand]}
    if channels:
        policy["channel"] = sorted(set(channels))
    if levels:
        policy["level"] = sorted(set(levels))
    if audiences:
        policy["audience"] = sorted(set(audiences))
    return policy


def _fail(action: str, exc: Exception) -> ConfigError:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
    return ConfigError(f"cannot {action}: {code}")


def topic_arn_of_stack(cloudformation: Any, stack: str) -> str:
    """The TopicArn output of a deployed replysla stack."""
    try:
        outputs = cloudformation.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    except (ClientError, BotoCoreError) as exc:
        raise _fail(f"read stack {stack}", exc) from exc
    for output in outputs:
        if output.get("OutputKey") == "TopicArn":
            return str(output["OutputValue"])
    raise ConfigError(f"stack {stack} has no TopicArn output: is it a replysla stack?")


def subscribe(sns: Any, topic_arn: str, email: str, policy: dict[str, list[str]]) -> str:
    """Subscribe an address with a filter policy; SNS mails it a confirmation link."""
    try:
        response = sns.subscribe(
            TopicArn=topic_arn,
            Protocol="email",
            Endpoint=email,
            Attributes={
                "FilterPolicy": json.dumps(policy, sort_keys=True),
                "FilterPolicyScope": "MessageAttributes",
            },
            ReturnSubscriptionArn=True,
        )
    except (ClientError, BotoCoreError) as exc:
        raise _fail(f"subscribe {email}", exc) from exc
    return str(response.get("SubscriptionArn", PENDING))


def list_managers(sns: Any, topic_arn: str) -> list[ManagerSubscription]:
    managers: list[ManagerSubscription] = []
    try:
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for page in pages:
            for sub in page.get("Subscriptions", []):
                if sub.get("Protocol") != "email":
                    continue
                arn = str(sub.get("SubscriptionArn", PENDING))
                policy: dict[str, list[str]] = {}
                if arn.startswith("arn:"):
                    attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
                    policy = json.loads(attributes.get("FilterPolicy") or "{}")
                managers.append(ManagerSubscription(str(sub["Endpoint"]), arn, policy))
    except (ClientError, BotoCoreError) as exc:
        raise _fail("list the topic's subscriptions", exc) from exc
    return managers


def unsubscribe(sns: Any, subscription: ManagerSubscription) -> None:
    try:
        sns.unsubscribe(SubscriptionArn=subscription.arn)
    except (ClientError, BotoCoreError) as exc:
        raise _fail(f"unsubscribe {subscription.email}", exc) from exc

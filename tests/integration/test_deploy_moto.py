"""The translated template's data resources deployed by moto's CloudFormation, and one poll, one
check and one weekly summary run against them by the real handlers.

moto's CloudFormation creates the table (keys, indexes, billing, deletion protection), the
encrypted topic, the queues with their redrive policy, the bucket, the configuration parameter
and the key; it has no support for the resource policies and ignores TTL, point-in-time recovery
and lifecycle rules, which tests/infra checks in the template itself. Every AWS call a handler
makes is recorded and checked against the IAM actions its role is granted.
"""

from __future__ import annotations

import json
import warnings
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.utilities import parameters

from reply_sla.local.demo import LambdaContextStub, SimClock, _load_handler, _sqs_event
from reply_sla.local.fake_mastodon import FakeMastodon
from reply_sla.local.provision import load_template, translate_template
from reply_sla.settings import Settings
from reply_sla.wiring import Container, use_container
from tests.conftest import local_session
from tests.infra.test_template_contract import GRANTS

#: What moto's CloudFormation can create; the rest of the stack has no local use.
DEPLOYED = {
    "AWS::DynamoDB::Table",
    "AWS::SNS::Topic",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::SSM::Parameter",
    "AWS::KMS::Key",
}
OUTPUTS = {
    "TableName": "Table",
    "TopicArn": "EscalationsTopic",
    "PollQueueUrl": "PollQueue",
    "PollDeadLetterQueueUrl": "PollDeadLetterQueue",
    "BucketName": "SummariesBucket",
    "ConfigParameterName": "ConfigParameter",
}
HANDLER_ROLES = {
    "dispatch_polls": "DispatchPollsFunctionRole",
    "poll_account": "PollAccountFunctionRole",
    "check_sla": "CheckSlaFunctionRole",
    "weekly_summary": "WeeklySummaryFunctionRole",
}
MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def stack_body() -> dict[str, Any]:
    """The deployable part of template.yaml's translation, with outputs naming it."""
    translated = translate_template(load_template())
    resources = {
        lid: res for lid, res in translated["Resources"].items() if res["Type"] in DEPLOYED
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": translated["Parameters"],
        "Conditions": translated.get("Conditions", {}),
        "Resources": resources,
        "Outputs": {key: {"Value": {"Ref": lid}} for key, lid in OUTPUTS.items()},
    }


class CallRecorder:
    """Every AWS operation made while a handler runs, with its parameters."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        recorder = self

        def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if recorder.current is not None:
                service = client.meta.service_model.endpoint_prefix
                recorder.calls[recorder.current].append((service, operation, params))
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", recorded)


def iam_actions(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions AWS authorises an API call with."""
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        kinds = {next(iter(item)) for item in params["TransactItems"]}
        names = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
        return {f"dynamodb:{names.get(kind, 'ConditionCheckItem')}" for kind in kinds}
    if (service, operation) == ("dynamodb", "TransactGetItems"):
        return {"dynamodb:GetItem"}
    if (service, operation) == ("sqs", "SendMessageBatch"):
        return {"sqs:SendMessage"}
    if (service, operation) == ("sqs", "DeleteMessageBatch"):
        return {"sqs:DeleteMessage"}
    return {f"{service}:{operation}"}


def allowed(action: str, granted: dict[str, list[str]]) -> bool:
    return any(
        action == grant or (grant.endswith("*") and action.startswith(grant[:-1]))
        for grant in granted
    )


@dataclass
class DeployedStack:
    outputs: dict[str, str]
    session: Any
    clock: SimClock
    fake: FakeMastodon
    brand: str
    customer: str
    recorder: CallRecorder

    def run(self, name: str, event: dict[str, Any]) -> Any:
        self.recorder.current = name
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return _load_handler(name)(event, LambdaContextStub(name))
        finally:
            self.recorder.current = None


@pytest.fixture
def deployed(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> Iterator[DeployedStack]:
    session = local_session()
    cloudformation = session.client("cloudformation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cloudformation.create_stack(StackName="replysla", TemplateBody=json.dumps(stack_body()))
    stack = cloudformation.describe_stacks(StackName="replysla")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    # Powertools keeps parameters for 5 minutes per process; this test pushes its own.
    parameters.clear_caches()
    clock = SimClock(MONDAY)
    secrets = session.client("secretsmanager")
    key = secrets.create_secret(
        Name="replysla-action-key", SecretString=json.dumps({"kid": "k1", "key": "k" * 64})
    )["ARN"]
    with FakeMastodon(clock=clock) as fake:
        brand = fake.add_account("acme", "ACME")["id"]
        customer = fake.add_account("dana", "Dana")["id"]
        secrets.create_secret(
            Name="replysla/acme-mastodon",
            SecretString=json.dumps({"access_token": fake.issue_token(brand)}),
        )
        config = {
            "brands": {"acme": {"name": "ACME", "timezone": "Europe/Madrid"}},
            "accounts": [
                {
                    "id": "acme-mastodon",
                    "brand": "acme",
                    "channel": "mastodon",
                    "api_base_url": fake.base_url,
                    "secret": "replysla/acme-mastodon",
                }
            ],
        }
        from reply_sla.adapters.stack import push_config_text

        push_config_text(
            session.client("ssm"), outputs["ConfigParameterName"], yaml.safe_dump(config)
        )
        env = {
            "TABLE_NAME": outputs["TableName"],
            "TOPIC_ARN": outputs["TopicArn"],
            "POLL_QUEUE_URL": outputs["PollQueueUrl"],
            "BUCKET_NAME": outputs["BucketName"],
            "CONFIG_PARAMETER": outputs["ConfigParameterName"],
            "ACTION_KEY_SECRET_ARN": key,
            "ACTION_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/act",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        recorder = CallRecorder()
        recorder.install(monkeypatch)
        use_container(Container(Settings.from_env(), clock=clock))
        try:
            yield DeployedStack(outputs, session, clock, fake, brand, customer, recorder)
        finally:
            use_container(None)


def test_cloudformation_creates_the_data_resources_as_the_template_says(
    deployed: DeployedStack,
) -> None:
    session, outputs = deployed.session, deployed.outputs
    table = session.client("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"due", "week", "open"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["DeletionProtectionEnabled"] is True
    queue = session.client("sqs").get_queue_attributes(
        QueueUrl=outputs["PollQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert json.loads(queue["RedrivePolicy"])["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] == "true"
    topic = session.client("sns").get_topic_attributes(TopicArn=outputs["TopicArn"])
    assert topic["Attributes"]["KmsMasterKeyId"]


def test_one_poll_one_check_and_one_summary_run_against_the_deployed_stack(
    deployed: DeployedStack,
) -> None:
    stack = deployed
    sqs = stack.session.client("sqs")
    # Given a customer's mention on the brand's Mastodon account
    stack.fake.post(stack.customer, "@acme my parcel 1234 never arrived", MONDAY)
    # When the dispatcher queues a poll and the poll function consumes it
    stack.clock.now = MONDAY + timedelta(minutes=1)
    event = {"scheduled_time": stack.clock.now.isoformat()}
    stack.run("dispatch_polls", event)
    received = sqs.receive_message(QueueUrl=stack.outputs["PollQueueUrl"], MaxNumberOfMessages=10)
    messages = received["Messages"]
    response = stack.run("poll_account", _sqs_event(messages, "arn:aws:sqs:poll"))
    assert response == {"batchItemFailures": []}
    # Then the turn is open in the deployed table
    from reply_sla.adapters.dynamodb_store import DynamoThreadStore

    store = DynamoThreadStore(stack.session.client("dynamodb"), stack.outputs["TableName"])
    assert [t.text for t in store.open_turns("acme")] == ["@acme my parcel 1234 never arrived"]
    # When the checker runs past the one-hour deadline
    stack.clock.now = MONDAY + timedelta(minutes=61)
    report = stack.run("check_sla", {"scheduled_time": stack.clock.now.isoformat()})
    # Then it publishes one breach to the deployed topic
    assert report["fired"] == 1 and report["by_level"] == {"breach": 1}
    # When the Monday summary runs for that week
    monday_after = MONDAY + timedelta(days=7, hours=7 - 9 + 1)
    stack.clock.now = monday_after
    result = stack.run("weekly_summary", {"scheduled_time": monday_after.isoformat()})
    # Then the week's files are in the deployed bucket
    (prefix,) = result["summaries"]
    listed = stack.session.client("s3").list_objects_v2(
        Bucket=stack.outputs["BucketName"], Prefix=prefix
    )
    names = sorted(o["Key"].rsplit("/", 1)[1] for o in listed["Contents"])
    assert names == ["breaches.csv", "summary.csv", "summary.html", "summary.json"]
    summary = json.loads(
        stack.session.client("s3")
        .get_object(Bucket=stack.outputs["BucketName"], Key=f"{prefix}summary.json")["Body"]
        .read()
    )
    assert summary["metrics"]["turns_opened"] == 1
    # And every call each function made is an action its role is granted
    denied = {
        name: sorted(
            action
            for service, operation, params in calls
            for action in iam_actions(service, operation, params)
            if not allowed(action, GRANTS[HANDLER_ROLES[name]])
        )
        for name, calls in stack.recorder.calls.items()
    }
    assert set(stack.recorder.calls) == set(HANDLER_ROLES)
    assert all(not actions for actions in denied.values()), denied

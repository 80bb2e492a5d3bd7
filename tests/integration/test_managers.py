"""`replysla managers add|list|remove` on moto: e-mail subscriptions routed by filter policies."""

from __future__ import annotations

import json

import boto3
import pytest

from reply_sla.cli.main import main


@pytest.fixture
def topic(moto_aws) -> str:
    return boto3.client("sns").create_topic(Name="escalations")["TopicArn"]


def test_add_subscribes_with_a_filter_policy(topic: str, capsys):
    # When a manager is added for one brand's breaches on two channels
    code = main(
        [
            "managers",
            "add",
            "lead@acme.example",
            "--brand",
            "acme",
            "--topic-arn",
            topic,
            "--channels",
            "x",
            "facebook",
            "--levels",
            "breach",
            "summary",
        ]
    )
    # Then the subscription's filter policy routes exactly that
    assert code == 0 and "confirmation" in capsys.readouterr().out
    sns = boto3.client("sns")
    [sub] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sub["Protocol"] == "email" and sub["Endpoint"] == "lead@acme.example"
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert json.loads(attributes["Attributes"]["FilterPolicy"]) == {
        "brand": ["acme"],
        "channel": ["facebook", "x"],
        "level": ["breach", "summary"],
    }


def test_list_and_remove(topic: str, capsys):
    main(["managers", "add", "a@acme.example", "--brand", "acme", "--topic-arn", topic])
    main(["managers", "add", "b@other.example", "--brand", "other", "--topic-arn", topic])
    capsys.readouterr()
    assert main(["managers", "list", "--brand", "acme", "--topic-arn", topic]) == 0
    listed = capsys.readouterr().out
    assert "a@acme.example" in listed and "brand=acme" in listed and "b@other" not in listed
    assert main(["managers", "remove", "a@acme.example", "--topic-arn", topic]) == 0
    capsys.readouterr()
    main(["managers", "list", "--topic-arn", topic])
    assert "a@acme.example" not in capsys.readouterr().out


def test_bad_input_exits_2(topic: str, capsys):
    assert main(["managers", "add", "not-an-email", "--brand", "acme", "--topic-arn", topic]) == 2
    assert "not an e-mail address" in capsys.readouterr().err
    assert (
        main(
            [
                "managers",
                "add",
                "a@b.example",
                "--brand",
                "acme",
                "--topic-arn",
                topic,
                "--channels",
                "myspace",
            ]
        )
        == 2
    )
    assert "unknown myspace" in capsys.readouterr().err
    assert main(["managers", "list"]) == 2
    assert "--stack" in capsys.readouterr().err


def _policy_of(topic: str, email: str) -> dict[str, list[str]]:
    sns = boto3.client("sns")
    [sub] = [
        s
        for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if s["Endpoint"] == email
    ]
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    return json.loads(attributes["Attributes"]["FilterPolicy"])


def test_a_manager_hears_what_is_past_the_window_unless_asked_otherwise(topic: str, capsys):
    # A manager added without levels gets the managers' audience: not the team's warnings
    at = ["--topic-arn", topic]
    main(["managers", "add", "lead@acme.example", "--brand", "acme", *at])
    assert _policy_of(topic, "lead@acme.example") == {"brand": ["acme"], "audience": ["managers"]}
    # The team's inbox can be added for the warnings, and someone can ask for everything
    main(["managers", "add", "care@acme.example", "--brand", "acme", "--audience", "team", *at])
    assert _policy_of(topic, "care@acme.example") == {"brand": ["acme"], "audience": ["team"]}
    main(["managers", "add", "all@acme.example", "--brand", "acme", "--audience", "all", *at])
    assert _policy_of(topic, "all@acme.example") == {"brand": ["acme"]}


def test_the_template_and_the_check_agree_on_the_audience_values():
    """The filter policies template.yaml gives the e-mail parameters' subscriptions are the
    values check_sla publishes in the `audience` attribute."""
    from reply_sla.domain.notices import MANAGERS, TEAM
    from reply_sla.local.provision import load_template

    resources = load_template()["Resources"]
    policies = {
        logical_id: resource["Properties"]["FilterPolicy"]
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::SNS::Subscription" and "Subscription" in logical_id
    }
    assert {lid: p for lid, p in policies.items() if lid.startswith("Manager")} == {
        f"ManagerSubscription{i}": {"audience": [MANAGERS]} for i in range(1, 6)
    }
    assert {lid: p for lid, p in policies.items() if lid.startswith("Team")} == {
        f"TeamSubscription{i}": {"audience": [TEAM]} for i in range(1, 6)
    }

"""Local resources come from template.yaml itself, so the demo and the tests cannot drift from
what `sam deploy` ships (moto here; the store's tests also use DynamoDB Local)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reply_sla.local.provision import (
    LocalResources,
    load_template,
    provision_local,
    provision_table,
)
from tests.conftest import TEMPLATE, local_session

TABLE = load_template(TEMPLATE)["Resources"]["Table"]["Properties"]


@pytest.fixture
def session(moto_aws: None) -> Iterator[Any]:
    yield local_session()  # made inside the mock, so botocore routes to moto


@pytest.fixture
def resources(session: Any) -> LocalResources:
    return provision_local(session, parameters={"ManagerEmails": "lead@example.com,cx@example.com"})


def _by_name(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item[key]: item for item in items}


def test_table_has_the_templates_keys_indexes_and_ttl(session: Any, resources: LocalResources):
    # Given the stack provisioned locally, When the table is described
    dynamodb = session.client("dynamodb")
    table = dynamodb.describe_table(TableName=resources.table_name)["Table"]
    # Then its key schema, attributes and indexes are the template's
    assert table["KeySchema"] == TABLE["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        TABLE["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    created = _by_name(table["GlobalSecondaryIndexes"], "IndexName")
    declared = _by_name(TABLE["GlobalSecondaryIndexes"], "IndexName")
    assert set(created) == set(declared) == {"due", "week", "open"}
    for name, index in declared.items():
        assert created[name]["KeySchema"] == index["KeySchema"], name
        assert created[name]["Projection"] == index["Projection"], name
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # And expired items are dropped by the template's TTL attribute
    ttl = dynamodb.describe_time_to_live(TableName=resources.table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_topic_gets_one_email_subscription_per_manager(session: Any, resources: LocalResources):
    sns = session.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=resources.topic_arn)
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions["Subscriptions"]) == [
        ("email", "cx@example.com"),
        ("email", "lead@example.com"),
    ]


def test_no_subscription_without_manager_emails(session: Any):
    resources = provision_local(session)
    subscriptions = session.client("sns").list_subscriptions_by_topic(TopicArn=resources.topic_arn)
    assert subscriptions["Subscriptions"] == []


def test_poll_queue_redrives_to_its_dead_letter_queue(session: Any, resources: LocalResources):
    sqs = session.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=resources.poll_queue_url, AttributeNames=["All"])
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=resources.poll_dlq_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == 5
    declared = load_template(TEMPLATE)["Resources"]["PollQueue"]["Properties"]
    assert attributes["Attributes"]["VisibilityTimeout"] == str(declared["VisibilityTimeout"])


def test_bucket_expires_summaries_as_the_template_says(session: Any, resources: LocalResources):
    s3 = session.client("s3")
    rules = s3.get_bucket_lifecycle_configuration(Bucket=resources.bucket_name)["Rules"]
    summaries = next(rule for rule in rules if rule["ID"] == "ExpireSummaries")
    assert summaries["Filter"] == {"Prefix": "summaries/"}
    assert summaries["Expiration"] == {"Days": 730}
    versioning = s3.get_bucket_versioning(Bucket=resources.bucket_name)
    assert versioning["Status"] == "Enabled"


def test_environment_has_the_functions_variable_names(resources: LocalResources):
    # Given the names every deployed function gets (Powertools' own aside)
    variables = load_template(TEMPLATE)["Globals"]["Function"]["Environment"]["Variables"]
    ours = {name for name in variables if not name.startswith("POWERTOOLS_")} - {"LOG_LEVEL"}
    # Then the local stack gives the same names, with the template's defaults
    environment = resources.as_environment()
    assert set(environment) == ours
    assert environment["CONFIG_PARAMETER"] == "/replysla/config"
    assert environment["DUE_SHARDS"] == "4"
    assert environment["RETENTION_DAYS"] == "400"


def test_parameters_override_the_defaults(session: Any):
    resources = provision_local(
        session,
        parameters={"DueShards": "8", "ConfigParameterName": "/demo/config"},
        name_prefix="demo",
        with_config_parameter=True,
    )
    assert resources.table_name == "demo-table"
    assert resources.as_environment()["DUE_SHARDS"] == "8"
    value = session.client("ssm").get_parameter(Name="/demo/config")["Parameter"]["Value"]
    assert value == "brands: {}\naccounts: []\n"


def test_provisioning_twice_reuses_what_exists(session: Any, resources: LocalResources):
    assert provision_local(session, parameters={"ManagerEmails": ""}) == resources


def test_provision_table_creates_the_table_alone(session: Any):
    name = provision_table(session, None, TEMPLATE, "store-under-test")
    assert session.client("dynamodb").list_tables()["TableNames"] == ["store-under-test"]
    assert session.client("sqs").list_queues().get("QueueUrls", []) == []
    assert name == "store-under-test"


def test_short_tags_read_as_long_forms(tmp_path: Path):
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      One: !Ref B\n"
        "      Two: !GetAtt B.Arn\n"
        "      Three: !Sub '${B}-x'\n"
        "      Four: !If [C, !Select [0, !Split [',', !Join [',', [a, b]]]], !Ref AWS::NoValue]\n"
        "      Five: !Not [!Equals [a, b]]\n",
        encoding="utf-8",
    )
    properties = load_template(template)["Resources"]["A"]["Properties"]
    assert properties == {
        "One": {"Ref": "B"},
        "Two": {"Fn::GetAtt": ["B", "Arn"]},
        "Three": {"Fn::Sub": "${B}-x"},
        "Four": {
            "Fn::If": [
                "C",
                {"Fn::Select": [0, {"Fn::Split": [",", {"Fn::Join": [",", ["a", "b"]]}]}]},
                {"Ref": "AWS::NoValue"},
            ]
        },
        "Five": {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]},
    }

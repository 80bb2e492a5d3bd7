"""infra/observability.yaml, the nested stack of alarms, the alarm topic and the dashboard:
wired to the main template's resources, and to metrics the handlers really publish."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reply_sla.local.provision import apply_conditions, load_template
from tests.infra.conftest import OBSERVABILITY, ROOT

pytestmark = pytest.mark.infra

#: Custom metrics (namespace ReplySla) and the handler that publishes each, with its dimension.
PUBLISHED = {
    "MessagesIngested": ("poll_account", None),
    "TurnsOpened": ("poll_account", None),
    "IngestLag": ("poll_account", None),
    "PollErrors": ("poll_account", "channel"),
    "Escalations": ("check_sla", "level"),
    "AccountsNotPolled": ("check_sla", None),
    "PollsQueued": ("dispatch_polls", None),
}


@pytest.fixture(scope="module")
def nested() -> dict[str, Any]:
    return load_template(OBSERVABILITY)


@pytest.fixture(scope="module")
def application(sam_template: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = sam_template["Resources"]["Observability"]["Properties"]
    return properties


def _alarms(nested: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        lid: r["Properties"]
        for lid, r in nested["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def _passed(application: dict[str, Any], parameter: Any) -> Any:
    """What the main template passes for a nested parameter a property refers to."""
    assert isinstance(parameter, dict) and "Ref" in parameter, parameter
    return application["Parameters"][parameter["Ref"]]


def test_the_application_passes_every_parameter_the_nested_template_declares(
    application: dict[str, Any], nested: dict[str, Any]
) -> None:
    assert (ROOT / application["Location"]).resolve() == OBSERVABILITY.resolve()
    declared = nested["Parameters"]
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert required <= set(application["Parameters"]), required - set(application["Parameters"])
    assert set(application["Parameters"]) <= set(declared)


def test_every_dead_letter_queue_has_an_alarm_on_any_message(
    sam_template: dict[str, Any], application: dict[str, Any], nested: dict[str, Any]
) -> None:
    # Given the main template's dead-letter queues (redrive targets and DLQs of functions)
    resources = sam_template["Resources"]
    dead_letters = {
        r["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r["Properties"]
    } | {
        r["Properties"]["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
        for r in resources.values()
        if r["Type"] == "AWS::Serverless::Function" and "DeadLetterQueue" in r["Properties"]
    }
    assert dead_letters == {"PollDeadLetterQueue", "ScheduleDeadLetterQueue"}
    # Then each has an alarm at its first visible message
    watched = set()
    for alarm in _alarms(nested).values():
        if alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            (dimension,) = alarm["Dimensions"]
            queue = _passed(application, dimension["Value"])
            watched.add(queue["Fn::GetAtt"][0])
            assert alarm["Threshold"] == 1
            assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert dead_letters <= watched


def test_every_function_has_an_errors_alarm(
    sam_template: dict[str, Any], application: dict[str, Any], nested: dict[str, Any]
) -> None:
    functions = {
        lid
        for lid, r in sam_template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    watched = {
        _passed(application, alarm["Dimensions"][0]["Value"])["Ref"]
        for alarm in _alarms(nested).values()
        if alarm.get("Namespace") == "AWS/Lambda" and alarm.get("MetricName") == "Errors"
    }
    assert watched == functions


def test_a_stalled_channel_and_a_stalled_checker_raise_alarms(
    application: dict[str, Any], nested: dict[str, Any]
) -> None:
    alarms = _alarms(nested)
    not_polled = alarms["ChannelNotPolledAlarm"]
    # The checker's own metric, selected by this stack's service dimension
    assert not_polled["MetricName"] == "AccountsNotPolled"
    assert not_polled["Dimensions"] == [{"Name": "service", "Value": {"Ref": "ServiceName"}}]
    assert application["Parameters"]["ServiceName"] == {"Ref": "AWS::StackName"}
    assert not_polled["Threshold"] == 1 and not_polled["Period"] * 3 <= 900
    # check_sla not invoked for 5 minutes: no data at all breaches
    not_run = alarms["CheckSlaNotRunAlarm"]
    assert (not_run["MetricName"], not_run["Statistic"]) == ("Invocations", "Sum")
    assert not_run["Period"] * not_run["EvaluationPeriods"] == 300
    assert not_run["ComparisonOperator"] == "LessThanThreshold"
    assert not_run["TreatMissingData"] == "breaching"
    assert _passed(application, not_run["Dimensions"][0]["Value"]) == {"Ref": "CheckSlaFunction"}


def test_alarms_go_to_their_own_topic_not_the_managers(
    sam_template: dict[str, Any], application: dict[str, Any], nested: dict[str, Any]
) -> None:
    resources = nested["Resources"]
    # The alarm topic is encrypted with the stack's key when TopicKey=customer-managed, and
    # left unencrypted under the default (CloudWatch cannot use SNS's AWS managed key)
    assert application["Parameters"]["TopicKeyArn"] == {
        "Fn::If": ["UseCustomerManagedKey", {"Fn::GetAtt": ["EscalationsKey", "Arn"]}, ""]
    }
    unencrypted = apply_conditions(nested, {"TopicKeyArn": ""})["Resources"]["AlarmTopic"]
    assert "KmsMasterKeyId" not in unencrypted["Properties"]
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    encrypted = apply_conditions(nested, {"TopicKeyArn": key_arn})["Resources"]["AlarmTopic"]
    assert encrypted["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicKeyArn"}
    # The shared key lets CloudWatch (of this account) encrypt for the alarm topic
    key_statements = sam_template["Resources"]["EscalationsKey"]["Properties"]["KeyPolicy"][
        "Statement"
    ]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in key_statements)
    statements = resources["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allow] == [{"Service": "cloudwatch.amazonaws.com"}]
    assert allow[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in str(s) for s in statements)
    for logical_id, alarm in _alarms(nested).items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert "docs/operations.md" in alarm["AlarmDescription"], logical_id


def _handler_source(name: str) -> str:
    return (ROOT / "functions" / name / "handler.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("metric", sorted(PUBLISHED))
def test_each_custom_metric_is_published_by_its_handler(metric: str) -> None:
    handler, dimension = PUBLISHED[metric]
    source = _handler_source(handler)
    assert re.search(rf'name="{metric}"', source), f"{handler} does not publish {metric}"
    if dimension:
        assert f'dimension="{dimension}"' in source, f"{handler}: {metric} lacks its {dimension}"


def test_the_dashboard_is_valid_json_and_shows_the_published_metrics(
    nested: dict[str, Any],
) -> None:
    text, variables = nested["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    # Every ${...} is a parameter, a pseudo parameter or a listed variable
    names = set(re.findall(r"\$\{([^}]+)\}", text))
    assert names <= set(nested["Parameters"]) | set(variables) | {"AWS::Region"}
    body = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))
    shown = json.dumps(body)
    for metric in ("MessagesIngested", "TurnsOpened", "Escalations", "PollErrors", "IngestLag"):
        assert metric in shown, metric
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(_alarms(nested))


def test_docs_explain_every_alarm(nested: dict[str, Any]) -> None:
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for logical_id in _alarms(nested):
        topic = logical_id.removesuffix("Alarm")
        if topic.endswith("Errors"):
            topic = "FunctionErrors"
        assert f"### {topic}" in operations, f"docs/operations.md says nothing of {logical_id}"


def test_infra_readme_names_the_nested_template() -> None:
    readme = Path(ROOT / "infra" / "README.md").read_text(encoding="utf-8")
    assert "observability.yaml" in readme

"""What the template promises the code and the operators, read from its translation: least
privilege per function, schedules that fail loudly, and the names the code relies on."""

from __future__ import annotations

import zoneinfo
from typing import Any

import pytest

from reply_sla.local.provision import translate_template
from tests.infra.conftest import TEMPLATE

pytestmark = pytest.mark.infra

#: Actions IAM cannot scope to a resource; none is used today. A new entry needs its reason.
ACTIONS_WITHOUT_RESOURCES: dict[str, str] = {}

#: AWS managed policies SAM attaches on its own; their statements are AWS's, not ours.
ACCEPTED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "SAM attaches it to "
    "every function role it makes: logs:CreateLogStream and logs:PutLogEvents, which the "
    "functions need for their log groups",
}

#: The environment every function gets, by name; reply_sla.settings reads these.
ENVIRONMENT = {
    "TABLE_NAME",
    "TOPIC_ARN",
    "POLL_QUEUE_URL",
    "BUCKET_NAME",
    "CONFIG_PARAMETER",
    "DUE_SHARDS",
    "RETENTION_DAYS",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "LOG_LEVEL",
}

#: The store queries these indexes by name; each is keyed by <name>_pk.
INDEXES = {"due", "week", "open"}


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == type_}


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        found.extend(statements if isinstance(statements, list) else [statements])
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_iam_statement_names_its_resources(translated: dict[str, Any]) -> None:
    # Given every IAM role the translated template creates (functions' and schedules')
    roles = _of_type(translated, "AWS::IAM::Role")
    assert roles
    unscoped = []
    for logical_id, role in roles.items():
        for statement in _statements(role):
            resources = _as_list(statement.get("Resource", []))
            actions = _as_list(statement.get("Action", []))
            # Then no Allow statement grants on "*" unless IAM admits nothing narrower
            if statement.get("Effect") == "Allow" and any(r == "*" for r in resources):
                extra = [a for a in actions if a not in ACTIONS_WITHOUT_RESOURCES]
                if extra:
                    unscoped.append(f"{logical_id}: {extra} on '*'")
            assert "NotResource" not in statement, f"{logical_id} uses NotResource"
            assert all(a != "*" and not str(a).endswith(":*") for a in actions), (
                f"{logical_id} allows every action of a service: {actions}"
            )
    assert not unscoped, "statements on '*':\n" + "\n".join(unscoped)


def test_roles_attach_no_managed_policy_beyond_basic_execution(
    translated: dict[str, Any],
) -> None:
    for logical_id, role in _of_type(translated, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert arn in ACCEPTED_MANAGED_POLICIES, f"{logical_id} attaches {arn}"


def test_every_function_has_a_role_of_its_own(translated: dict[str, Any]) -> None:
    # Given the functions of the translated template
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert len(functions) == 4
    roles = {}
    for logical_id, function in functions.items():
        role = function["Properties"]["Role"]
        # Then each names a role of this template by GetAtt, and no two share one
        assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{logical_id} role: {role}"
        roles[logical_id] = role["Fn::GetAtt"][0]
        assert translated["Resources"][roles[logical_id]]["Type"] == "AWS::IAM::Role"
    assert len(set(roles.values())) == len(roles), f"shared roles: {roles}"


def test_schedules_have_valid_time_zones_and_fail_loudly(sam_template: dict[str, Any]) -> None:
    # Given the translated schedules, with the SummaryTimezone parameter set to a real zone
    translated = translate_template(sam_template, {"SummaryTimezone": "Europe/Madrid"})
    schedules = _of_type(translated, "AWS::Scheduler::Schedule")
    assert len(schedules) == 3
    default_zone = sam_template["Parameters"]["SummaryTimezone"]["Default"]
    zoneinfo.ZoneInfo(default_zone)
    for logical_id, schedule in schedules.items():
        properties = schedule["Properties"]
        zone = properties.get("ScheduleExpressionTimezone")
        # Then a time zone, where given, is an IANA name (a Ref resolves to the parameter)
        if isinstance(zone, dict):
            assert zone == {"Ref": "SummaryTimezone"}, logical_id
        elif zone is not None:
            zoneinfo.ZoneInfo(zone)
        # And every schedule is exact, retries on purpose and keeps what it cannot deliver
        assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}, logical_id
        # And CloudFormation names it, so a second stack in the account does not collide
        assert "Name" not in properties, logical_id
        target = properties["Target"]
        assert {"MaximumEventAgeInSeconds", "MaximumRetryAttempts"} <= set(target["RetryPolicy"]), (
            logical_id
        )
        assert target["DeadLetterConfig"]["Arn"] == {
            "Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]
        }, logical_id
        assert "<aws.scheduler.scheduled-time>" in target["Input"], logical_id


def test_functions_get_the_environment_the_code_reads(sam_template: dict[str, Any]) -> None:
    # Given the environment every function gets from Globals
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    # Then it is exactly the agreed list of names
    assert set(variables) == ENVIRONMENT
    # And reply_sla.settings reads each of the product's own (Powertools reads its own)
    settings = pytest.importorskip("reply_sla.settings")
    aliases = {field.alias for field in settings.Settings.model_fields.values() if field.alias}
    ours = {name for name in ENVIRONMENT if not name.startswith("POWERTOOLS_")} - {"LOG_LEVEL"}
    assert ours <= aliases, f"not read by reply_sla.settings: {sorted(ours - aliases)}"


def test_table_keys_and_indexes_are_the_ones_the_store_uses(
    sam_template: dict[str, Any],
) -> None:
    table = sam_template["Resources"]["Table"]["Properties"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["TimeToLiveSpecification"]["AttributeName"] == "expires_at"
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == INDEXES
    defined = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for name, index in indexes.items():
        assert index["Projection"] == {"ProjectionType": "ALL"}, name
        keys = [k["AttributeName"] for k in index["KeySchema"]]
        assert keys[0] == f"{name}_pk", name
        assert all(defined.get(key) == "S" for key in keys), name
    # Only attributes used by a key may be defined (CloudFormation refuses the others)
    used = {k["AttributeName"] for k in table["KeySchema"]} | {
        k["AttributeName"] for index in indexes.values() for k in index["KeySchema"]
    }
    assert set(defined) == used


def test_poll_queue_outlasts_six_poll_timeouts(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    timeout = resources["PollAccountFunction"]["Properties"].get(
        "Timeout", sam_template["Globals"]["Function"]["Timeout"]
    )
    queue = resources["PollQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5


def test_template_path_is_the_repository_root() -> None:
    from reply_sla.local.provision import DEFAULT_TEMPLATE_PATH

    assert DEFAULT_TEMPLATE_PATH == TEMPLATE

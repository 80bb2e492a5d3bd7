"""What the template promises the code and the operators, read from its translation: least
privilege per function, asynchronous runs that fail loudly, data that survives, and the names
the code relies on."""

from __future__ import annotations

import json
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

_PARAMETER = (
    "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${ConfigParameterName}"
)
_TOPIC = "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${EscalationsTopic.TopicName}"
_CHANNEL_SECRETS = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
    "${ChannelSecretsPrefix}*"
)

#: Every role's grants, action -> resources: the least-privilege proof. Each line is what the
#: function's code calls (tests/integration/test_deploy_moto.py checks the calls against these
#: actions); widening one is a decision to make here, in review.
GRANTS: dict[str, dict[str, list[str]]] = {
    "DispatchPollsFunctionRole": {
        "dynamodb:BatchGetItem": ["Table.Arn"],
        "sqs:SendMessage": ["ScheduleDeadLetterQueue.Arn"],
        "sqs:SendMessage*": [
            "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${PollQueue.QueueName}"
        ],
        "ssm:GetParameter": [_PARAMETER],
    },
    "PollAccountFunctionRole": {
        "dynamodb:BatchGetItem": ["Table.Arn"],
        "dynamodb:ConditionCheckItem": ["Table.Arn"],
        "dynamodb:GetItem": ["Table.Arn"],
        "dynamodb:PutItem": ["Table.Arn"],
        "dynamodb:UpdateItem": ["Table.Arn"],
        "secretsmanager:GetSecretValue": [_CHANNEL_SECRETS],
        "sqs:ChangeMessageVisibility": ["PollQueue.Arn"],
        "sqs:DeleteMessage": ["PollQueue.Arn"],
        "sqs:GetQueueAttributes": ["PollQueue.Arn"],
        "sqs:ReceiveMessage": ["PollQueue.Arn"],
        "ssm:GetParameter": [_PARAMETER],
    },
    "CheckSlaFunctionRole": {
        "dynamodb:BatchGetItem": ["Table.Arn"],
        "dynamodb:GetItem": ["Table.Arn"],
        "dynamodb:PutItem": ["Table.Arn"],
        "dynamodb:Query": ["${Table.Arn}/index/due", "${Table.Arn}/index/open", "Table.Arn"],
        "dynamodb:UpdateItem": ["Table.Arn"],
        "secretsmanager:GetSecretValue": ["ActionSigningKey"],
        "sns:Publish": [_TOPIC],
        "sqs:SendMessage": ["ScheduleDeadLetterQueue.Arn"],
        "ssm:GetParameter": [_PARAMETER],
    },
    "WeeklySummaryFunctionRole": {
        "dynamodb:BatchWriteItem": ["Table.Arn"],
        "dynamodb:GetItem": ["Table.Arn"],
        "dynamodb:Query": ["${Table.Arn}/index/week", "Table.Arn"],
        "s3:GetObject": ["${SummariesBucket.Arn}/summaries/*"],
        "s3:PutObject": ["${SummariesBucket.Arn}/summaries/*"],
        "sns:Publish": [_TOPIC],
        "sqs:SendMessage": ["ScheduleDeadLetterQueue.Arn"],
        "ssm:GetParameter": [_PARAMETER],
    },
    "TurnActionFunctionRole": {
        "dynamodb:ConditionCheckItem": ["Table.Arn"],
        "dynamodb:GetItem": ["Table.Arn"],
        "dynamodb:PutItem": ["Table.Arn"],
        "dynamodb:UpdateItem": ["Table.Arn"],
        "secretsmanager:GetSecretValue": ["ActionSigningKey"],
        "ssm:GetParameter": [_PARAMETER],
    },
    # The schedules' execution roles: invoke their function, dead-letter what they cannot.
    **{
        f"{name}Function{event}Role": {
            "lambda:InvokeFunction": [f"{name}Function.Arn"],
            "sqs:SendMessage": ["ScheduleDeadLetterQueue.Arn"],
        }
        for name, event in (
            ("DispatchPolls", "EveryMinute"),
            ("CheckSla", "EveryMinute"),
            ("WeeklySummary", "WeeklyMonday"),
        )
    },
}

#: With TopicKey=customer-managed, the publishers also use the stack's key (SNS's AWS managed
#: key, the default, grants that to the account's principals itself).
OWN_KEY_GRANTS = {
    role: {"kms:Decrypt": ["EscalationsKey.Arn"], "kms:GenerateDataKey*": ["EscalationsKey.Arn"]}
    for role in ("CheckSlaFunctionRole", "WeeklySummaryFunctionRole")
}

#: Functions invoked asynchronously (by EventBridge Scheduler); each keeps what fails.
ASYNC_FUNCTIONS = {"DispatchPollsFunction", "CheckSlaFunction", "WeeklySummaryFunction"}


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


def _resource_name(value: Any) -> str:
    """A resource reference as text: GetAtt X.Y, Ref X, or the Sub string with its variables."""
    if isinstance(value, str):
        return value
    if "Fn::GetAtt" in value:
        return ".".join(value["Fn::GetAtt"])
    if "Ref" in value:
        return str(value["Ref"])
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        if isinstance(sub, list):
            text, variables = sub
            for key, variable in variables.items():
                text = text.replace("${" + key + "}", "${" + _resource_name(variable) + "}")
            return str(text)
        return str(sub)
    return json.dumps(value, sort_keys=True)


def grants(role: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for statement in _statements(role):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement["Action"]):
            found.setdefault(action, set()).update(
                _resource_name(r) for r in _as_list(statement["Resource"])
            )
    return {action: sorted(resources) for action, resources in sorted(found.items())}


@pytest.mark.parametrize("own_key", [False, True], ids=["aws-managed-key", "customer-managed-key"])
def test_every_role_grants_exactly_the_reviewed_actions_on_the_reviewed_resources(
    deployed: dict[str, Any], deployed_with_own_key: dict[str, Any], own_key: bool
) -> None:
    # Given every IAM role of the translated template, as deployed with either topic key
    roles = _of_type(deployed_with_own_key if own_key else deployed, "AWS::IAM::Role")
    # Then the roles are the reviewed ones, and each grants exactly the reviewed pairs
    assert set(roles) == set(GRANTS)
    for logical_id, role in roles.items():
        expected = {**GRANTS[logical_id], **(OWN_KEY_GRANTS.get(logical_id, {}) if own_key else {})}
        assert grants(role) == {a: sorted(r) for a, r in expected.items()}, logical_id


@pytest.mark.parametrize("own_key", [False, True], ids=["aws-managed-key", "customer-managed-key"])
def test_every_iam_statement_names_its_resources(
    deployed: dict[str, Any], deployed_with_own_key: dict[str, Any], own_key: bool
) -> None:
    # Given every IAM role the translated template creates (functions' and schedules')
    roles = _of_type(deployed_with_own_key if own_key else deployed, "AWS::IAM::Role")
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
            assert "NotAction" not in statement, f"{logical_id} uses NotAction"
            assert all(a != "*" and not str(a).endswith(":*") for a in actions), (
                f"{logical_id} allows every action of a service: {actions}"
            )
    assert not unscoped, "statements on '*':\n" + "\n".join(unscoped)


def test_resource_policies_grant_to_services_of_this_account_only(
    sam_template: dict[str, Any],
) -> None:
    # Given the key policy (its Resource "*" is the key itself) and the resource policies
    key = sam_template["Resources"]["EscalationsKey"]["Properties"]["KeyPolicy"]
    for statement in key["Statement"]:
        principal = statement["Principal"]
        # Then a service may use the key only on behalf of this account
        if "Service" in principal:
            assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {
                "Ref": "AWS::AccountId"
            }, statement["Sid"]
            assert set(statement["Action"]) <= {"kms:GenerateDataKey*", "kms:Decrypt"}
        else:
            assert principal == {
                "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            }


def test_roles_attach_no_managed_policy_beyond_basic_execution(
    translated: dict[str, Any],
) -> None:
    for logical_id, role in _of_type(translated, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            assert arn in ACCEPTED_MANAGED_POLICIES, f"{logical_id} attaches {arn}"


def test_every_function_has_a_role_of_its_own(translated: dict[str, Any]) -> None:
    # Given the functions of the translated template
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert len(functions) == 5
    roles = {}
    for logical_id, function in functions.items():
        role = function["Properties"]["Role"]
        # Then each names a role of this template by GetAtt, and no two share one
        assert isinstance(role, dict) and "Fn::GetAtt" in role, f"{logical_id} role: {role}"
        roles[logical_id] = role["Fn::GetAtt"][0]
        assert translated["Resources"][roles[logical_id]]["Type"] == "AWS::IAM::Role"
    assert len(set(roles.values())) == len(roles), f"shared roles: {roles}"


def test_asynchronous_runs_retry_on_purpose_and_keep_what_fails(
    translated: dict[str, Any],
) -> None:
    functions = _of_type(translated, "AWS::Lambda::Function")
    configs = {
        c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
        for c in _of_type(translated, "AWS::Lambda::EventInvokeConfig").values()
    }
    for logical_id in ASYNC_FUNCTIONS:
        # Given a function the scheduler invokes asynchronously
        properties = functions[logical_id]["Properties"]
        # Then its retries are set, and a failure lands in a dead-letter queue or destination
        assert "MaximumRetryAttempts" in configs[logical_id], logical_id
        failure = configs[logical_id].get("DestinationConfig", {}).get("OnFailure")
        dead_letter = properties.get("DeadLetterConfig", {}).get("TargetArn")
        assert failure or dead_letter == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    # And the per-minute ticks drop a retry older than the next tick
    for logical_id in ("DispatchPollsFunction", "CheckSlaFunction"):
        assert configs[logical_id]["MaximumEventAgeInSeconds"] == 60
        assert configs[logical_id]["MaximumRetryAttempts"] == 0


def test_polls_are_capped_and_retried_through_their_queue(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    mapping = resources["PollAccountFunctionPollRequests"]["Properties"]
    # The event source starts at most MaxConcurrentPolls polls at once, reports partial failures
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "MaxConcurrentPolls"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # And a poll request failing 5 times moves to its dead-letter queue
    redrive = resources["PollQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["PollDeadLetterQueue", "Arn"]}


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


def test_the_table_survives_mistakes(sam_template: dict[str, Any]) -> None:
    table = sam_template["Resources"]["Table"]
    properties = table["Properties"]
    # Point-in-time recovery, deletion protection, kept when the stack goes or replaces it
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    # And messages expire through TTL after RetentionDays (default 400: a year of weeks)
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert sam_template["Parameters"]["RetentionDays"]["Default"] == 400


def test_summaries_are_private_encrypted_tls_only_and_kept_two_years(
    sam_template: dict[str, Any],
) -> None:
    resources = sam_template["Resources"]
    bucket = resources["SummariesBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = {r["Id"]: r for r in properties["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireSummaries"]["ExpirationInDays"] == 730
    assert rules["ExpireSummaries"]["Prefix"] == "summaries/"
    statement = resources["SummariesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize(
    ("topic", "policy"),
    [("EscalationsTopic", "EscalationsTopicPolicy")],
)
def test_topics_are_encrypted_with_the_key_and_tls_only(
    deployed: dict[str, Any], deployed_with_own_key: dict[str, Any], topic: str, policy: str
) -> None:
    # By default SNS's AWS managed key (no monthly fee); on request the stack's own key
    assert deployed["Resources"][topic]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert "EscalationsKey" not in deployed["Resources"]
    own = deployed_with_own_key["Resources"]
    assert own[topic]["Properties"]["KmsMasterKeyId"] == {"Ref": "EscalationsKey"}
    assert own["EscalationsKey"]["Properties"]["EnableKeyRotation"] is True
    statements = deployed["Resources"][policy]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_every_queue_is_encrypted_and_tls_only(sam_template: dict[str, Any]) -> None:
    resources = sam_template["Resources"]
    queues = {lid for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    for logical_id in queues:
        assert resources[logical_id]["Properties"]["SqsManagedSseEnabled"] is True
    policy = resources["QueuesPolicy"]["Properties"]
    assert {q["Ref"] for q in policy["Queues"]} == queues
    assert policy["PolicyDocument"]["Statement"][0]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_every_function_logs_to_its_own_group_with_a_retention(
    sam_template: dict[str, Any],
) -> None:
    resources = sam_template["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        group = resource["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Type"] == "AWS::Logs::LogGroup", logical_id
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_turn_action_is_an_http_api_with_its_key_and_narrow_grants(
    sam_template: dict[str, Any],
) -> None:
    resources = sam_template["Resources"]
    function = resources["TurnActionFunction"]["Properties"]
    assert (function["CodeUri"], function["Handler"]) == (
        "functions/turn_action/",
        "handler.handler",
    )
    events = {
        (e["Properties"]["Method"], e["Properties"]["Path"]): e["Properties"]["ApiId"]
        for e in function["Events"].values()
        if e["Type"] == "HttpApi"
    }
    assert events == {("GET", "/act"): {"Ref": "ActionApi"}, ("POST", "/act"): {"Ref": "ActionApi"}}
    assert function["Environment"]["Variables"] == {
        "ACTION_KEY_SECRET_ARN": {"Ref": "ActionSigningKey"}
    }
    api = resources["ActionApi"]["Properties"]
    assert api["DefaultRouteSettings"]["ThrottlingRateLimit"] <= 50
    assert "$context.path" in api["AccessLogSettings"]["Format"]
    assert "querystring" not in api["AccessLogSettings"]["Format"].lower()
    # The signing key: Secrets Manager's random letters and digits in the keyring's JSON
    generate = resources["ActionSigningKey"]["Properties"]["GenerateSecretString"]
    assert generate["PasswordLength"] == 64 and generate["ExcludePunctuation"] is True
    assert json.loads(generate["SecretStringTemplate"]) == {"kid": "k1"}
    assert generate["GenerateStringKey"] == "key"
    # And the checker signs links to the API with the same key
    check = resources["CheckSlaFunction"]["Properties"]["Environment"]["Variables"]
    assert check["ACTION_KEY_SECRET_ARN"] == {"Ref": "ActionSigningKey"}
    assert check["ACTION_URL"] == {
        "Fn::Sub": "https://${ActionApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/act"
    }


def test_functions_get_the_environment_the_code_reads(sam_template: dict[str, Any]) -> None:
    # Given the environment every function gets from Globals
    variables = sam_template["Globals"]["Function"]["Environment"]["Variables"]
    # Then it is exactly the agreed list of names
    assert set(variables) == ENVIRONMENT
    # And the metrics' service dimension is the stack's name, which the alarms select
    assert variables["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}
    # And reply_sla.settings reads each of the product's own (Powertools reads its own)
    from reply_sla import settings

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


def test_outputs_name_what_the_operator_commands_read(sam_template: dict[str, Any]) -> None:
    from reply_sla.cli.ops_commands import CONFIG_OUTPUT, SECRETS_PREFIX_OUTPUT

    outputs = sam_template["Outputs"]
    for key in ("TableName", "TopicArn", "BucketName", CONFIG_OUTPUT, SECRETS_PREFIX_OUTPUT):
        assert key in outputs, key
    assert outputs["AlarmTopicArn"]["Value"] == {
        "Fn::GetAtt": ["Observability", "Outputs.AlarmTopicArn"]
    }


def test_template_path_is_the_repository_root() -> None:
    from reply_sla.local.provision import DEFAULT_TEMPLATE_PATH

    assert DEFAULT_TEMPLATE_PATH == TEMPLATE

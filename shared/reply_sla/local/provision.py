"""Local copies of the stack's table, topic, queues and bucket, built from template.yaml itself.

The template is translated offline with aws-sam-translator (a development dependency), so the
resources the demo and the tests use are the ones `sam deploy` ships: same key schema, same
indexes, same TTL attribute, same redrive policy. Only the services' endpoint differs (moto or
DynamoDB Local, chosen by the caller).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import yaml

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The repository's template.yaml (shared/reply_sla/local/provision.py -> repository root).
DEFAULT_TEMPLATE_PATH = Path(__file__).resolve().parents[3] / "template.yaml"
DEFAULT_PREFIX = "replysla"
#: Offline translation needs a region for ARNs; the values never reach AWS.
TRANSLATION_REGION = "us-east-1"
_TRANSLATION_ACCOUNT = "123456789012"

_SHORT_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "If": "Fn::If",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Join": "Fn::Join",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "Cidr": "Fn::Cidr",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Length": "Fn::Length",
    "ToJsonString": "Fn::ToJsonString",
    "Transform": "Fn::Transform",
}


class TemplateError(Exception):
    """The template lacks something local provisioning needs, or a tool to read it is missing."""


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation's short tags (!Ref, !Sub, ...) as their long forms."""


def _construct_short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = _SHORT_TAGS.get(tag_suffix)
    if name is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            # !GetAtt Resource.Attribute; the attribute itself may contain dots.
            resource, _, attribute = str(value).partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_short_tag)


def load_template(path: Path | str = DEFAULT_TEMPLATE_PATH) -> dict[str, Any]:
    """Read a CloudFormation/SAM YAML (or JSON) template, short tags turned into long forms."""
    with Path(path).open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)  # a SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


def translate_template(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Expand the SAM resources into plain CloudFormation, offline.

    `parameters` overrides the template's parameter defaults. Local code locations (CodeUri,
    ContentUri) become placeholder S3 URIs, as `sam package` would make them; managed policies
    are never looked up in IAM.
    """
    try:
        from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TemplateError(
            "aws-sam-translator is needed to read template.yaml locally: "
            "pip install -e '.[dev]' (or `make install`)"
        ) from exc

    sam_template = copy.deepcopy(dict(template))
    for logical_id, resource in sam_template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = f"s3://replysla-local-artifacts/{logical_id}.zip"
        # A nested application's local template (infra/...), uploaded by `sam package` too.
        location = properties.get("Location")
        if (
            resource.get("Type") == "AWS::Serverless::Application"
            and isinstance(location, str)
            and not location.startswith(("s3://", "https://"))
        ):
            properties["Location"] = (
                f"https://replysla-local-artifacts.s3.amazonaws.com/{logical_id}.yaml"
            )

    session = boto3.session.Session(
        region_name=TRANSLATION_REGION,
        aws_access_key_id="offline",
        aws_secret_access_key="offline",  # never sent anywhere
    )
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(
        managed_policy_map={}, sam_parser=Parser(), boto_session=session, metrics=metrics
    )
    values: dict[str, Any] = {"AWS::AccountId": _TRANSLATION_ACCOUNT}
    values.update(parameters or {})
    try:
        translated: dict[str, Any] = translator.translate(
            sam_template,
            parameter_values=values,
            get_managed_policy_map=lambda: {},  # no IAM lookup: no managed policy is named
        )
    except InvalidDocumentException as exc:
        causes = "; ".join(cause.message for cause in exc.causes)
        raise TemplateError(f"the SAM template does not translate: {causes}") from exc
    # Published to nowhere; otherwise the translator warns about unpublished metrics at exit.
    metrics.publish()
    # The translator returns its own str subclasses in places; JSON round trip makes plain data.
    plain: dict[str, Any] = json.loads(json.dumps(translated))
    return plain


def _translated(template_path: Path | str, parameters: Mapping[str, str] | None) -> dict[str, Any]:
    """translate_template(load_template(path)), remembered while the file is unchanged."""
    path = Path(template_path).resolve()
    key = (str(path), path.stat().st_mtime_ns, tuple(sorted((parameters or {}).items())))
    translated: dict[str, Any] = json.loads(_translated_json(*key))  # a fresh copy each call
    return translated


@functools.lru_cache(maxsize=8)
def _translated_json(path: str, _mtime_ns: int, parameters: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(translate_template(load_template(path), dict(parameters)))


@dataclass(frozen=True)
class LocalResources:
    """What `provision_local` made, and the environment the functions need to use it."""

    table_name: str
    topic_arn: str
    poll_queue_url: str
    poll_dlq_url: str
    bucket_name: str
    config_parameter_name: str
    schedule_dlq_url: str = ""
    due_shards: int = 4
    retention_days: int = 400

    def as_environment(self) -> dict[str, str]:
        """The variables template.yaml gives every function (Globals.Function.Environment)."""
        return {
            "TABLE_NAME": self.table_name,
            "TOPIC_ARN": self.topic_arn,
            "POLL_QUEUE_URL": self.poll_queue_url,
            "BUCKET_NAME": self.bucket_name,
            "CONFIG_PARAMETER": self.config_parameter_name,
            "DUE_SHARDS": str(self.due_shards),
            "RETENTION_DAYS": str(self.retention_days),
        }


def provision_table(
    session: boto3.session.Session,
    endpoint_url: str | None = None,
    template_path: Path | str = DEFAULT_TEMPLATE_PATH,
    table_name: str = f"{DEFAULT_PREFIX}-table",
    *,
    logical_id: str = "Table",
) -> str:
    """Create only the template's DynamoDB table (for the store's tests); returns its name."""
    translated = _translated(template_path, None)
    resource = _resource(translated, logical_id, "AWS::DynamoDB::Table")
    client = session.client("dynamodb", endpoint_url=endpoint_url)
    _create_table(client, table_name, resource.get("Properties") or {})
    return table_name


def provision_local(
    session: boto3.session.Session,
    endpoint_url: str | None = None,
    template_path: Path | str = DEFAULT_TEMPLATE_PATH,
    parameters: Mapping[str, str] | None = None,
    *,
    name_prefix: str = DEFAULT_PREFIX,
    with_config_parameter: bool = False,
) -> LocalResources:
    """Create the template's table, topic, queues and bucket wherever `endpoint_url` points.

    Names are `<name_prefix>-<logical id in lower case>`. Resource types with no local use
    (functions, roles, schedules, KMS keys, policies, log groups) are skipped. Calling it
    twice against the same endpoint reuses what exists. `with_config_parameter` also creates
    the SSM configuration parameter with the template's placeholder value.
    """
    translated = _translated(template_path, parameters)
    resolver = _Resolver(translated, parameters or {})
    resources: dict[str, dict[str, Any]] = translated["Resources"]

    def name_of(logical_id: str) -> str:
        return f"{name_prefix}-{logical_id.lower()}"

    created: dict[str, str] = {}
    for logical_id, resource in _of_type(resources, "AWS::DynamoDB::Table"):
        if resolver.active(resource):
            dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
            _create_table(dynamodb, name_of(logical_id), resource.get("Properties") or {})
            resolver.refs[logical_id] = name_of(logical_id)
            created[logical_id] = name_of(logical_id)

    sns = session.client("sns", endpoint_url=endpoint_url)
    for logical_id, resource in _of_type(resources, "AWS::SNS::Topic"):
        if not resolver.active(resource):
            continue
        topic_arn = sns.create_topic(Name=name_of(logical_id))["TopicArn"]
        resolver.refs[logical_id] = topic_arn
        resolver.attributes[(logical_id, "TopicArn")] = topic_arn
        resolver.attributes[(logical_id, "TopicName")] = name_of(logical_id)
        for subscription in (resource.get("Properties") or {}).get("Subscription") or []:
            item = resolver.resolve(subscription)
            if isinstance(item, dict) and item:
                _subscribe(sns, topic_arn, str(item["Protocol"]), str(item["Endpoint"]))
    for _, resource in _of_type(resources, "AWS::SNS::Subscription"):
        if not resolver.active(resource):
            continue
        properties = resolver.resolve(
            _picked(resource, ("TopicArn", "Protocol", "Endpoint", "FilterPolicy"))
        )
        _subscribe(
            sns,
            str(properties["TopicArn"]),
            str(properties["Protocol"]),
            str(properties["Endpoint"]),
            properties.get("FilterPolicy"),
        )

    sqs = session.client("sqs", endpoint_url=endpoint_url)
    queues = [(lid, res) for lid, res in _of_type(resources, "AWS::SQS::Queue")]
    # Dead-letter queues first, so a redrive policy can name the ARN of one that exists.
    queues.sort(key=lambda pair: "RedrivePolicy" in (pair[1].get("Properties") or {}))
    for logical_id, resource in queues:
        if not resolver.active(resource):
            continue
        properties = _picked(resource, (*_QUEUE_ATTRIBUTES, "RedrivePolicy"))
        # Any: the stubs want attribute names as literals; these come from the template.
        attributes: Any = _queue_attributes(resolver.resolve(properties))
        url = sqs.create_queue(QueueName=name_of(logical_id), Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        resolver.refs[logical_id] = url
        resolver.attributes[(logical_id, "Arn")] = arn
        resolver.attributes[(logical_id, "QueueName")] = name_of(logical_id)
        resolver.attributes[(logical_id, "QueueUrl")] = url

    s3 = session.client("s3", endpoint_url=endpoint_url)
    region = session.region_name or TRANSLATION_REGION
    for logical_id, resource in _of_type(resources, "AWS::S3::Bucket"):
        if not resolver.active(resource):
            continue
        properties = resolver.resolve(
            _picked(resource, ("BucketName", "VersioningConfiguration", "LifecycleConfiguration"))
        )
        bucket = str(properties.get("BucketName") or name_of(logical_id))
        _create_bucket(s3, bucket, region)
        if (properties.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        rules = (properties.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rules:
            lifecycle: Any = {"Rules": [_lifecycle_rule(rule) for rule in rules]}
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=lifecycle)
        resolver.refs[logical_id] = bucket

    config_parameter_name = ""
    for _, resource in _of_type(resources, "AWS::SSM::Parameter"):
        if not resolver.active(resource):
            continue
        properties = resolver.resolve(_picked(resource, ("Name", "Value")))
        config_parameter_name = str(properties.get("Name", ""))
        if with_config_parameter and config_parameter_name:
            ssm = session.client("ssm", endpoint_url=endpoint_url)
            ssm.put_parameter(
                Name=config_parameter_name,
                Value=str(properties.get("Value", "")),
                Type="String",
                Overwrite=True,
            )

    def ref(logical_id: str) -> str:
        if logical_id not in resolver.refs:
            raise TemplateError(f"the template has no {logical_id} resource to provision locally")
        return str(resolver.refs[logical_id])

    return LocalResources(
        table_name=ref("Table"),
        topic_arn=ref("EscalationsTopic"),
        poll_queue_url=ref("PollQueue"),
        poll_dlq_url=ref("PollDeadLetterQueue"),
        bucket_name=ref("SummariesBucket"),
        config_parameter_name=config_parameter_name
        or str(resolver.parameter("ConfigParameterName")),
        schedule_dlq_url=str(resolver.refs.get("ScheduleDeadLetterQueue", "")),
        due_shards=int(str(resolver.parameter("DueShards"))),
        retention_days=int(str(resolver.parameter("RetentionDays"))),
    )


# ----------------------------------------------------------------------------- resources


def _resource(template: Mapping[str, Any], logical_id: str, type_: str) -> dict[str, Any]:
    resource = template.get("Resources", {}).get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != type_:
        raise TemplateError(f"the template has no {type_} named {logical_id}")
    return resource


def _picked(resource: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The properties local provisioning uses; the rest may name resources made only in AWS."""
    properties = resource.get("Properties") or {}
    return {key: properties[key] for key in keys if key in properties}


def _of_type(resources: Mapping[str, Any], type_: str) -> list[tuple[str, dict[str, Any]]]:
    return [(lid, res) for lid, res in resources.items() if res.get("Type") == type_]


def _create_table(client: DynamoDBClient, table_name: str, properties: Mapping[str, Any]) -> None:
    """create_table from the CloudFormation properties, then TTL; an existing table is kept."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": properties.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = properties["ProvisionedThroughput"]
    indexes = [
        {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
        | (
            {"ProvisionedThroughput": index["ProvisionedThroughput"]}
            if "ProvisionedThroughput" in index
            else {}
        )
        for index in properties.get("GlobalSecondaryIndexes") or []
    ]
    if indexes:
        request["GlobalSecondaryIndexes"] = indexes
    local_indexes = properties.get("LocalSecondaryIndexes") or []
    if local_indexes:
        request["LocalSecondaryIndexes"] = local_indexes
    try:
        client.create_table(**request)
    except client.exceptions.ResourceInUseException:
        return
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled", True):
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )


def _subscribe(sns: Any, topic_arn: str, protocol: str, endpoint: str, policy: Any = None) -> None:
    """Subscribe, with the template's filter policy on message attributes when it has one."""
    attributes = (
        {"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageAttributes"}
        if policy
        else {}
    )
    sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes)


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
)


def _queue_attributes(properties: Mapping[str, Any]) -> dict[str, str]:
    """SQS attributes (all strings) from queue properties; encryption settings have no local use."""
    attributes = {key: str(properties[key]) for key in _QUEUE_ATTRIBUTES if key in properties}
    redrive = properties.get("RedrivePolicy")
    if redrive:
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": redrive["deadLetterTargetArn"],
                "maxReceiveCount": int(redrive["maxReceiveCount"]),
            }
        )
    return attributes


def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    request: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**request)


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule in the shape of the S3 API."""
    converted: dict[str, Any] = {"Status": rule.get("Status", "Enabled")}
    if "Id" in rule:
        converted["ID"] = rule["Id"]
    prefix = rule.get("Prefix", (rule.get("Filter") or {}).get("Prefix", ""))
    converted["Filter"] = {"Prefix": prefix}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    noncurrent = rule.get("NoncurrentVersionExpiration")
    if noncurrent:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(noncurrent["NoncurrentDays"])
        }
    elif "NoncurrentVersionExpirationInDays" in rule:
        converted["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])
        }
    abort = rule.get("AbortIncompleteMultipartUpload")
    if abort:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(abort["DaysAfterInitiation"])
        }
    return converted


# ----------------------------------------------------------------------------- intrinsics

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


class _Resolver:
    """Evaluates the few intrinsic functions local provisioning meets, against local values.

    Refs to resources resolve to what was created so far; pseudo parameters to the offline
    region and account; parameters to the caller's values, else the template's defaults.
    """

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.refs: dict[str, Any] = {
            "AWS::Region": os.environ.get("AWS_DEFAULT_REGION", TRANSLATION_REGION),
            "AWS::AccountId": _TRANSLATION_ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": DEFAULT_PREFIX,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.attributes: dict[tuple[str, str], Any] = {}
        self._conditions: dict[str, bool] = {}

    def parameter(self, name: str) -> Any:
        declared = self.template.get("Parameters", {}).get(name)
        if declared is None:
            raise TemplateError(f"the template declares no parameter {name}")
        raw = self.parameters.get(name, declared.get("Default", ""))
        if declared.get("Type") == "CommaDelimitedList":
            return [item.strip() for item in str(raw).split(",")]
        return str(raw)

    def active(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self.condition(str(condition))

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            expression = self.template.get("Conditions", {}).get(name)
            if expression is None:
                raise TemplateError(f"the template declares no condition {name}")
            self._conditions[name] = bool(self.resolve(expression))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        ((function, argument),) = value.items()
        if function == "Ref":
            return self._ref(str(argument))
        if function == "Condition":
            return self.condition(str(argument))
        if function == "Fn::GetAtt":
            resource, attribute = (
                argument if isinstance(argument, list) else str(argument).split(".", 1)
            )
            key = (str(resource), str(attribute))
            if key not in self.attributes:
                raise TemplateError(f"cannot resolve Fn::GetAtt {resource}.{attribute} locally")
            return self.attributes[key]
        if function == "Fn::Sub":
            return self._sub(argument)
        if function == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self.resolve(items))
        if function == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(str(delimiter))
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if function == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self.resolve(argument[0])
        if function == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if function == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if function == "Fn::If":
            name, when_true, when_false = argument
            return self.resolve(when_true if self.condition(str(name)) else when_false)
        return {function: self.resolve(argument)}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        if name in self.refs:
            return self.refs[name]
        raise TemplateError(f"cannot resolve Ref {name} locally (not created yet, or skipped)")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {key: self.resolve(item) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return str(self.resolve({"Fn::GetAtt": [resource, attribute]}))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, str(text))


def apply_conditions(
    template: Mapping[str, Any], parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The template as CloudFormation would deploy it with these parameters (else the
    defaults): resources whose Condition is false removed, each Fn::If replaced by its chosen
    branch, AWS::NoValue dropped. Every other intrinsic function is kept as it is."""
    resolver = _Resolver(template, parameters or {})

    def choose(value: Any) -> Any:
        if isinstance(value, list):
            items = [choose(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return choose(when_true if resolver.condition(str(name)) else when_false)
        if value == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        chosen = {key: choose(item) for key, item in value.items()}
        return {key: item for key, item in chosen.items() if item is not _NO_VALUE}

    result = dict(template)
    result["Resources"] = {
        logical_id: choose(resource)
        for logical_id, resource in template.get("Resources", {}).items()
        if resolver.active(resource)
    }
    if "Outputs" in template:
        result["Outputs"] = {
            name: choose(output)
            for name, output in template["Outputs"].items()
            if resolver.active(output)
        }
    return result

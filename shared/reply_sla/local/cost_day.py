"""A representative day of the real handlers on moto, with every AWS request counted.

The stack's table, topic, queues, bucket and configuration parameter are created from
template.yaml (in-process moto); a scripted channel serves each account's messages of the day;
dispatch_polls, poll_account and check_sla run every simulated minute and weekly_summary once, on
a simulated clock, as the schedules and the SQS event source would run them. What they ask of AWS
is counted at the boto3 level:

- DynamoDB capacity by DynamoDB's documented rules, from the items themselves (read back from
  moto around each request): writes per 1 KB of the larger of the old and new item, doubled in
  transactions, plus one write per index whose entry is added, changed or removed (index entries
  are the item plus 100 bytes); reads per 4 KB of the items read, halved when eventually
  consistent (index queries always are), at least one unit per item or query;
- SQS, SNS and S3 requests one by one (the harness's receives and deletes stand for the event
  source's);
- metrics (the embedded-metric-format lines the handlers print) by series and simulated hour, and
  the bytes the handlers log.

Billed Lambda duration is modelled, since moto answers faster than AWS and no channel API is
called: the handler's own time on this machine scaled to the function's CPU share (Lambda gives
1769 MB one vCPU), plus a typical in-region latency per AWS request and per channel API call.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import yaml

from reply_sla.domain.models import Direction, Message
from reply_sla.local.provision import (
    DEFAULT_TEMPLATE_PATH,
    apply_conditions,
    load_template,
    translate_template,
)
from reply_sla.ports import FetchResult
from reply_sla.services.cost import DayCounts, FunctionDay, StackFacts, Workload

#: Seconds a request takes from Lambda in the same region (typical p50s), by service.
AWS_LATENCY_SECONDS = {
    "dynamodb": 0.008,
    "sqs": 0.015,
    "sns": 0.030,
    "s3": 0.030,
    "ssm": 0.015,
    "secretsmanager": 0.020,
}
#: Channel API requests per poll (a feed of mentions or comments and one of DMs) and the time
#: each takes from Lambda (the platforms answer in 100-400 ms).
CHANNEL_REQUESTS_PER_POLL = 2
CHANNEL_LATENCY_SECONDS = 0.25
#: Lambda gives one vCPU at 1769 MB and a proportional share below.
FULL_CPU_MB = 1769
#: Conversations begin this long before the counted day, so replies and escalations of the
#: day's first hours belong to earlier conversations, as on any other day.
WARM_UP = timedelta(hours=3)
INDEX_ENTRY_OVERHEAD = 100
CHANNELS_IN_ROTATION = ("x", "facebook", "instagram", "mastodon", "discourse")
DAY = datetime(2026, 11, 18, tzinfo=UTC)  # a Wednesday

_SUPPORT_WORDS = ("order", "delivery", "refund", "account", "login", "payment", "card", "invoice")
_OTHER_WORDS = ("help", "please", "when", "still", "waiting", "app", "tracking", "number", "why")
_WORDS = _SUPPORT_WORDS + _OTHER_WORDS + ("today", "again", "thanks", "hello", "plan", "error")
_COMPLAINTS = ("refund", "broken", "cancel", "worst", "scam")


# ----------------------------------------------------------------------------- the day's script


def _text(rng: random.Random, complaint: bool) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(8, 45))]
    if complaint:
        words.insert(rng.randrange(len(words)), rng.choice(_COMPLAINTS))
    return " ".join(words)[:280]


def script_day(
    workload: Workload,
    start: datetime = DAY - WARM_UP,
    span: timedelta = WARM_UP + timedelta(days=1),
    seed: int = 11,
) -> dict[str, list[Message]]:
    """Each account's messages from `start` over `span`, oldest first, at the workload's daily
    rate.

    Conversations start at random, evenly over the span (the cost of a message does not depend
    on its hour); a customer writes 1 or 2 messages; the brand answers 95 % of them (median 20
    minutes, some past the hour); a fifth of the customers then say thanks, and some of the
    others ask again and are answered again.
    """
    rng = random.Random(seed)
    accounts = [f"acct{i:02d}" for i in range(workload.accounts)]
    # Inbound messages per conversation: 1 + 0.45 + 0.95 x (0.2 thanks + 0.8 x 0.19 follow-up).
    per_conversation = 1 + 0.45 + 0.95 * (0.2 + 0.8 * 0.19)
    conversations = round(workload.inbound_per_day / per_conversation * span / timedelta(days=1))
    by_account: dict[str, list[Message]] = defaultdict(list)
    counter = 0

    def message(
        account: str, thread: str, when: datetime, direction: Direction, author: str
    ) -> Message:
        nonlocal counter
        counter += 1
        inbound = direction is Direction.INBOUND
        return Message(
            brand=f"brand{int(account[4:]) % workload.brands}",
            account_id=account,
            channel=CHANNELS_IN_ROTATION[int(account[4:]) % len(CHANNELS_IN_ROTATION)],
            message_id=f"{counter:012d}",
            thread_id=thread,
            author_id=author,
            author_handle=author,
            author_name=author.title(),
            created_at=when,
            text=_text(rng, inbound and rng.random() < 0.15) if inbound else _text(rng, False),
            url=f"https://social.example/{account}/{counter}",
            direction=direction,
        )

    def reply_delay() -> timedelta:
        # Median 20 minutes; about 1 in 8 past 45 minutes and 1 in 14 past an hour.
        return timedelta(minutes=min(600.0, rng.lognormvariate(math.log(20), 0.75)))

    for index in range(conversations):
        # Evenly spread with jitter, so any stretch of the span sees the day's average rate.
        began = start + span * ((index + rng.random()) / conversations)
        account = accounts[index % len(accounts)]
        thread = f"t{index:07d}"
        customer = f"customer{rng.randrange(10**6):06d}"
        brand_id = f"brand-{account}"
        items = [message(account, thread, began, Direction.INBOUND, customer)]
        if rng.random() < 0.45:
            items.append(
                message(
                    account,
                    thread,
                    began + timedelta(minutes=rng.uniform(1, 8)),
                    Direction.INBOUND,
                    customer,
                )
            )
        if rng.random() < 0.95:
            replied = items[-1].created_at + reply_delay()
            items.append(message(account, thread, replied, Direction.OUTBOUND, brand_id))
            if rng.random() < 0.2:
                thanks = message(
                    account,
                    thread,
                    replied + timedelta(minutes=rng.uniform(1, 30)),
                    Direction.INBOUND,
                    customer,
                )
                items.append(thanks.model_copy(update={"text": "thanks!"}))
            elif rng.random() < 0.19:
                follow = replied + timedelta(minutes=rng.uniform(2, 90))
                items.append(message(account, thread, follow, Direction.INBOUND, customer))
                if rng.random() < 0.9:
                    items.append(
                        message(
                            account, thread, follow + reply_delay(), Direction.OUTBOUND, brand_id
                        )
                    )
        by_account[account].extend(items)
    for messages in by_account.values():
        messages.sort(key=lambda m: (m.created_at, m.message_id))
    return dict(by_account)


@dataclass
class ScriptedChannel:
    """A channel client serving a script: what was posted by `now`, after the cursor."""

    channel: str
    account_id: str
    messages: list[Message]
    api_requests: int = 0

    def own_ids(self) -> frozenset[str]:
        return frozenset({f"brand-{self.account_id}"})

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        self.api_requests += CHANNEL_REQUESTS_PER_POLL
        start = int(cursors.get("all") or 0)
        end = start
        while end < len(self.messages) and self.messages[end].created_at <= now:
            end += 1
        return FetchResult(messages=self.messages[start:end], cursors={"all": str(end)}, pages=1)

    def thread_root(self, message_id: str) -> str:
        self.api_requests += 1
        return message_id


# ----------------------------------------------------------------------------- DynamoDB capacity


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a DynamoDB item (wire format), by DynamoDB's documented sizing rules."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown DynamoDB type {kind}")


@dataclass
class TableShape:
    name: str
    key: tuple[str, ...]
    indexes: dict[str, tuple[str, ...]]
    ttl_attribute: str | None


class CapacityMeter:
    """DynamoDB read and write units of each request, from the items before and after it.

    The table starts empty and every write goes through this meter, so it keeps a shadow of
    the table: old images come from the shadow, new images from the request (a Put) or one read
    back from moto (an Update). Reads are sized from the shadow.
    """

    def __init__(self, raw_client: Any, shape: TableShape) -> None:
        self._raw = raw_client
        self.shape = shape
        self.rru = 0.0
        self.wru = 0.0
        self.bytes_added = 0
        self.bytes_expiring = 0
        # The table's own items, without index copies (what point-in-time recovery is billed on).
        self.base_bytes_added = 0
        self.base_bytes_expiring = 0
        #: While False, writes only keep the shadow up to date.
        self.counting = True
        self._items: dict[tuple[str, ...], dict[str, Any]] = {}
        self._pending: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def _key(self, item: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(json.dumps(item[name], sort_keys=True) for name in self.shape.key)

    def _key_attributes(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.shape.key}

    # -- writes ------------------------------------------------------------------------------

    def before_write(self, operation: str, params: Mapping[str, Any]) -> None:
        """Remember what each action of the request writes: (kind, key attributes, new item)."""
        self._pending = []
        if operation == "TransactWriteItems":
            for action in params["TransactItems"]:
                ((kind, body),) = action.items()
                self._pending.append(self._action(kind, body))
        elif operation == "BatchWriteItem":
            for request in params["RequestItems"].get(self.shape.name, []):
                ((kind, body),) = request.items()
                self._pending.append(
                    self._action("Put" if kind == "PutRequest" else "Delete", body)
                )
        else:
            self._pending.append(self._action(operation.removesuffix("Item"), params))

    def _action(
        self, kind: str, body: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        if kind == "Put":
            return kind, self._key_attributes(body["Item"]), dict(body["Item"])
        return kind, dict(body["Key"]), None

    def after_write(self, operation: str, succeeded: bool) -> None:
        factor = 2.0 if operation == "TransactWriteItems" else 1.0
        for kind, key_attributes, put in self._pending:
            key = self._key(key_attributes)
            old = self._items.get(key)
            if not succeeded or kind == "ConditionCheck":
                new = old
            elif kind == "Put":
                new = put
            elif kind == "Delete":
                new = None
            else:  # Update: read the result back
                new = self._raw.get_item(
                    TableName=self.shape.name, Key=key_attributes, ConsistentRead=True
                ).get("Item")
            if self.counting:
                old_size = item_size(old) if old else 0
                new_size = item_size(new) if new else 0
                self.wru += factor * max(1, math.ceil(max(old_size, new_size) / 1024))
            if new is old:
                continue
            if self.counting:
                for keys in self.shape.indexes.values():
                    self.wru += self._index_writes(keys, old, new)
                added = self._stored_size(new) - self._stored_size(old)
                base = (item_size(new) if new else 0) - (item_size(old) if old else 0)
                self.bytes_added += added
                self.base_bytes_added += base
                if new is not None and self.shape.ttl_attribute in new:
                    self.bytes_expiring += added
                    self.base_bytes_expiring += base
            if new is None:
                self._items.pop(key, None)
            else:
                self._items[key] = new
        self._pending = []

    def _in_index(self, keys: tuple[str, ...], item: Mapping[str, Any] | None) -> bool:
        return item is not None and all(k in item for k in keys)

    def _index_writes(
        self,
        keys: tuple[str, ...],
        old: Mapping[str, Any] | None,
        new: Mapping[str, Any] | None,
    ) -> float:
        def units(item: Mapping[str, Any]) -> int:
            return max(1, math.ceil((item_size(item) + INDEX_ENTRY_OVERHEAD) / 1024))

        was, now = self._in_index(keys, old), self._in_index(keys, new)
        if old is not None and new is not None and was and now:
            if all(old[k] == new[k] for k in keys):
                return 0.0 if old == new else float(units(new))
            return float(units(old) + units(new))  # the entry moves: a delete and a put
        if now and new is not None:
            return float(units(new))
        if was and old is not None:
            return float(units(old))
        return 0.0

    def _stored_size(self, item: Mapping[str, Any] | None) -> int:
        if item is None:
            return 0
        size = item_size(item)
        copies = sum(1 for keys in self.shape.indexes.values() if self._in_index(keys, item))
        return size + copies * (size + INDEX_ENTRY_OVERHEAD)

    # -- reads ---------------------------------------------------------------------------------

    def read(self, operation: str, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        if operation == "GetItem":
            item = self._items.get(self._key(params["Key"]))
            self.rru += self._units([item], bool(params.get("ConsistentRead")))
        elif operation == "BatchGetItem":
            spec = params["RequestItems"].get(self.shape.name, {})
            unprocessed = (response.get("UnprocessedKeys") or {}).get(self.shape.name, {})
            served = [k for k in spec.get("Keys", []) if k not in unprocessed.get("Keys", [])]
            items = [self._items.get(self._key(k)) for k in served]
            self.rru += self._units(items, bool(spec.get("ConsistentRead")))
        elif operation == "Query":
            # Units count every item the key condition reads, before filters and projections:
            # the returned items' full images (by key, from the shadow), or a re-read when a
            # filter may have dropped some.
            returned = response.get("Items", [])
            if params.get("FilterExpression"):
                returned = self._query_unfiltered(params)
            items = [self._items.get(self._key(i)) if self._has_key(i) else i for i in returned]
            consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
            total = sum(item_size(i) for i in items if i)
            self.rru += max(1, math.ceil(total / 4096)) * (1.0 if consistent else 0.5)

    def _has_key(self, item: Mapping[str, Any]) -> bool:
        return all(name in item for name in self.shape.key)

    def _query_unfiltered(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        condition = str(params.get("KeyConditionExpression", ""))
        request: dict[str, Any] = {
            k: v
            for k, v in params.items()
            if k not in ("ProjectionExpression", "FilterExpression", "Select")
        }
        for field_name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            used = {k: v for k, v in (params.get(field_name) or {}).items() if k in condition}
            request.pop(field_name, None)
            if used:
                request[field_name] = used
        items: list[dict[str, Any]] = self._raw.query(**request).get("Items", [])
        return items

    @staticmethod
    def _units(items: Sequence[Mapping[str, Any] | None], consistent: bool) -> float:
        total = 0.0
        for item in items:
            size = item_size(item) if item else 0
            total += max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)
        return total


# ----------------------------------------------------------------------------- request counting


class _Requests:
    """boto3 event hooks: count each request, time it, and meter DynamoDB capacity."""

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
    READS = ("GetItem", "BatchGetItem", "Query")

    def __init__(self, meter: CapacityMeter) -> None:
        self.meter = meter
        self.counts: Counter[str] = Counter()
        #: SNS publishes by their `audience` attribute (a notice for both counts for each).
        self.audiences: Counter[str] = Counter()
        self.counting = True
        self.aws_seconds = 0.0
        self.modelled_latency = 0.0
        self._started: float | None = None
        self._params: dict[str, Any] = {}

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self._params = params
        if model.service_model.endpoint_prefix == "dynamodb" and model.name in self.WRITES:
            self.meter.before_write(model.name, params)  # always: the shadow must stay whole
        self._started = time.perf_counter()

    def after(self, http_response: Any, parsed: Mapping[str, Any], model: Any, **_: Any) -> None:
        if self._started is not None:
            self.aws_seconds += time.perf_counter() - self._started
            self._started = None
        service = model.service_model.endpoint_prefix
        self.modelled_latency += AWS_LATENCY_SECONDS.get(service, 0.02)
        if self.counting:
            self.counts[f"{service}.{model.name}"] += 1
            if service == "sns" and model.name == "Publish":
                self.audiences.update(_audiences(self._params))
        if service != "dynamodb":
            return
        ok = 200 <= int(getattr(http_response, "status_code", 200)) < 300
        self.meter.counting = self.counting
        if model.name in self.WRITES:
            self.meter.after_write(model.name, ok)
        elif model.name in self.READS and ok and self.counting:
            self.meter.read(model.name, self._params, parsed)

    def install(self, session: boto3.session.Session) -> None:
        session.events.register("before-parameter-build", self.before)
        session.events.register("after-call", self.after)


def _audiences(params: Mapping[str, Any]) -> list[str]:
    """The audiences a publish names. One that names none matches no audience-filtered
    subscription (the template's), so it is counted under "" and e-mailed to no one."""
    attribute = (params.get("MessageAttributes") or {}).get("audience") or {}
    value = str(attribute.get("StringValue", ""))
    if attribute.get("DataType") == "String.Array":
        return [str(v) for v in json.loads(value)]
    return [value]


class _LogSink(io.TextIOBase):
    """Where the handlers print: counts bytes, and the minutes in which each metric series
    (namespace, name, dimensions) was published."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self.bytes = 0
        self.counting = True
        self.series_minutes: dict[str, set[datetime]] = defaultdict(set)
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.counting:
            self.bytes += len(text.encode())
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._line(line)
        return len(text)

    def _line(self, line: str) -> None:
        if not self.counting or not line.startswith('{"_aws"'):
            return
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                dims = ",".join(f"{d}={document.get(d)}" for d in sorted(dimensions))
                for metric in directive["Metrics"]:
                    series = f"{directive['Namespace']}/{metric['Name']}[{dims}]"
                    self.series_minutes[series].add(self._clock())


# ----------------------------------------------------------------------------- running the day


@dataclass
class DayResult:
    counts: DayCounts
    stack: StackFacts
    seconds: float
    window_minutes: int
    channel_requests: int = 0


def stack_facts(template_path: Path = DEFAULT_TEMPLATE_PATH) -> StackFacts:
    """Alarms, dashboards, keys and schedules as template.yaml and its nested templates deploy
    them with the default parameters (a resource whose condition is false is not counted)."""
    template = apply_conditions(load_template(template_path))
    resources = dict(template["Resources"])
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        location = properties.get("Location")
        if resource["Type"] == "AWS::Serverless::Application" and isinstance(location, str):
            passed = {
                name: value
                for name, value in (properties.get("Parameters") or {}).items()
                if isinstance(value, str)
            }
            nested = load_template(template_path.parent / location)
            resources.update(apply_conditions(nested, passed)["Resources"])
    kinds = Counter(r["Type"] for r in resources.values())
    per_day = 0.0
    for resource in resources.values():
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if event.get("Type") in ("Schedule", "ScheduleV2"):
                expression = str(event["Properties"]["ScheduleExpression"])
                per_day += 1440.0 if expression == "rate(1 minute)" else 1 / 7
    return StackFacts(
        alarms=kinds["AWS::CloudWatch::Alarm"],
        dashboards=kinds["AWS::CloudWatch::Dashboard"],
        kms_keys=kinds["AWS::KMS::Key"],
        schedules_per_day=per_day,
        # Dispatch and check run alone each minute; SQS starts up to 5 polls at once.
        environments={
            "DispatchPollsFunction": 1,
            "PollAccountFunction": 5,
            "CheckSlaFunction": 1,
            "TurnActionFunction": 1,
        },
    )


def _memory(template: Mapping[str, Any]) -> dict[str, int]:
    default = int(template["Globals"]["Function"].get("MemorySize", 128))
    return {
        logical_id: int((resource.get("Properties") or {}).get("MemorySize", default))
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _table_shape(template_path: Path, table_name: str) -> TableShape:
    table = translate_template(load_template(template_path))["Resources"]["Table"]["Properties"]
    ttl = table.get("TimeToLiveSpecification") or {}
    return TableShape(
        name=table_name,
        key=tuple(k["AttributeName"] for k in table["KeySchema"]),
        indexes={
            index["IndexName"]: tuple(k["AttributeName"] for k in index["KeySchema"])
            for index in table.get("GlobalSecondaryIndexes") or []
        },
        ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled", True) else None,
    )


def _config(workload: Workload, secret_prefix: str) -> dict[str, Any]:
    brands = {
        f"brand{b}": {"name": f"Brand {b}", "timezone": "Europe/Madrid"}
        for b in range(workload.brands)
    }
    accounts = [
        {
            "id": f"acct{i:02d}",
            "brand": f"brand{i % workload.brands}",
            "channel": CHANNELS_IN_ROTATION[i % len(CHANNELS_IN_ROTATION)],
            "secret": f"{secret_prefix}channels#acct{i:02d}",
            "poll_every": "1m",
        }
        for i in range(workload.accounts)
    ]
    policies = [
        {
            "name": "everything",
            "first_response": "1h",
            "next_response": "2h",
            "clock": "calendar",
            "ladder": [
                {"level": "warning", "at": "75%"},
                {"level": "breach", "at": "100%"},
                {"level": "manager", "at": "+2h"},
            ],
        }
    ]
    return {"brands": brands, "accounts": accounts, "policies": policies}


@dataclass
class _Tally:
    """What one stretch of the run asked of AWS (counted minutes, or the weekly run)."""

    functions: dict[str, FunctionDay]
    requests: Counter[str] = field(default_factory=Counter)
    audiences: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    bytes_added: int = 0
    bytes_expiring: int = 0
    base_bytes_added: int = 0
    base_bytes_expiring: int = 0
    log_bytes: int = 0
    series_minutes: dict[str, set[datetime]] = field(default_factory=dict)


class _Run:
    """The local stack, the handlers and the meters of one run."""

    def __init__(
        self,
        workload: Workload,
        template_path: Path,
        script: dict[str, list[Message]],
        clock: Any,
    ) -> None:
        from reply_sla.local.demo import LambdaContextStub, _load_handler, _sqs_event
        from reply_sla.local.provision import provision_local

        self._context = LambdaContextStub
        self._sqs_event = _sqs_event
        self.clock = clock
        self.memory = _memory(load_template(template_path))
        self.session = boto3.session.Session()
        self.resources = provision_local(
            self.session,
            None,
            template_path,
            name_prefix="replysla-cost",
            with_config_parameter=True,
        )
        raw = boto3.session.Session()
        secrets = raw.client("secretsmanager")
        prefix = "replysla/"
        # One secret for every account, an entry each, as `replysla channels add` stores them.
        secrets.create_secret(
            Name=f"{prefix}channels",
            SecretString=json.dumps({account: {"access_token": "x"} for account in script}),
        )
        self.key_arn = secrets.create_secret(
            Name="replysla-cost-action-key",
            SecretString=json.dumps({"kid": "k1", "key": "k" * 64}),
        )["ARN"]
        raw.client("ssm").put_parameter(
            Name=self.resources.config_parameter_name,
            Value=yaml.safe_dump(_config(workload, prefix)),
            Type="String",
            Overwrite=True,
        )
        self.raw = raw
        self.meter = CapacityMeter(
            raw.client("dynamodb"), _table_shape(template_path, self.resources.table_name)
        )
        self.requests = _Requests(self.meter)
        self.requests.install(self.session)
        self.sink = _LogSink(lambda: self.clock.now)
        self.channels = {
            account: ScriptedChannel(messages[0].channel, account, messages)
            for account, messages in script.items()
        }
        self.handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        with contextlib.redirect_stdout(self.sink):
            for name in ("dispatch_polls", "poll_account", "check_sla", "weekly_summary"):
                self.handlers[name] = _load_handler(name)
        self.tally = self.new_tally()
        self.queue_arn = raw.client("sqs").get_queue_attributes(
            QueueUrl=self.resources.poll_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.consumer = self.session.client("sqs")  # the event source's requests are billed

    def channel_factory(self, account: Any, _credentials: dict[str, str]) -> ScriptedChannel:
        return self.channels[account.id]

    def counting(self, on: bool) -> None:
        self.requests.counting = self.sink.counting = on

    def new_tally(self) -> _Tally:
        """Start counting afresh (the DynamoDB shadow is kept)."""
        self.requests.counts = Counter()
        self.requests.audiences = Counter()
        self.meter.rru = self.meter.wru = 0.0
        self.meter.bytes_added = self.meter.bytes_expiring = 0
        self.meter.base_bytes_added = self.meter.base_bytes_expiring = 0
        self.sink.bytes = 0
        self.sink.series_minutes = defaultdict(set)
        self.tally = _Tally({name: FunctionDay(memory_mb=mb) for name, mb in self.memory.items()})
        return self.tally

    def close_tally(self) -> _Tally:
        tally = self.tally
        tally.requests = Counter(self.requests.counts)
        tally.audiences = Counter(self.requests.audiences)
        tally.rru, tally.wru = self.meter.rru, self.meter.wru
        tally.bytes_added, tally.bytes_expiring = self.meter.bytes_added, self.meter.bytes_expiring
        tally.base_bytes_added = self.meter.base_bytes_added
        tally.base_bytes_expiring = self.meter.base_bytes_expiring
        tally.log_bytes = self.sink.bytes
        tally.series_minutes = dict(self.sink.series_minutes)
        return tally

    def invoke(self, logical_id: str, name: str, event: dict[str, Any]) -> Any:
        """Run a handler as Lambda would and bill its modelled duration."""
        aws_before, latency_before = self.requests.aws_seconds, self.requests.modelled_latency
        api_before = sum(c.api_requests for c in self.channels.values())
        began = time.perf_counter()
        with contextlib.redirect_stdout(self.sink):
            response = self.handlers[name](event, self._context(name))
        wall = time.perf_counter() - began
        own = max(0.0, wall - (self.requests.aws_seconds - aws_before))
        api = sum(c.api_requests for c in self.channels.values()) - api_before
        function = self.tally.functions[logical_id]
        billed = (
            own * FULL_CPU_MB / function.memory_mb
            + (self.requests.modelled_latency - latency_before)
            + api * CHANNEL_LATENCY_SECONDS
        )
        if self.requests.counting:
            function.invocations += 1
            function.billed_ms += math.ceil(billed * 1000)
        return response

    def minute(self) -> dict[str, Any]:
        """One scheduled minute: dispatch, the polls it queued (one invocation each, the most
        the event source would make), then the SLA check."""
        event = {"scheduled_time": self.clock.now.isoformat()}
        self.invoke("DispatchPollsFunction", "dispatch_polls", event)
        url = self.resources.poll_queue_url
        while batch := self.consumer.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for item in batch:
                self.invoke(
                    "PollAccountFunction",
                    "poll_account",
                    self._sqs_event([item], self.queue_arn),
                )
            self.consumer.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        report: dict[str, Any] = self.invoke("CheckSlaFunction", "check_sla", event)
        return report


def run_day(
    workload: Workload,
    *,
    minutes: int = 30,
    warm_up: timedelta = WARM_UP,
    warm_up_step: timedelta = timedelta(minutes=10),
    template_path: Path = DEFAULT_TEMPLATE_PATH,
    say: Callable[[str], None] = lambda _line: None,
) -> DayResult:
    """Count `minutes` of a day at the day's average rate and make a day of them.

    The warm-up (uncounted, a run every `warm_up_step`) fills the table with the
    conversations of the hours before, so the counted minutes see replies and escalations of
    earlier turns as any minute would. Then every minute runs as scheduled. The weekly summary
    runs once over what the table holds and is counted as the seventh of a weekly run over a
    full week.
    """
    from moto import mock_aws

    from reply_sla.local.demo import SimClock, environment
    from reply_sla.settings import Settings
    from reply_sla.wiring import Container, use_container

    if minutes < 1:
        raise ValueError("minutes: at least 1")
    from aws_lambda_powertools.utilities import parameters

    # Powertools keeps parameters for minutes per process; this run's are new. (Any: the
    # function has no annotations.)
    clear_caches: Any = parameters.clear_caches
    clear_caches()
    started = time.monotonic()
    script = script_day(workload, DAY - warm_up, warm_up + timedelta(minutes=minutes))
    clock = SimClock(DAY - warm_up)
    env = {
        "AWS_ACCESS_KEY_ID": "cost",
        "AWS_SECRET_ACCESS_KEY": "cost",
        "AWS_SESSION_TOKEN": "cost",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "replysla-cost",
        "POWERTOOLS_METRICS_NAMESPACE": "ReplySla",
        "POWERTOOLS_METRICS_DISABLED": "false",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    saved_endpoint = os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with (
            environment(env),
            mock_aws(),
            warnings_silenced(),
            transactions_without_table_copies(),
        ):
            run = _Run(workload, template_path, script, clock)
            with environment(
                {
                    **run.resources.as_environment(),
                    "ACTION_KEY_SECRET_ARN": run.key_arn,
                    "ACTION_URL": "https://actions.example/act",
                }
            ):
                settings = Settings.from_env()
                use_container(
                    Container(
                        settings,
                        clock=clock,
                        channel_factory=run.channel_factory,
                        session=run.session,
                    )
                )
                _point_loggers_at(run.sink)
                try:
                    window, summary, escalations = _play(run, minutes, warm_up_step, say)
                finally:
                    use_container(None)
            stack = stack_facts(template_path)
    finally:
        if saved_endpoint is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved_endpoint
    end = DAY + timedelta(minutes=minutes)
    in_window = [m for messages in script.values() for m in messages if DAY <= m.created_at < end]
    facts = {
        "window_minutes": float(minutes),
        "inbound": sum(1 for m in in_window if m.direction is Direction.INBOUND),
        "outbound": sum(1 for m in in_window if m.direction is Direction.OUTBOUND),
        "escalations": float(sum(escalations.values())),
        **{f"escalations.{level}": float(n) for level, n in sorted(escalations.items())},
    }
    data_hours = (warm_up + timedelta(minutes=minutes)) / timedelta(hours=1)
    counts = combine(window, minutes, summary, data_hours, facts)
    return DayResult(
        counts=counts,
        stack=stack,
        seconds=time.monotonic() - started,
        window_minutes=minutes,
        channel_requests=sum(c.api_requests for c in run.channels.values()),
    )


@contextlib.contextmanager
def transactions_without_table_copies() -> Iterator[None]:
    """moto backs a table up by deep-copying all of it for every item of a TransactWriteItems,
    which makes a day of transactions quadratic in time and memory. While this is active the
    backup holds only the items the transaction writes, and a cancelled transaction puts those
    back: the same rollback, at the cost of the transaction's own items."""
    import copy as real_copy

    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class _NoTableCopies:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

        def deepcopy(self, value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else real_copy.deepcopy(value, memo)

    # Any: moto's modules are patched here, where their declared types do not apply.
    moto_models: Any = models
    backend_class: Any = models.DynamoDBBackend
    original = backend_class.transact_write_items

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for action in transact_items:
            ((kind, op),) = action.items()
            table = backend.get_table(op["TableName"])
            attrs = op["Item"] if kind == "Put" else op["Key"]
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            item = table.items.get(hash_key, {}).get(range_key) if range_key else None
            saved.append((table, hash_key, range_key, real_copy.deepcopy(item)))
        try:
            original(backend, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if item is None:
                    table.items.get(hash_key, {}).pop(range_key, None)
                else:
                    table.items[hash_key][range_key] = item
            raise

    saved_copy = moto_models.copy
    moto_models.copy = _NoTableCopies()
    backend_class.transact_write_items = transact_write_items
    try:
        yield
    finally:
        moto_models.copy = saved_copy
        backend_class.transact_write_items = original


@contextlib.contextmanager
def warnings_silenced() -> Iterator[None]:
    """Powertools warns on every run that publishes no metric; that is expected here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _play(
    run: _Run, minutes: int, warm_up_step: timedelta, say: Callable[[str], None]
) -> tuple[_Tally, _Tally, Counter[str]]:
    run.counting(False)
    while run.clock.now < DAY:
        run.minute()
        run.clock.now += warm_up_step
    run.clock.now = DAY
    run.new_tally()
    run.counting(True)
    escalations: Counter[str] = Counter()
    end = DAY + timedelta(minutes=minutes)
    while run.clock.now < end:
        report = run.minute()
        for level, count in (report.get("by_level") or {}).items():
            escalations[level] += int(count)
        if run.clock.now.minute % 15 == 14:
            say(f"  {run.clock.now:%H:%M} counted, {sum(escalations.values())} escalations")
        run.clock.now += timedelta(minutes=1)
    window = run.close_tally()
    run.new_tally()
    monday = DAY - timedelta(days=DAY.weekday()) + timedelta(days=7, hours=7)
    run.clock.now = monday
    run.invoke("WeeklySummaryFunction", "weekly_summary", {"scheduled_time": monday.isoformat()})
    summary = run.close_tally()
    summary.requests.pop("s3.ListObjectsV2", None)
    run.counting(False)
    listed = run.raw.client("s3").list_objects_v2(Bucket=run.resources.bucket_name)
    summary.bytes_added = sum(int(o["Size"]) for o in listed.get("Contents", []))
    return window, summary, escalations


def combine(
    window: _Tally,
    minutes: int,
    summary: _Tally,
    data_hours: float,
    facts: Mapping[str, float],
) -> DayCounts:
    """A day: the counted minutes scaled to 1440, plus a seventh of a weekly summary run.

    The summary's reads grow with the week's items: what it read over `data_hours` of items is
    scaled to a week's. Metric series are billed by the hour: a series published in k of the
    counted minutes an hour is taken to appear in 1 - e^-k of the day's hours.
    """
    day = 1440 / minutes
    week_reads = 7 * 24 / data_hours
    functions = {}
    for name, counted in window.functions.items():
        weekly = summary.functions[name]
        invocations = counted.invocations * day + weekly.invocations / 7
        billed = counted.billed_ms * day + weekly.billed_ms * week_reads / 7
        if invocations:
            functions[name] = FunctionDay(counted.memory_mb, invocations, billed)
    requests: dict[str, int] = {}
    for name, count in window.requests.items():
        requests[name] = round(count * day)
    for name, count in summary.requests.items():
        scale = week_reads if name.startswith("dynamodb.") else 1.0
        requests[name] = requests.get(name, 0) + round(count * scale / 7)
    metric_hours = {}
    for series in {**summary.series_minutes, **window.series_minutes}:
        in_window = len(window.series_minutes.get(series, ()))
        per_hour = in_window * 60 / minutes
        hours = 24 * (1 - math.exp(-per_hour)) if per_hour else 0.0
        if series in summary.series_minutes and not in_window:
            hours = 1 / 7
        metric_hours[series] = hours
    return DayCounts(
        functions=functions,
        requests=requests,
        dynamodb_rru=window.rru * day + summary.rru * week_reads / 7,
        dynamodb_wru=window.wru * day + summary.wru / 7,
        dynamodb_bytes_added=round(window.bytes_added * day),
        dynamodb_bytes_expiring=round(window.bytes_expiring * day),
        dynamodb_base_bytes_added=round(window.base_bytes_added * day),
        dynamodb_base_bytes_expiring=round(window.base_bytes_expiring * day),
        sns_publishes=round(
            window.requests.get("sns.Publish", 0) * day + summary.requests.get("sns.Publish", 0) / 7
        ),
        sns_audience_publishes={
            audience: window.audiences.get(audience, 0) * day
            + summary.audiences.get(audience, 0) / 7
            for audience in {*window.audiences, *summary.audiences}
        },
        s3_bytes_per_week=summary.bytes_added,
        metric_hours=metric_hours,
        log_bytes=round(window.log_bytes * day + summary.log_bytes / 7),
        facts={
            **facts,
            "inbound_per_day": facts.get("inbound", 0) * day,
            "escalations_per_day": facts.get("escalations", 0) * day,
        },
    )


def _point_loggers_at(sink: _LogSink) -> None:
    """Powertools loggers keep the stream they were made with; count what they write."""
    import logging

    for handler in logging.getLogger("replysla-cost").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


def main() -> int:  # pragma: no cover - a manual entry point for profiling
    minutes = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    result = run_day(Workload(), minutes=minutes, say=print)
    print(json.dumps(result.counts.facts, indent=1), f"{result.seconds:.1f} s")
    return 0

"""Fault injection: polls, checks and the weekly summary against moto while channels fail (429,
5xx, timeouts, malformed items, dead tokens), DynamoDB throttles and fails conditions, SNS
refuses, a poll crashes between any two of its writes, SQS delivers a poll twice, checkers
overlap, and the Monday summary is throttled, killed part-way, retried and delivered twice.

Invariants, after the faults stop and the schedule has run a while:
- every well-formed message a channel served is stored exactly once (so no cursor skipped);
- every ladder level of a turn left unanswered is announced exactly once, none before its due
  time, none after a reply (the interleaving test's rules, here under faults); the level events
  stored are exactly the levels announced. The exception is the one documented case of a level
  sent twice: its confirming write failed (throttled past its retries) after SNS took it, so it
  goes out again after the lease, or, if the reply came first, it was sent and never recorded;
- summaries rebuilt from events equal the incremental ones, as follows.

The incremental summary is the week's, made as the stack makes it: Monday 07:00, `now` from the
schedule's event, `build_weekly_summary` on the faulted table and a moto bucket, retried twice by
Lambda when it fails (same event, same `now`), then replayed from the dead-letter queue; and
delivered twice by EventBridge, the second run starting before any write of the first (between
two files, between the files and the aggregate) or after it. Its faults: DynamoDB throttling, a
crash before any of its writes or before its notice, SNS refusing the notice.

The rebuilt summary replays the ground truth into a fresh table with no faults: every
well-formed message the channel served, in the feed's order, each at the step where the faulted
run stored it, one poll per message (so other batches than the faulted run's); checks run at the
same instants, so both ladders see the same turns open at every check. The same week is then
built with the same `now`. Both tables hold the same aggregate of the week before, so trends and
customers at risk read stored history.

Compared: summary.json as a dict, the four files byte for byte, the stored aggregate
(AGG#<brand>, read back as the next weeks' trends read it) and the notice (but its presigned
link). The faulted bucket's files, its `latest/` copy and its aggregate are also checked to be one
document's: whatever crashed and ran again left no mix of runs.

`escalations_sent` depends on fault timing: a checker that crashed holds its claim for the
10-minute lease and a failed publish waits for the next check, so a reply stored meanwhile cancels
a level the fault-free ladder sent. Per turn and level (stored level events): a turn left
unanswered has the same levels in both runs; an answered turn has in the faulted run a subset of
the fault-free run's. Each summary's `escalations_sent` counts its own table's level events. When
both ladders sent the same levels, everything is equal byte for byte; otherwise summary.json and
the aggregate are equal once the counts of sent levels are taken out (`escalations_sent`, the
trends' `escalations_total` and `escalations_sent.<level>`, the aggregate's `escalations`).
Everything derived from messages and turns (counts, response times, attainment, breaches, open
overdue turns, silent stretches, heatmaps, daily rows, customers at risk, findings, the score) is
always exactly equal.

`make test` runs FAULT_EXAMPLES (default 300) examples; `make bench-faults` runs 10,000. The
module's totals line counts the faults injected and the summaries compared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.adapters.s3_reports import S3ReportStore
from reply_sla.adapters.sns_notifier import PublishFailed
from reply_sla.config import AccountConfig
from reply_sla.domain.aggregates import FLAT_METRICS, week_aggregate
from reply_sla.domain.models import Message, SlaEvent, Turn, TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, LadderLevel, ReplyToEveryInbound
from reply_sla.domain.weeks import previous_week
from reply_sla.errors import (
    ChannelAuthError,
    ChannelError,
    ChannelRateLimited,
    ReplySlaError,
)
from reply_sla.local.provision import provision_table
from reply_sla.ports import AttributeValue, FetchResult
from reply_sla.services.checking import DEFAULT_LEASE, BrandView, check_sla
from reply_sla.services.polling import poll_account
from reply_sla.services.summary import (
    FILES,
    build_weekly_summary,
    latest_prefix,
    summary_files,
    week_prefix,
)
from reply_sla.wiring import scheduled_time
from tests.conftest import TEMPLATE, local_session
from tests.factories import at, inbound, outbound
from tests.integration.test_ladder_interleavings import Crash, Inbox, Notifier

POLICY = FixedWindowPolicy(
    first_response_seconds=3600,
    next_response_seconds=3600,
    ladder=(
        LadderLevel(level="warning", fraction=0.5),
        LadderLevel(level="breach", fraction=1.0),
    ),
)
ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "x"}
)
EXAMPLES = int(os.environ.get("FAULT_EXAMPLES", "300"))
TOTALS: Counter[str] = Counter()
_WRITES = {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem"}

# The schedule runs from Monday 16 Nov 2026 09:00 UTC (tests.factories.T0) for at most two days;
# the stack summarises that week on the Monday after at 07:00 in the brand's zone (UTC here).
WEEK = "2026-W47"
SUMMARY_AT = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
SCHEDULE_EVENT = {"scheduled_time": "2026-11-23T07:00:00Z"}
# What one summary run of this small week writes: 4 files under the week and 4 under latest/,
# then the aggregate (one BatchWriteItem); a crash "after" them kills the run before its notice.
SUMMARY_WRITES = 2 * len(FILES) + 1
SUMMARY_FAULTS = ["ok", "throttle", "crash", "sns", "twice"]
# The week before, as an earlier Monday stored it: its figures feed the trends, and its breach
# author (the customer of thread a) is at risk as soon as they wait too long once more.
EARLIER_WEEK = "2026-W46"
EARLIER_AGGREGATE: dict[str, Any] = {
    "aggregate_version": 1,
    "week": EARLIER_WEEK,
    "generated_at": "2026-11-16T07:00:00+00:00",
    "scopes": {
        scope: {
            **dict.fromkeys(FLAT_METRICS),
            "inbound_messages": 5,
            "turns_opened": 4,
            "turns_answered": 3,
            "turns_due": 4,
            "turns_on_time": 2,
            "sla_attainment": 0.5,
            "breaches": 1,
            "escalations_total": 2,
            "reputation_score": 61,
        }
        for scope in ("brand", "channel:mastodon", "account:acme-mastodon")
    },
    "escalations": {
        scope: {"warning": 1, "breach": 1}
        for scope in ("brand", "channel:mastodon", "account:acme-mastodon")
    },
    "breach_authors": [
        {
            "account": "acme-mastodon",
            "channel": "mastodon",
            "author_id": "cust-a",
            "customer": "@cust-a@social.example",
            "breaches": 1,
            "link": "https://social.example/@cust-a/w46",
            "last_due_at": "2026-11-12T10:00:00+00:00",
        }
    ],
}


@pytest.fixture(scope="module", autouse=True)
def _print_totals() -> Iterator[None]:
    yield
    print(f"\nfault injection: {dict(TOTALS)}")


def brands(_brand: str) -> BrandView:
    return BrandView(name="ACME", timezone="UTC")


@dataclass
class FaultyChannel:
    """A channel whose feed grows over time and which fails as real APIs do. The cursor is the
    number of items served; malformed items are skipped with a reason, as adapters do."""

    feed: list[Message | str] = field(default_factory=list)  # a str is a malformed item
    fault: str | None = None
    served: set[str] = field(default_factory=set)
    channel: str = "mastodon"

    def own_ids(self) -> frozenset[str]:
        return frozenset({"brand"})

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        fault, self.fault = self.fault, None
        if fault == "429":
            raise ChannelRateLimited("mastodon", "429 Too Many Requests (injected)", 30.0)
        if fault == "5xx":
            raise ChannelError("mastodon", "503 Service Unavailable (injected)")
        if fault == "timeout":
            raise ChannelError("mastodon", "read timed out (injected)")
        if fault == "dead-token":
            raise ChannelAuthError("mastodon", "401 The access token is invalid (injected)")
        start = int(cursors.get("all") or 0)
        page = self.feed[start:]
        messages = [m for m in page if isinstance(m, Message)]
        errors = [f"item {m!r}: missing created_at" for m in page if isinstance(m, str)]
        self.served.update(m.message_id for m in messages)
        return FetchResult(messages, {"all": str(start + len(page))}, pages=1, errors=errors)

    def thread_root(self, message_id: str) -> str:
        return message_id


@dataclass
class ReplayChannel:
    """The fault-free replay's channel: serves the page it is given, once."""

    page: list[Message] = field(default_factory=list)
    channel: str = "mastodon"

    def own_ids(self) -> frozenset[str]:
        return frozenset({"brand"})

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        page, self.page = self.page, []
        return FetchResult(page, {"all": "replay"}, pages=1)

    def thread_root(self, message_id: str) -> str:
        return message_id


class Faults:
    """botocore hooks on the faulted stack's clients: DynamoDB calls throttled at random, and an
    action (a crash, a second invocation) run just before the n-th write (DynamoDB writes and S3
    puts).

    Whether a call is throttled is decided from the seed, the request and how many times that
    same request was made, so the week's reads (made side by side on threads) are throttled the
    same way whatever order the threads run in, and a failing example replays exactly."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.throttle = 0.0
        self.throttled = "dynamodb throttled"  # what a throttled call counts as
        self.writes = 0
        self.injected: Counter[str] = Counter()
        self._at_write: tuple[int, Callable[[], None]] | None = None
        self._made: Counter[bytes] = Counter()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def watching(self, dynamodb: Any, s3: Any) -> Iterator[Faults]:
        dynamodb.meta.events.register("before-call.dynamodb.*", self._dynamodb)
        s3.meta.events.register("before-call.s3.PutObject", self._s3)
        try:
            yield self
        finally:
            dynamodb.meta.events.unregister("before-call.dynamodb.*", self._dynamodb)
            s3.meta.events.unregister("before-call.s3.PutObject", self._s3)
            self.calm()

    def at_write(self, n: int, action: Callable[[], None]) -> None:
        """Run `action` just before the n-th write from now."""
        self.writes, self._at_write = 0, (n, action)

    def calm(self) -> None:
        self.throttle, self._at_write = 0.0, None

    def _throttled(self, params: Mapping[str, Any]) -> bool:
        body = params.get("body") or b""
        request = body.encode() if isinstance(body, str) else bytes(body)
        with self._lock:
            self._made[request] += 1
            made = self._made[request]
        digest = hashlib.sha256(f"{self.seed}:{made}:".encode() + request).digest()
        return int.from_bytes(digest[:4]) / 2**32 < self.throttle

    def _write(self) -> None:
        if self._at_write is None:
            return
        self.writes += 1
        n, action = self._at_write
        if self.writes == n:
            self._at_write = None
            action()

    def _dynamodb(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        if self.throttle and self._throttled(params):
            with self._lock:
                self.injected[self.throttled] += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                model.name,
            )
        if model.name in _WRITES:
            self._write()

    def _s3(self, **_: Any) -> None:
        self._write()


@dataclass
class Notices:
    """The summary notices that reached the topic; `fault` makes the next publish fail."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    fault: str | None = None  # "sns": SNS refuses; "crash": the Lambda dies before publishing

    def publish(self, subject: str, body: str, attributes: Mapping[str, AttributeValue]) -> str:
        fault, self.fault = self.fault, None
        if fault == "sns":
            raise PublishFailed("SNS throttled the summary notice (injected)")
        if fault == "crash":
            raise Crash("killed after the aggregate, before the notice")
        self.sent.append((subject, body))
        return f"n{len(self.sent)}"


class FaultedStore(DynamoThreadStore):
    """The DynamoDB store, remembering the levels whose confirming write failed after their
    publish (throttled past its retries): the one case in which a level can be sent twice, or
    sent and never recorded (docs/sla-semantics.md, the ladder)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unconfirmed: set[tuple[str, str]] = set()

    def confirm_levels(
        self,
        turn: Turn,
        lease_until: datetime,
        next_level: tuple[str, datetime] | None,
        events: Sequence[SlaEvent],
    ) -> None:
        try:
            super().confirm_levels(turn, lease_until, next_level, events)
        except ReplySlaError:
            self.unconfirmed.update((turn.key, e.level) for e in events if e.level)
            raise


@dataclass
class Stack:
    """The faulted stack's clients (fault hooks go on these), a clean client for the replay and
    for looking, and each side's table and bucket."""

    dynamodb: Any
    s3: Any
    clean_dynamodb: Any
    clean_s3: Any
    table: str = "replysla-faults"
    replay_table: str = "replysla-faults-replay"
    bucket: str = "replysla-faults-summaries"
    replay_bucket: str = "replysla-faults-replay-summaries"

    def store(self, table: str, *, clean: bool = False) -> FaultedStore:
        client = self.clean_dynamodb if clean else self.dynamodb
        return FaultedStore(client, table, due_shards=2, sleep=lambda _s: None)

    def reports(self, bucket: str, *, clean: bool = False) -> S3ReportStore:
        # The link is signed "at" the run's time, so its note reads the same in both runs.
        return S3ReportStore(self.clean_s3 if clean else self.s3, bucket, clock=lambda: SUMMARY_AT)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from moto import mock_aws

    keys = {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    with mock_aws():
        session = local_session()
        made = Stack(
            dynamodb=session.client("dynamodb", region_name="us-east-1"),
            s3=session.client("s3", region_name="us-east-1"),
            clean_dynamodb=session.client("dynamodb", region_name="us-east-1"),
            clean_s3=session.client("s3", region_name="us-east-1"),
        )
        for table in (made.table, made.replay_table):
            provision_table(session, None, TEMPLATE, table)
            made.store(table, clean=True).put_week_aggregate(
                "acme", EARLIER_WEEK, EARLIER_AGGREGATE, SUMMARY_AT
            )
        for bucket in (made.bucket, made.replay_bucket):
            made.clean_s3.create_bucket(Bucket=bucket)
        yield made
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _empty(stack: Stack) -> None:
    """Both tables back to the earlier week's aggregate alone; both buckets empty."""
    client = stack.clean_dynamodb
    for name in (stack.table, stack.replay_table):
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for page in client.get_paginator("scan").paginate(
                TableName=name, ProjectionExpression="pk, sk"
            )
            for item in page["Items"]
            if not item["sk"]["S"].endswith(f"#{EARLIER_WEEK}#0000")
        ]
        for start in range(0, len(keys), 25):
            client.batch_write_item(
                RequestItems={
                    name: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
                }
            )
    for bucket in (stack.bucket, stack.replay_bucket):
        listed = stack.clean_s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        if listed:
            stack.clean_s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed]}
            )


def _level_events(stack: Stack, table: str) -> dict[tuple[str, int], set[str]]:
    """Every stored ladder level event, as {(thread, turn seq): levels}."""
    fired: dict[tuple[str, int], set[str]] = {}
    for page in stack.clean_dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="begins_with(sk, :e) AND attribute_exists(#level)",
        ExpressionAttributeNames={"#level": "level"},
        ExpressionAttributeValues={":e": {"S": "EVT#"}},
    ):
        for item in page["Items"]:
            turn = (item["thread_id"]["S"], int(item["turn_seq"]["N"]))
            fired.setdefault(turn, set()).add(item["level"]["S"])
    return fired


def _announced(inbox: Inbox) -> dict[tuple[str, int], set[str]]:
    """Every level that reached the topic in an escalation or a digest, by (thread, turn seq)."""
    sent: dict[tuple[str, int], set[str]] = {}
    for note in inbox.seen:
        if note.kind != "resolved":
            _account, thread, seq = note.turn.rsplit(":", 2)
            sent.setdefault((thread, int(seq)), set()).update(note.levels)
    return sent


def _files(stack: Stack, bucket: str, *folders: str) -> dict[str, bytes]:
    """The files under these folders of a bucket, by key."""
    return {
        folder + name: stack.clean_s3.get_object(Bucket=bucket, Key=folder + name)["Body"].read()
        for folder in folders
        for name in FILES
    }


def _without_escalations(value: Any) -> Any:
    """A summary or aggregate without what counts fired levels."""
    if isinstance(value, dict):
        return {
            k: _without_escalations(v)
            for k, v in value.items()
            if k not in {"escalations_sent", "escalations_total", "escalations"}
            and not k.startswith("escalations_sent.")
        }
    if isinstance(value, list):
        return [_without_escalations(v) for v in value]
    return value


def _differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ, as `path: left != right` lines."""
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[str] = []
        for key in sorted(left.keys() | right.keys()):
            where = f"{path}.{key}" if path else key
            if key not in left or key not in right:
                out.append(f"{where}: only in the {'faulted' if key in left else 'replayed'} run")
            else:
                out += _differences(left[key], right[key], where)
        return out
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [
            d
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for d in _differences(a, b, f"{path}[{i}]")
        ]
    return [] if left == right else [f"{path}: {left!r} (faulted) != {right!r} (replayed)"]


def _without_link(body: str) -> str:
    lines = body.splitlines()
    return "\n".join(line for line in lines if not line.startswith(("https://", "http://")))


CHANNEL_FAULTS = ["429", "5xx", "timeout", "dead-token"]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("customer"), st.sampled_from("abc")),
        st.tuples(st.just("reply"), st.sampled_from("abc")),
        st.tuples(st.just("malformed"), st.just("")),
        st.tuples(st.just("poll"), st.sampled_from(["ok", "ok", "twice", "throttle", "crash"])),
        st.tuples(st.just("channel-fault"), st.sampled_from(CHANNEL_FAULTS)),
        st.tuples(
            st.just("check"), st.sampled_from(["ok", "fail", "crash", "concurrent", "throttle"])
        ),
        st.tuples(st.just("wait"), st.integers(min_value=1, max_value=90)),
    ),
    min_size=1,
    max_size=25,
)
# (fault, the write it strikes before: 1 to SUMMARY_WRITES, or SUMMARY_WRITES + 1 for the notice
# or, for a second delivery, after the first run ended). The aggregate, the last write, and what
# comes after it are drawn as often as all the files together.
summary_faults = st.tuples(
    st.sampled_from(SUMMARY_FAULTS),
    st.one_of(
        st.integers(min_value=1, max_value=SUMMARY_WRITES - 1),
        st.just(SUMMARY_WRITES),
        st.just(SUMMARY_WRITES + 1),
    ),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, seed=st.integers(min_value=0, max_value=2**16), summary=summary_faults)
# A checker dies holding the warning's lease and the reply comes before the lease ends: the
# fault-free ladder sent the warning, the faulted one never did. The summary run dies between
# its files and its aggregate, and is retried.
@example(
    script=[
        ("customer", "a"),
        ("poll", "ok"),
        ("wait", 31),
        ("check", "crash"),
        ("reply", "a"),
        ("poll", "ok"),
    ],
    seed=0,
    summary=("crash", SUMMARY_WRITES),
)
# The customer of thread a, late last week, waits too long again (at risk); the summary is
# delivered a second time while the first is between its files and its aggregate.
@example(
    script=[
        ("customer", "a"),
        ("customer", "b"),
        ("poll", "twice"),
        ("wait", 61),
        ("check", "concurrent"),
        ("reply", "a"),
        ("poll", "ok"),
    ],
    seed=1,
    summary=("twice", SUMMARY_WRITES),
)
def test_nothing_is_lost_or_repeated_under_faults(stack, script, seed, summary):
    _empty(stack)
    store = stack.store(stack.table)
    looking = stack.store(stack.table, clean=True)
    faults = Faults(seed)
    with faults.watching(stack.dynamodb, stack.s3):
        _run(stack, store, looking, faults, script, seed, summary)


def _run(
    stack: Stack,
    store: FaultedStore,
    looking: DynamoThreadStore,
    faults: Faults,
    script: list[tuple[str, Any]],
    seed: int,
    summary: tuple[str, int],
) -> None:
    channel = FaultyChannel()
    inbox = Inbox()
    minutes = 0
    replied: dict[str, int] = {}
    injected: Counter[str] = Counter()
    # What the replay does, in order: ("store", minutes, messages) or ("check", minutes, []).
    timeline: list[tuple[str, int, list[Message]]] = []
    stored: set[str] = set()

    def crash() -> None:
        faults.injected["crash between writes"] += 1
        raise Crash("killed between two writes")

    def poll() -> None:
        with contextlib.suppress(ReplySlaError, Crash):
            poll_account(ACCOUNT, channel, store, POLICY, ReplyToEveryInbound(), at(minutes))

    def polled() -> None:
        """Note which messages the faulted run has stored by now, for the replay."""
        valid = [m for m in channel.feed if isinstance(m, Message)]
        now_stored = looking.messages_stored(ACCOUNT.id, [m.message_id for m in valid])
        new = [m for m in valid if m.message_id in now_stored - stored]
        if new:
            timeline.append(("store", minutes, new))
            stored.update(now_stored)

    def check(mode: str = "ok", *, concurrent: bool = False) -> None:
        timeline.append(("check", minutes, []))
        notifier = Notifier(inbox, at(minutes), mode)
        if concurrent:
            notifier.before_publish = lambda: check_sla(
                store, Notifier(inbox, at(minutes)), POLICY, brands, at(minutes)
            )
        with contextlib.suppress(Crash, ReplySlaError):
            check_sla(store, notifier, POLICY, brands, at(minutes))

    try:
        for step, (op, arg) in enumerate(script):
            inbox.step = step
            # Platform ids of one width, so the feed's order is their order too.
            ids = {"message_id": f"m{step:03d}", "thread_id": arg}
            if op == "wait":
                minutes += arg
            elif op == "customer":
                channel.feed.append(inbound(minutes, author_id=f"cust-{arg}", **ids))
            elif op == "reply":
                channel.feed.append(outbound(minutes, **ids))
            elif op == "malformed":
                channel.feed.append(f"malformed-{step}")
                injected["malformed item"] += 1
            elif op == "channel-fault":
                channel.fault = arg
                injected[f"channel {arg}"] += 1
                poll()
                polled()
            elif op == "poll":
                open_before = {t.key for t in store.open_turns("acme")}
                if arg == "throttle":
                    faults.throttle = 0.3
                elif arg == "crash":
                    faults.at_write(random.Random(seed).randint(1, 4), crash)
                poll()
                if arg == "twice":
                    injected["duplicate SQS delivery"] += 1
                    poll()
                faults.calm()
                polled()
                for key in open_before - {t.key for t in store.open_turns("acme")}:
                    replied.setdefault(key, step)
            elif arg == "throttle":
                faults.throttle = 0.3
                check()
                faults.calm()
            else:
                if arg != "ok":
                    injected[f"check {arg}"] += 1
                check(arg, concurrent=arg == "concurrent")
    finally:
        faults.calm()

    # The faults stop; the schedule runs on: polls until the feed is stored, then checks.
    inbox.step = len(script)
    for _ in range(3):
        open_before = {t.key for t in store.open_turns("acme")}
        poll()
        polled()
        for key in open_before - {t.key for t in store.open_turns("acme")}:
            replied.setdefault(key, len(script))
    minutes += int(DEFAULT_LEASE.total_seconds() // 60) + 1
    check()
    minutes += 61
    check()

    # Every well-formed message served is stored exactly once; nothing was skipped.
    valid = [m.message_id for m in channel.feed if isinstance(m, Message)]
    assert store.messages_stored(ACCOUNT.id, valid) == set(valid)
    stored_items = [
        item
        for page in stack.clean_dynamodb.get_paginator("scan").paginate(
            TableName=stack.table,
            FilterExpression="begins_with(pk, :m)",
            ExpressionAttributeValues={":m": {"S": "MSG#"}},
        )
        for item in page["Items"]
    ]
    assert len(stored_items) == len(valid)

    # Every level of every turn: at most once, never early, never after the reply; an
    # unanswered turn has had every level due announced exactly once.
    announced: Counter[tuple[str, str]] = Counter()
    for note in inbox.seen:
        if note.kind != "resolved":
            for level in note.levels:
                announced[(note.turn, level)] += 1
    end = at(minutes)
    unanswered: set[tuple[str, int]] = set()
    for thread in "abc":
        seq = 1
        while (turn := store.get_turn(ACCOUNT.id, thread, seq)) is not None:
            seq += 1
            if turn.status is TurnStatus.OPEN:
                unanswered.add((thread, turn.seq))
            for level, due in POLICY.window(turn.kind, turn.opened_at, turn.priority).levels:
                count = announced[(turn.key, level)]
                # Sent, then its confirming write failed: sent again after the lease.
                resent = (turn.key, level) in store.unconfirmed
                assert count <= 1 or resent, f"{turn.key} {level} announced {count} times"
                for note in inbox.seen:
                    if note.kind != "resolved" and note.turn == turn.key and level in note.levels:
                        assert note.at >= due
                        if turn.key in replied:
                            assert note.step < replied[turn.key]
                if turn.status is TurnStatus.OPEN and due <= end:
                    assert count >= 1 if resent else count == 1, f"{turn.key} {level} lost"

    # A resolved notice names only levels whose message went out.
    for note in inbox.seen:
        if note.kind == "resolved":
            never_sent = [level for level in note.levels if not announced[(note.turn, level)]]
            assert not never_sent, f"{note.turn} resolved notice names unsent {never_sent}"

    # The Monday summary, as the stack runs it, under faults.
    notices = Notices()
    _weekly_summary_under_faults(stack, store, faults, notices, summary, injected)

    # The same week rebuilt from the events: the served messages replayed without faults.
    replay = stack.store(stack.replay_table, clean=True)
    replay_channel = ReplayChannel()
    replay_inbox = Inbox()
    for op, when, messages in timeline:
        if op == "store":
            for message in messages:  # one poll each: other batches than the faulted run's
                replay_channel.page = [message]
                poll_account(
                    ACCOUNT, replay_channel, replay, POLICY, ReplyToEveryInbound(), at(when)
                )
        else:
            check_sla(replay, Notifier(replay_inbox, at(when)), POLICY, brands, at(when))
    replay_notices = Notices()
    build_weekly_summary(
        "acme",
        "ACME",
        "UTC",
        WEEK,
        replay,
        stack.reports(stack.replay_bucket, clean=True),
        replay_notices,
        SUMMARY_AT,
    )

    # Each ladder's stored level events are the levels its managers were sent.
    fired, replay_fired = (
        _level_events(stack, stack.table),
        _level_events(stack, stack.replay_table),
    )
    sent = _announced(inbox)
    for thread, seq in sent.keys() | fired.keys():
        mine, recorded = sent.get((thread, seq), set()), fired.get((thread, seq), set())
        key = f"{ACCOUNT.id}:{thread}:{seq}"
        assert recorded <= mine, f"{key}: levels {recorded - mine} recorded, never sent"
        unrecorded = {level for level in mine - recorded if (key, level) not in store.unconfirmed}
        assert not unrecorded, f"{key}: levels {unrecorded} sent, never recorded"
    assert _announced(replay_inbox) == replay_fired
    _compare_summaries(
        stack, looking, replay, notices, replay_notices, unanswered, fired, replay_fired
    )

    TOTALS["examples"] += 1
    TOTALS["operations"] += len(script)
    TOTALS.update(injected)
    TOTALS.update(faults.injected)
    TOTALS["level sent, then its confirming write throttled out"] += len(store.unconfirmed)


def _weekly_summary_under_faults(
    stack: Stack,
    store: DynamoThreadStore,
    faults: Faults,
    notices: Notices,
    summary: tuple[str, int],
    injected: Counter[str],
) -> None:
    """The Monday run as the stack makes it: an asynchronous invocation with the schedule's time
    as `now`, retried twice by Lambda when it fails, then kept in the dead-letter queue until an
    operator replays it; EventBridge may deliver it twice, even while the first still runs."""
    mode, write = summary
    reports = stack.reports(stack.bucket)
    invocations = 0

    def invoke() -> bool:
        nonlocal invocations
        invocations += 1
        # As the handler does: `now` is the schedule's time (a retry runs minutes later on the
        # wall clock), the week is the last complete one before it in the brand's zone.
        now = scheduled_time(SCHEDULE_EVENT, lambda: SUMMARY_AT + timedelta(minutes=invocations))
        try:
            build_weekly_summary(
                "acme", "ACME", "UTC", previous_week(now, "UTC"), store, reports, notices, now
            )
        except (ReplySlaError, Crash):
            return False
        return True

    def crash() -> None:
        if write == SUMMARY_WRITES:
            injected["summary killed between its files and its aggregate"] += 1
        elif write == 1:
            injected["summary killed before its first file"] += 1
        else:
            injected["summary killed between two of its files"] += 1
        raise Crash(f"killed before write {write} of the summary")

    def second_delivery() -> None:
        if write > SUMMARY_WRITES:
            injected["summary delivered twice"] += 1
        else:
            injected["summary delivered twice, the second while the first runs"] += 1
        assert invoke(), "a second delivery of the summary failed with no fault injected"

    if mode == "throttle":
        faults.throttle, faults.throttled = 0.3, "summary: dynamodb throttled"
    elif mode == "crash" and write > SUMMARY_WRITES:
        injected["summary killed before its notice"] += 1
        notices.fault = "crash"
    elif mode == "crash":
        faults.at_write(write, crash)
    elif mode == "sns":
        injected["summary notice refused by SNS"] += 1
        notices.fault = "sns"
    elif mode == "twice" and write <= SUMMARY_WRITES:
        faults.at_write(write, second_delivery)
    for attempt in range(3):  # the invocation and Lambda's two retries
        if invoke():
            break
        if attempt < 2:
            injected["summary retried by Lambda"] += 1
    else:
        injected["summary dead-lettered, then replayed"] += 1
        faults.calm()
        assert invoke(), "the replayed summary failed with no fault injected"
    faults.calm()
    faults.throttled = "dynamodb throttled"
    if mode == "twice" and write > SUMMARY_WRITES:
        second_delivery()


def _compare_summaries(
    stack: Stack,
    looking: DynamoThreadStore,
    replay: DynamoThreadStore,
    notices: Notices,
    replay_notices: Notices,
    unanswered: set[tuple[str, int]],
    fired: dict[tuple[str, int], set[str]],
    replay_fired: dict[tuple[str, int], set[str]],
) -> None:
    """The invariant of the module's docstring, for the summary."""
    week, latest = week_prefix("acme", WEEK), latest_prefix("acme")
    files = _files(stack, stack.bucket, week, latest)
    replay_files = _files(stack, stack.replay_bucket, week)
    json_key = week + "summary.json"
    doc, replay_doc = json.loads(files[json_key]), json.loads(replay_files[json_key])
    aggregate = looking.week_aggregates("acme", [WEEK], [WEEK])[WEEK]
    replay_aggregate = replay.week_aggregates("acme", [WEEK], [WEEK])[WEEK]

    # Whatever crashed and ran again, the faulted bucket and table hold one summary: the files
    # and the latest/ copy are that document's rendering, the aggregate is that document's.
    rendered = summary_files(doc)
    for key, body in files.items():
        assert body == rendered[key.rsplit("/", 1)[1]], f"{key} is not summary.json's rendering"
    assert aggregate == week_aggregate(doc), "the stored aggregate is not summary.json's"

    # The ladders: equal for unanswered turns; the faulted one a subset for answered ones.
    fired, replay_fired = (
        _level_events(stack, stack.table),
        _level_events(stack, stack.replay_table),
    )
    for turn in fired.keys() | replay_fired.keys():
        mine, theirs = fired.get(turn, set()), replay_fired.get(turn, set())
        if turn in unanswered:
            assert mine == theirs, f"turn {turn} left unanswered: fired {mine}, replay {theirs}"
        else:
            assert mine <= theirs, f"answered turn {turn}: fired {mine}, replay only {theirs}"
    for summary, levels in ((doc, fired), (replay_doc, replay_fired)):
        counted = Counter(level for names in levels.values() for level in names)
        assert summary["metrics"]["escalations_sent"] == dict(sorted(counted.items()))

    if fired == replay_fired:
        differences = _differences(doc, replay_doc)
        assert not differences, "summary.json differs:\n" + "\n".join(differences[:20])
        assert aggregate == replay_aggregate, "\n".join(_differences(aggregate, replay_aggregate))
        for key, body in replay_files.items():
            assert files[key] == body, f"{key} differs from the replayed week's"
        TOTALS["summaries compared, equal"] += 1
    else:
        differences = _differences(_without_escalations(doc), _without_escalations(replay_doc))
        assert not differences, "summary.json differs:\n" + "\n".join(differences[:20])
        differences = _differences(
            _without_escalations(aggregate), _without_escalations(replay_aggregate)
        )
        assert not differences, "the aggregate differs:\n" + "\n".join(differences[:20])
        TOTALS["summaries compared, equal but levels of answered turns"] += 1

    # Every notice that went out says what the replayed week's says (but for its signed link).
    assert notices.sent, "no summary notice was sent"
    assert len(replay_notices.sent) == 1
    subject, body = replay_notices.sent[0]
    for sent_subject, sent_body in notices.sent:
        assert (sent_subject, _without_link(sent_body)) == (subject, _without_link(body))

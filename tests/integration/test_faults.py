"""Fault injection: polls and checks against moto while channels fail (429, 5xx, timeouts,
malformed items, dead tokens), DynamoDB throttles and fails conditions, SNS refuses, a poll
crashes between any two of its writes, SQS delivers a poll twice, and checkers overlap.

Invariants, after the faults stop and the schedule has run a while:
- every well-formed message a channel served is stored exactly once (so no cursor skipped);
- every ladder level of a turn left unanswered is announced exactly once, none before its due
  time, none after a reply (the interleaving test's rules, here under faults);

`make test` runs FAULT_EXAMPLES (default 300) examples; `make bench-faults` runs 10,000.
"""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Message, TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, LadderLevel, ReplyToEveryInbound
from reply_sla.errors import (
    ChannelAuthError,
    ChannelError,
    ChannelRateLimited,
    ReplySlaError,
)
from reply_sla.local.provision import provision_table
from reply_sla.ports import FetchResult
from reply_sla.services.checking import DEFAULT_LEASE, BrandView, check_sla
from reply_sla.services.polling import poll_account
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


class DynamoFaults:
    """A botocore hook: throttles at random, or kills the process at the n-th write."""

    def __init__(self, client: Any, rng: random.Random) -> None:
        self.rng = rng
        self.throttle = 0.0
        self.crash_at_write: int | None = None
        self.writes = 0
        self.injected: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb.*", self._before)

    def _before(self, model: Any, **_: Any) -> None:
        if self.throttle and self.rng.random() < self.throttle:
            self.injected["dynamodb throttled"] += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}},
                model.name,
            )
        if model.name in _WRITES and self.crash_at_write is not None:
            self.writes += 1
            if self.writes == self.crash_at_write:
                self.crash_at_write = None
                self.injected["crash between writes"] += 1
                raise Crash("killed between two writes")


@pytest.fixture(scope="module")
def table() -> Iterator[tuple[Any, str]]:
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
        name = f"replysla-faults-{uuid.uuid4().hex[:8]}"
        provision_table(session, None, TEMPLATE, name)
        yield session.client("dynamodb", region_name="us-east-1"), name
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _empty(client: Any, name: str) -> None:
    for page in client.get_paginator("scan").paginate(
        TableName=name, ProjectionExpression="pk, sk"
    ):
        for item in page["Items"]:
            client.delete_item(TableName=name, Key={"pk": item["pk"], "sk": item["sk"]})


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


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps, seed=st.integers(min_value=0, max_value=2**16))
def test_nothing_is_lost_or_repeated_under_faults(table, script, seed):
    client, name = table
    _empty(client, name)
    store = DynamoThreadStore(client, name, due_shards=2, sleep=lambda _s: None)
    faults = DynamoFaults(client, random.Random(seed))
    channel = FaultyChannel()
    inbox = Inbox()
    minutes = 0
    replied: dict[str, int] = {}
    injected: Counter[str] = Counter()

    def poll() -> None:
        with contextlib.suppress(ReplySlaError, Crash):
            poll_account(ACCOUNT, channel, store, POLICY, ReplyToEveryInbound(), at(minutes))

    def check(mode: str = "ok", *, concurrent: bool = False) -> None:
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
            if op == "wait":
                minutes += arg
            elif op == "customer":
                channel.feed.append(inbound(minutes, thread_id=arg))
            elif op == "reply":
                channel.feed.append(outbound(minutes, thread_id=arg))
            elif op == "malformed":
                channel.feed.append(f"malformed-{step}")
                injected["malformed item"] += 1
            elif op == "channel-fault":
                channel.fault = arg
                injected[f"channel {arg}"] += 1
                poll()
            elif op == "poll":
                open_before = {t.key for t in store.open_turns("acme")}
                if arg == "throttle":
                    faults.throttle = 0.3
                elif arg == "crash":
                    faults.writes, faults.crash_at_write = 0, random.Random(seed).randint(1, 4)
                poll()
                if arg == "twice":
                    injected["duplicate SQS delivery"] += 1
                    poll()
                faults.throttle, faults.crash_at_write = 0.0, None
                for key in open_before - {t.key for t in store.open_turns("acme")}:
                    replied.setdefault(key, step)
            elif arg == "throttle":
                faults.throttle = 0.3
                check()
                faults.throttle = 0.0
            else:
                if arg != "ok":
                    injected[f"check {arg}"] += 1
                check(arg, concurrent=arg == "concurrent")
    finally:
        faults.throttle, faults.crash_at_write = 0.0, None

    # The faults stop; the schedule runs on: polls until the feed is stored, then checks.
    inbox.step = len(script)
    for _ in range(3):
        open_before = {t.key for t in store.open_turns("acme")}
        poll()
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
        for page in client.get_paginator("scan").paginate(
            TableName=name,
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
    for thread in "abc":
        seq = 1
        while (turn := store.get_turn(ACCOUNT.id, thread, seq)) is not None:
            seq += 1
            for level, due in POLICY.window(turn.kind, turn.opened_at, turn.priority).levels:
                count = announced[(turn.key, level)]
                assert count <= 1, f"{turn.key} {level} announced {count} times"
                for note in inbox.seen:
                    if note.turn == turn.key and level in note.levels:
                        assert note.at >= due
                        if turn.key in replied:
                            assert note.step < replied[turn.key]
                if turn.status is TurnStatus.OPEN and due <= end:
                    assert count == 1, f"{turn.key} {level} lost"

    TOTALS["examples"] += 1
    TOTALS["operations"] += len(script)
    TOTALS.update(injected)
    TOTALS.update(faults.injected)

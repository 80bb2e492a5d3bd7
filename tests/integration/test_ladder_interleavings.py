"""Randomized interleavings of polls, replies, checks, retries, concurrent checkers and publish
failures against the DynamoDB store (moto): every ladder level announced at most once per turn,
never before it is due, never after the reply; for a turn left unanswered, every level due is
announced exactly once; a resolved notice follows an alerted turn's reply exactly once.

A checker that dies after claiming and before publishing loses nothing: its lease runs out and
a later check announces the levels. (A checker killed after SNS accepted a message and before
its confirming write is the one case that can announce twice; `test_store.py` pins that the
resend happens once, after the lease.)
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.adapters.sns_notifier import PublishFailed
from reply_sla.config import AccountConfig
from reply_sla.domain.models import TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, LadderLevel, ReplyToEveryInbound
from reply_sla.local.provision import provision_table
from reply_sla.ports import AttributeValue
from reply_sla.services.checking import DEFAULT_LEASE, BrandView, check_sla
from reply_sla.services.polling import poll_account
from tests.conftest import TEMPLATE, local_session
from tests.factories import at, inbound, outbound
from tests.fakes import FakeChannel

POLICY = FixedWindowPolicy(
    first_response_seconds=3600,
    next_response_seconds=3600,
    ladder=(
        LadderLevel(level="warning", fraction=0.5),
        LadderLevel(level="breach", fraction=1.0),
        LadderLevel(level="manager", fraction=1.0, offset_seconds=3600),
    ),
)
THREADS = ("a", "b", "c")
EXAMPLES = int(os.environ.get("LADDER_EXAMPLES", "60"))
TOTALS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _print_totals() -> Iterator[None]:
    yield
    print(f"\nladder interleavings: {dict(TOTALS)}")


def brands(_brand: str) -> BrandView:
    return BrandView(name="ACME", timezone="UTC")


class Crash(Exception):
    """The Lambda dies (not a publish error the checker handles)."""


@dataclass
class Announcement:
    at: datetime
    step: int
    kind: str
    turn: str
    levels: tuple[str, ...]


@dataclass
class Inbox:
    """Everything that reached the topic, per turn and level."""

    seen: list[Announcement] = field(default_factory=list)
    messages: int = 0
    step: int = 0  # the script step being run, to order announcements against replies

    def record(self, now: datetime, body: str, attributes: Mapping[str, AttributeValue]) -> None:
        self.messages += 1
        kind = str(attributes.get("kind"))
        if kind == "resolved":
            turn = re.search(r"Turn id: (\S+)", body)
            assert turn is not None
            named = attributes.get("level")
            alerted = tuple(named) if isinstance(named, list | tuple) else (str(named),)
            self.seen.append(Announcement(now, self.step, kind, turn.group(1), alerted))
            return
        levels: tuple[str, ...] = ()
        for line in body.splitlines():
            level = re.match(r"\s*Level:?\s+(\w+)(?: \(also past ([\w, ]+?)(?::|\)))?", line)
            if level:
                folded = tuple(x.strip() for x in (level.group(2) or "").split(",") if x.strip())
                levels = (*folded, level.group(1))
            turn = re.search(r"Turn id: (\S+)", line)
            if turn:
                self.seen.append(Announcement(now, self.step, kind, turn.group(1), levels))


@dataclass
class Notifier:
    inbox: Inbox
    now: datetime
    mode: str = "ok"  # ok | fail | crash
    before_publish: Any = None

    def publish(self, subject: str, body: str, attributes: Mapping[str, AttributeValue]) -> str:
        if self.before_publish is not None:
            hook, self.before_publish = self.before_publish, None
            hook()
        if self.mode == "fail":
            raise PublishFailed("SNS throttled (injected)")
        if self.mode == "crash":
            raise Crash("killed before publishing")
        self.inbox.record(self.now, body, attributes)
        return f"m{self.inbox.messages}"


@pytest.fixture(scope="module")
def table(aws_env_module: None) -> Iterator[tuple[Any, str]]:
    from moto import mock_aws

    with mock_aws():
        session = local_session()
        name = f"replysla-ladder-{uuid.uuid4().hex[:8]}"
        provision_table(session, None, TEMPLATE, name)
        yield session.client("dynamodb", region_name="us-east-1"), name


@pytest.fixture(scope="module")
def aws_env_module() -> Iterator[None]:
    keys = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    yield
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


steps = st.lists(
    st.one_of(
        st.tuples(st.just("customer"), st.sampled_from(THREADS)),
        st.tuples(st.just("reply"), st.sampled_from(THREADS)),
        st.tuples(
            st.just("check"),
            st.sampled_from(["ok", "ok", "fail", "crash", "concurrent", "retry"]),
        ),
        st.tuples(st.just("wait"), st.integers(min_value=1, max_value=100)),
    ),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
def test_every_level_is_announced_once_never_early_never_after_the_reply(table, script):
    client, name = table
    _empty(client, name)
    store = DynamoThreadStore(client, name, due_shards=2, sleep=lambda _s: None)
    account = AccountConfig(
        id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "x"}
    )
    channel = FakeChannel([])
    inbox = Inbox()
    minutes = 0
    replied_at: dict[str, int] = {}  # turn key -> the step that stored the reply
    faults = Counter[str]()

    def now() -> datetime:
        return at(minutes)

    def poll() -> None:
        poll_account(account, channel, store, POLICY, ReplyToEveryInbound(), now())

    def check(mode: str = "ok", *, concurrent: bool = False) -> None:
        notifier = Notifier(inbox, now(), mode)
        if concurrent:
            # A second checker runs to completion while the first holds its claims.
            notifier.before_publish = lambda: check_sla(
                store, Notifier(inbox, now()), POLICY, brands, now()
            )
        with contextlib.suppress(Crash):
            check_sla(store, notifier, POLICY, brands, now())

    for step, (op, arg) in enumerate(script):
        inbox.step = step
        if op == "wait":
            minutes += arg
        elif op == "customer":
            channel.messages.append(inbound(minutes, thread_id=arg))
            poll()
        elif op == "reply":
            open_before = {t.key for t in store.open_turns("acme")}
            channel.messages.append(outbound(minutes, thread_id=arg))
            poll()
            for key in open_before - {t.key for t in store.open_turns("acme")}:
                replied_at[key] = step
        elif arg == "retry":
            check()
            check()  # the same scheduled run delivered again
        else:
            if arg != "ok":
                faults[arg] += 1
            check(arg, concurrent=arg == "concurrent")

    inbox.step = len(script)
    # Drain with SNS healthy: past every lease, then past every level of every open turn.
    minutes += int(DEFAULT_LEASE.total_seconds() // 60) + 1
    check()
    minutes += 121
    check()
    end = now()
    TOTALS["examples"] += 1
    TOTALS["operations"] += len(script)
    TOTALS.update(faults)
    TOTALS["messages published"] += inbox.messages

    announced: Counter[tuple[str, str]] = Counter()
    resolved: Counter[str] = Counter()
    for note in inbox.seen:
        if note.kind == "resolved":
            resolved[note.turn] += 1
            continue
        for level in note.levels:
            announced[(note.turn, level)] += 1
    turns = {t.key: t for t in _all_turns(store)}
    for key, turn in turns.items():
        ladder = dict(POLICY.window(turn.kind, turn.opened_at, turn.priority).levels)
        for level, due in ladder.items():
            count = announced[(key, level)]
            assert count <= 1, f"{key} {level} announced {count} times"
            for note in inbox.seen:
                if note.kind != "resolved" and note.turn == key and level in note.levels:
                    assert note.at >= due, f"{key} {level} announced before it was due"
                    if key in replied_at:
                        assert note.step < replied_at[key], f"{key} {level} after the reply"
            if turn.status is TurnStatus.OPEN and due <= end:
                assert count == 1, f"{key} {level} lost (due {due}, never announced)"
        alerted = any(announced[(key, level)] for level in ladder)
        assert resolved[key] <= 1
        for note in inbox.seen:
            if note.kind == "resolved" and note.turn == key:
                # A resolved notice names only levels whose message went out
                never_sent = [level for level in note.levels if not announced[(key, level)]]
                assert not never_sent, f"{key} resolved notice names unsent {never_sent}"
        if key in replied_at and alerted:
            assert resolved[key] == 1, f"{key} answered after an alert, but no resolved notice"


def test_a_checker_killed_after_sns_accepted_resends_once_after_its_lease(table):
    client, name = table
    _empty(client, name)
    store = DynamoThreadStore(client, name, due_shards=2, sleep=lambda _s: None)
    account = AccountConfig(
        id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "x"}
    )
    poll_account(
        account,
        FakeChannel([inbound(0, thread_id="a")]),
        store,
        POLICY,
        ReplyToEveryInbound(),
        at(1),
    )
    inbox = Inbox()

    class KilledAfterPublish(Notifier):
        def publish(self, subject: str, body: str, attributes: Any) -> str:
            super().publish(subject, body, attributes)
            raise Crash("killed after SNS accepted the message")

    # Given a checker killed after SNS accepted the warning, before its confirming write
    with contextlib.suppress(Crash):
        check_sla(store, KilledAfterPublish(inbox, at(31)), POLICY, brands, at(31))
    assert len(inbox.seen) == 1
    # When Lambda retries the run within the lease, Then nothing is sent again
    check_sla(store, Notifier(inbox, at(32)), POLICY, brands, at(32))
    assert len(inbox.seen) == 1
    # And when the lease has run out, the level is sent once more (it may have been lost), once
    lease_end = at(31) + DEFAULT_LEASE
    check_sla(store, Notifier(inbox, lease_end), POLICY, brands, lease_end)
    check_sla(store, Notifier(inbox, lease_end), POLICY, brands, lease_end)
    assert [n.levels for n in inbox.seen] == [("warning",), ("warning",)]


def _all_turns(store: DynamoThreadStore) -> list[Any]:
    turns = []
    for thread in THREADS:
        seq = 1
        while (turn := store.get_turn("acme-mastodon", thread, seq)) is not None:
            turns.append(turn)
            seq += 1
    return turns

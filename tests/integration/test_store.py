"""The DynamoDB store and the services on it, against moto and AWS's DynamoDB Local."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.config import AccountConfig
from reply_sla.domain.models import TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.errors import StoreConflict
from reply_sla.local.provision import provision_table
from reply_sla.services.checking import BrandView, check_sla
from reply_sla.services.polling import poll_account
from tests.conftest import TEMPLATE, local_session
from tests.factories import at, inbound, outbound
from tests.fakes import FakeChannel, RecordingNotifier

ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "x"}
)
POLICY = FixedWindowPolicy()
TRIAGE = ReplyToEveryInbound()


class RequestCounter:
    """Counts DynamoDB API calls made through one client, by operation."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def writes(self) -> int:
        return sum(
            n
            for op, n in self.calls.items()
            if op in {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem"}
        )


@pytest.fixture(params=["moto", "dynamodb_local"])
def backend(request: pytest.FixtureRequest, aws_env: None) -> Iterator[tuple[Any, str]]:
    name = f"replysla-test-{uuid.uuid4().hex[:8]}"
    if request.param == "moto":
        from moto import mock_aws

        with mock_aws():
            session = local_session()  # made inside the mock, so botocore routes to moto
            provision_table(session, None, TEMPLATE, name)
            yield session.client("dynamodb", region_name="us-east-1"), name
    else:
        endpoint = request.getfixturevalue("dynamodb_local")
        session = local_session()
        provision_table(session, endpoint, TEMPLATE, name)
        yield session.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint), name


@pytest.fixture
def store(backend: tuple[Any, str]) -> DynamoThreadStore:
    client, table = backend
    return DynamoThreadStore(client, table, due_shards=4, sleep=lambda _s: None)


def poll(store: DynamoThreadStore, channel: FakeChannel, minutes: float):
    return poll_account(ACCOUNT, channel, store, POLICY, TRIAGE, at(minutes))


def test_polling_a_page_twice_stores_nothing_new(store: DynamoThreadStore, backend):
    # Given a page with two threads, one answered, stored once
    channel = FakeChannel(
        [inbound(0, thread_id="a"), inbound(1, thread_id="b"), outbound(5, thread_id="a")]
    )
    first = poll(store, channel, 10)
    assert first.stored == 3 and first.turns_opened == 2 and first.turns_answered == 1
    # When the same page is served again (as if the cursor had not moved) and polled
    store.save_cursors(ACCOUNT.id, {"all": "0"}, at(10))
    counter = RequestCounter(backend[0])
    second = poll(store, channel, 11)
    # Then nothing is stored or opened again, and the only write is the cursor
    assert second.stored == 0 and second.already_stored == 3 and second.turns_opened == 0
    assert counter.writes() == 1 and counter.calls["PutItem"] == 1
    # And exactly one turn is still waiting in the due index
    due = store.due_turns(at(200))
    assert [(t.thread_id, t.seq) for t in due] == [("b", 1)]


def test_due_index_holds_open_turns_until_their_level_is_due(store: DynamoThreadStore):
    # Given a question at 09:00 (first response due 10:00)
    poll(store, FakeChannel([inbound(0, thread_id="q")]), 1)
    # When the checker looks before and after the deadline
    # Then the turn is invisible before 10:00 and due from 10:00
    assert store.due_turns(at(59)) == []
    [turn] = store.due_turns(at(60))
    assert turn.next_level == "breach" and turn.status is TurnStatus.OPEN


def test_reply_removes_turn_from_due_and_open_indexes(store: DynamoThreadStore):
    # Given an open turn stored by a first poll
    channel = FakeChannel([inbound(0, thread_id="q")])
    poll(store, channel, 1)
    assert len(store.open_turns("acme")) == 1
    # When the brand's reply arrives in the next poll
    channel.messages.append(outbound(30, thread_id="q"))
    report = poll(store, channel, 31)
    # Then the turn is answered and leaves both sparse indexes
    assert report.turns_answered == 1
    assert store.due_turns(at(500)) == []
    assert store.open_turns("acme") == []
    _, turns, events = store.week_items("acme", "2026-W47")
    assert [t.status for t in turns] == [TurnStatus.ANSWERED]
    # And its events are in the thread, not in the week index (no summary reads them there)
    assert events == []
    thread = store.thread_events(ACCOUNT.id, "q")
    assert [e.type.value for e in thread] == ["turn_opened", "replied"]


def test_reply_to_unknown_parent_is_threaded_by_the_channel_root(store: DynamoThreadStore):
    # Given a reply whose parent was never stored, When polled
    channel = FakeChannel([inbound(0, thread_id=None, parent_id="p9")], roots={})
    channel.roots[channel.messages[0].message_id] = "root-1"
    poll(store, channel, 1)
    # Then the channel is asked for the root once and the turn belongs to that thread
    assert channel.root_calls == 1
    assert [t.thread_id for t in store.open_turns("acme")] == ["root-1"]


def test_reply_to_a_stored_message_joins_its_thread_without_asking_the_channel(store):
    # Given a stored root message
    root = inbound(0, thread_id="root-7", message_id="m-root")
    poll(store, FakeChannel([root]), 1)
    # When a brand reply to it (thread unknown to the adapter) is polled
    reply = outbound(10, thread_id=None, parent_id="m-root")
    channel = FakeChannel([root, reply])
    poll(store, channel, 11)
    # Then it closes the turn of that thread, with no call to the channel
    assert channel.root_calls == 0
    assert store.open_turns("acme") == []


def test_cursor_does_not_move_when_storing_fails(store: DynamoThreadStore, monkeypatch):
    # Given a page of two threads, and a table that fails on the second thread
    channel = FakeChannel([inbound(0, thread_id="a"), inbound(1, thread_id="b")])
    original = store.save_thread
    calls = {"n": 0}

    def flaky(state, *args, **kwargs):
        calls["n"] += 1
        if state.thread_id == "b":
            raise RuntimeError("table unavailable")
        return original(state, *args, **kwargs)

    monkeypatch.setattr(store, "save_thread", flaky)
    # When the poll fails
    with pytest.raises(RuntimeError):
        poll(store, channel, 2)
    # Then the cursor has not moved
    assert store.cursors(ACCOUNT.id) == {}
    # And a later poll stores what was missing, once
    monkeypatch.setattr(store, "save_thread", original)
    report = poll(store, channel, 3)
    assert report.already_stored == 1 and report.stored == 1
    assert store.cursors(ACCOUNT.id) == {"all": "2"}
    assert sorted(t.thread_id for t in store.open_turns("acme")) == ["a", "b"]


def test_stale_thread_version_is_a_conflict(store: DynamoThreadStore):
    # Given a thread stored once
    poll(store, FakeChannel([inbound(0, thread_id="c")]), 1)
    state, _ = store.load_threads(ACCOUNT.id, ["c"])["c"]
    # When a writer that read version 0 tries to write
    stale = state.model_copy(update={"version": 0})
    # Then the transaction is refused and nothing is written
    with pytest.raises(StoreConflict):
        store.save_thread(stale, [inbound(5, thread_id="c")], [], [], [], at(6))
    assert store.messages_stored(ACCOUNT.id, ["never"]) == set()


def test_level_is_claimed_once(store: DynamoThreadStore):
    # Given a due turn
    poll(store, FakeChannel([inbound(0, thread_id="d")]), 1)
    [turn] = store.due_turns(at(61))
    # When two checkers claim the breach level
    # Then only the first wins
    lease = at(71)
    assert store.claim_levels(turn, ["breach"], at(61), lease) is True
    assert store.claim_levels(turn, ["breach"], at(61), lease) is False
    # And once confirmed the turn leaves the due index for good
    store.confirm_levels(turn, lease, None, [])
    assert store.due_turns(at(500)) == []


def test_a_claim_not_confirmed_comes_back_when_its_lease_runs_out(store: DynamoThreadStore):
    # Given a checker that claimed a level and died before publishing
    poll(store, FakeChannel([inbound(0, thread_id="l")]), 1)
    [turn] = store.due_turns(at(61))
    assert store.claim_levels(turn, ["breach"], at(61), at(71))
    # Then no other checker sees it during the lease
    assert store.due_turns(at(70)) == []
    # And after the lease the next check publishes it, once
    notifier = RecordingNotifier()
    brands = lambda _b: BrandView(name="ACME", timezone="UTC")  # noqa: E731
    report = check_sla(store, notifier, POLICY, brands, at(71))
    assert report.fired == 1 and len(notifier.published) == 1
    assert check_sla(store, notifier, POLICY, brands, at(200)).fired == 0
    _, _, events = store.week_items("acme", "2026-W47")
    assert [e.type.value for e in events].count("breached") == 1


def turn_ids(notifier: RecordingNotifier) -> list[str]:
    """The turn ids every published escalation or digest announced, in order."""
    return [
        line.split("Turn id:", 1)[1].strip()
        for _, body, _ in notifier.published
        for line in body.splitlines()
        if "Turn id:" in line
    ]


@pytest.fixture
def real_store(aws_env: None, dynamodb_local: str) -> DynamoThreadStore:
    """DynamoDB Local only: moto applies conditional writes without isolation between threads,
    so races are tested on the real engine."""
    session = local_session()
    name = f"replysla-race-{uuid.uuid4().hex[:8]}"
    provision_table(session, dynamodb_local, TEMPLATE, name)
    client = session.client("dynamodb", region_name="us-east-1", endpoint_url=dynamodb_local)
    return DynamoThreadStore(client, name, due_shards=4)


def test_concurrent_checks_publish_each_escalation_once(real_store: DynamoThreadStore):
    store = real_store
    # Given 12 overdue turns
    poll(store, FakeChannel([inbound(i, thread_id=f"t{i}") for i in range(12)]), 13)
    notifier = RecordingNotifier(delay=0.01)
    brands = lambda _b: BrandView(name="ACME", timezone="Europe/Madrid")  # noqa: E731
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        check_sla(store, notifier, POLICY, brands, at(120))

    # When two checkers run at the same time
    workers = [threading.Thread(target=run) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    # Then every turn's breach was published exactly once (in one or two digests, depending
    # on how the checkers interleaved), and a third run publishes nothing
    announced = turn_ids(notifier)
    assert len(announced) == 12 and len(set(announced)) == 12
    check_sla(store, notifier, POLICY, brands, at(121))
    assert len(turn_ids(notifier)) == 12
    _, _, events = store.week_items("acme", "2026-W47")
    assert Counter(e.type.value for e in events)["breached"] == 12


def test_failed_publish_is_retried_by_the_next_check(store: DynamoThreadStore):
    # Given an overdue turn and SNS failing
    poll(store, FakeChannel([inbound(0, thread_id="e")]), 1)
    failing = RecordingNotifier(fail=True)
    brands = lambda _b: BrandView(name="ACME", timezone="UTC")  # noqa: E731
    report = check_sla(store, failing, POLICY, brands, at(70))
    assert report.publish_failed == 1
    # When SNS recovers and the next check runs
    working = RecordingNotifier()
    report = check_sla(store, working, POLICY, brands, at(71))
    # Then the escalation goes out once
    assert report.fired == 1 and len(working.published) == 1
    subject, _, attributes = working.published[0]
    assert attributes["level"] == "breach" and attributes["brand"] == "acme"
    assert len(subject) < 100 and "1h 11m" in subject


def test_reply_before_check_cancels_the_escalation(store: DynamoThreadStore):
    # Given a turn that becomes due, and a reply polled before the checker claims it
    channel = FakeChannel([inbound(0, thread_id="f")])
    poll(store, channel, 1)
    [due_turn] = store.due_turns(at(65))
    channel.messages.append(outbound(64, thread_id="f"))
    poll(store, channel, 65)
    # When the checker (holding the stale due item) tries to claim
    # Then the claim fails: a closed turn never escalates
    assert store.claim_levels(due_turn, ["breach"], at(65), at(75)) is False


def test_week_items_include_turns_due_this_week_opened_last_week(store: DynamoThreadStore):
    # Given a question on Sunday 23:30 UTC of week 46, due Monday 00:30 of week 47
    sunday = at(0) - timedelta(hours=9, minutes=30)
    msg = inbound(0, thread_id="g").model_copy(update={"created_at": sunday})
    poll(store, FakeChannel([msg]), 1)
    # When week 47 is read
    messages, turns, _ = store.week_items("acme", "2026-W47")
    # Then the turn is there (due in week 47), but its message counts for week 46
    assert [t.thread_id for t in turns] == ["g"]
    assert messages == []
    assert len(store.week_items("acme", "2026-W46")[0]) == 1


def test_requests_per_stored_message(store: DynamoThreadStore, backend):
    # Given 50 threads of a question and an answer each (100 messages), When polled at once
    msgs = []
    for i in range(50):
        msgs += [inbound(i, thread_id=f"r{i}"), outbound(i + 30, thread_id=f"r{i}")]
    counter = RequestCounter(backend[0])
    report = poll(store, FakeChannel(msgs), 200)
    total = sum(counter.calls.values())
    # Then the cost per message stays small: one transaction per thread plus batched reads
    assert report.stored == 100
    per_message = total / report.stored
    print(f"\nDynamoDB requests per stored message: {per_message:.2f} {dict(counter.calls)}")
    assert per_message <= 1.0


def test_quiet_hours_hold_the_level_in_the_due_index_until_the_opening(store: DynamoThreadStore):
    from reply_sla.domain.alerts import AlertHours
    from reply_sla.domain.business_time import BusinessCalendar, CalendarConfig

    office = BusinessCalendar.from_config(
        CalendarConfig(timezone="UTC", hours={"mon": ["08:00-18:00"], "tue": ["08:00-18:00"]})
    )
    hours = AlertHours(office)
    brands = lambda _b: BrandView(name="ACME", timezone="UTC")  # noqa: E731
    # Given a turn opened Monday 17:30 UTC, due 18:30 (after the office closes)
    late = inbound(0, thread_id="q").model_copy(update={"created_at": at(8 * 60 + 30)})
    poll(store, FakeChannel([late]), 8 * 60 + 31)
    notifier = RecordingNotifier()
    # When the checker runs at 19:00 (quiet hours)
    report = check_sla(store, notifier, POLICY, brands, at(10 * 60), hours)
    # Then nothing is sent and the level waits until Tuesday 08:00 in the due index
    assert report.held == 1 and notifier.published == []
    assert store.due_turns(at(10 * 60 + 1)) == []
    tuesday_0800 = at(23 * 60)
    assert store.next_due_at() == tuesday_0800
    # And at the opening it goes out once
    report = check_sla(store, notifier, POLICY, brands, tuesday_0800, hours)
    assert report.fired == 1 and len(notifier.published) == 1


def test_a_moved_deadline_is_stored_and_the_due_index_follows(store: DynamoThreadStore):
    from reply_sla.domain.models import Priority

    # Given a stored turn due at +60 min
    poll(store, FakeChannel([inbound(0, thread_id="p")]), 1)
    state, turn = store.load_threads(ACCOUNT.id, ["p"])["p"]
    assert turn is not None
    # When the clock raises its priority and pulls its deadline in to +30 min
    raised = turn.model_copy(
        update={"priority": Priority.HIGH, "due_at": at(30), "next_level_at": at(30)}
    )
    store.save_thread(state, [], [], [raised], [], at(5))
    # Then the due index holds it at +30 with the new priority
    [due] = store.due_turns(at(31))
    assert due.priority is Priority.HIGH and due.due_at == at(30)


def test_a_deadline_move_conflicts_with_a_level_fired_since_the_read(store: DynamoThreadStore):
    # Given a turn read by a poll, then claimed by a checker
    poll(store, FakeChannel([inbound(0, thread_id="k")]), 1)
    state, turn = store.load_threads(ACCOUNT.id, ["k"])["k"]
    assert turn is not None
    [due] = store.due_turns(at(61))
    assert store.claim_levels(due, ["breach"], at(61), at(71))
    # When the poll writes its (stale) ladder fields
    # Then the write conflicts and nothing is overwritten
    with pytest.raises(StoreConflict):
        store.save_thread(state, [], [], [turn.model_copy(update={"inbound_count": 2})], [], at(62))
    assert store.get_turn(ACCOUNT.id, "k", 1).claimed_levels == ("breach",)

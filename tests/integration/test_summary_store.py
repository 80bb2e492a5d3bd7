"""What a weekly summary reads of the table and stores in it, on moto and DynamoDB Local.

The week's reads are key ranges of the `week` index: the items read are the week's own (turns
due in the week that opened earlier come from a key range of the earlier week, never a filter),
and the weekly aggregates round-trip whatever their size.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.adapters.dynamodb_store import SUMMARY_EVENTS, DynamoThreadStore
from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, EventType, Message, TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.domain.summary import WeekFacts, WeekRecords, weekly_summary
from reply_sla.domain.weeks import week_bounds
from reply_sla.local.provision import provision_table
from reply_sla.services.actions import parse_turn_key, snooze_turn
from reply_sla.services.polling import poll_account
from tests.conftest import TEMPLATE, local_session
from tests.fakes import FakeChannel

ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "x"}
)
# Weeks in UTC (the store's zone when none is configured): W47 is Mon 16 - Sun 22 Nov 2026.
W46_SUNDAY = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)
W47_TUESDAY = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["moto", "dynamodb_local"])
def store(request: pytest.FixtureRequest, aws_env: None) -> Iterator[DynamoThreadStore]:
    name = f"replysla-summary-{uuid.uuid4().hex[:8]}"
    if request.param == "moto":
        from moto import mock_aws

        with mock_aws():
            session = local_session()
            provision_table(session, None, TEMPLATE, name)
            client = session.client("dynamodb", region_name="us-east-1")
            yield DynamoThreadStore(client, name, sleep=lambda _s: None)
    else:
        endpoint = request.getfixturevalue("dynamodb_local")
        session = local_session()
        provision_table(session, endpoint, TEMPLATE, name)
        client = session.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        yield DynamoThreadStore(client, name, sleep=lambda _s: None)


def msg(
    thread: str, when: datetime, direction: Direction = Direction.INBOUND, n: int = 0
) -> Message:
    outbound = direction is Direction.OUTBOUND
    return Message(
        brand="acme",
        account_id=ACCOUNT.id,
        channel="mastodon",
        message_id=f"{thread}-{'o' if outbound else 'i'}{n}",
        thread_id=thread,
        parent_id=f"{thread}-i0" if outbound else None,
        author_id="brand" if outbound else f"cust-{thread}",
        created_at=when,
        text="hello" if not outbound else "hi",
        direction=direction,
    )


def poll(store: DynamoThreadStore, channel: FakeChannel, now: datetime) -> None:
    poll_account(ACCOUNT, channel, store, FixedWindowPolicy(), ReplyToEveryInbound(), now)


def two_weeks(store: DynamoThreadStore) -> None:
    """40 answered threads on the Sunday of W46, one question late that Sunday (due in W47),
    and 12 threads in W47 (8 answered)."""
    channel = FakeChannel([])
    for i in range(40):
        asked = W46_SUNDAY + timedelta(minutes=10 * i)
        channel.messages += [
            msg(f"a{i}", asked),
            msg(f"a{i}", asked + timedelta(minutes=5), Direction.OUTBOUND),
        ]
    channel.messages.append(msg("cross", datetime(2026, 11, 15, 23, 30, tzinfo=UTC)))
    poll(store, channel, datetime(2026, 11, 15, 23, 45, tzinfo=UTC))
    for i in range(12):
        asked = W47_TUESDAY + timedelta(minutes=30 * i)
        channel.messages.append(msg(f"b{i}", asked))
        if i < 8:
            channel.messages.append(msg(f"b{i}", asked + timedelta(minutes=20), Direction.OUTBOUND))
    poll(store, channel, W47_TUESDAY + timedelta(hours=8))


def test_a_week_reads_its_own_items_and_the_turns_due_in_it_only(store: DynamoThreadStore):
    # Given 41 turns opened in W46 (one due in W47) and 12 opened in W47
    two_weeks(store)
    # When the summary reads W47
    records = store.week_records("acme", "2026-W47")
    # Then it has the week's turns and the one due in it from the week before
    turns = {t.thread_id for t in records.turns}
    assert turns == {f"b{i}" for i in range(12)} | {"cross"}
    # and every item it read is one of them, or a message or a counted event of the week
    assert len(records.inbound) == 12 and len(records.outbound) == 8
    wanted = len(records.inbound) + len(records.outbound) + len(records.turns)
    assert records.items_read == wanted + len(records.events)
    # the 40 turns of W46 not due in W47 were not read: turns read <= the week's turns + 1 %
    assert len(records.turns) <= 13 * 1.01
    # And no event it does not count was read
    assert {e.type for e in records.events} <= set(SUMMARY_EVENTS)


def test_week_items_gives_inbound_messages_turns_and_the_events_a_summary_counts(
    store: DynamoThreadStore,
):
    two_weeks(store)
    inbound, turns, events = store.week_items("acme", "2026-W47")
    assert len(inbound) == 12
    assert len(turns) == 13
    # Turns opened and answered make only `turn_opened` and `replied` events, which stay out
    # of the week index (a write and a copy saved per event)...
    assert events == []
    # ...and are still recorded in their threads
    stored = [store.thread_events(t.account_id, t.thread_id) for t in turns]
    assert {e.type for thread in stored for e in thread} == {
        EventType.TURN_OPENED,
        EventType.REPLIED,
    }


def test_messages_are_read_without_their_text(store: DynamoThreadStore):
    two_weeks(store)
    records = store.week_records("acme", "2026-W47")
    assert all(m.text == "" for m in [*records.inbound, *records.outbound])
    assert {m.direction for m in records.outbound} == {Direction.OUTBOUND}
    assert all(m.parent_id for m in records.outbound)
    # read as stdlib UTC datetimes (the summary's fast path)
    assert all(m.created_at.tzinfo is UTC for m in records.inbound)
    assert all(t.due_at.tzinfo is UTC for t in records.turns)


def test_a_snooze_that_moves_a_deadline_into_the_next_week_moves_the_turn_there(
    store: DynamoThreadStore,
):
    # Given a question on Sunday 22:00 UTC, due at 23:00 in W46
    asked = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    poll(store, FakeChannel([msg("late", asked)]), asked + timedelta(minutes=1))
    assert "late" not in {t.thread_id for t in store.week_records("acme", "2026-W48").turns}
    # When it is snoozed at 22:30 for two hours (the deadline moves to Monday 01:00, W48)
    ref = parse_turn_key(f"{ACCOUNT.id}:late:1")
    snooze_turn(
        store,
        FixedWindowPolicy(),
        ref,
        asked + timedelta(hours=2, minutes=30),
        "waiting for the order number",
        "sam",
        asked + timedelta(minutes=30),
    )
    # Then W48 reads it as due in W48, and W47 still as opened in W47
    [moved] = [t for t in store.week_records("acme", "2026-W48").turns if t.thread_id == "late"]
    assert moved.due_at == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert "late" in {t.thread_id for t in store.week_records("acme", "2026-W47").turns}
    # and the snooze is among the week's events the summary counts
    snoozes = [
        e for e in store.week_records("acme", "2026-W47").events if e.type.value == "snoozed"
    ]
    assert snoozes and snoozes[0].detail["by"] == "sam"


def test_the_week_read_as_columns_gives_the_summary_of_the_week_read_as_models(
    store: DynamoThreadStore,
):
    # Given two weeks of turns, one of them snoozed (its waits are measured from its pauses)
    two_weeks(store)
    snooze_turn(
        store,
        FixedWindowPolicy(),
        parse_turn_key(f"{ACCOUNT.id}:b9:1"),
        W47_TUESDAY + timedelta(hours=9),
        "checking with the warehouse",
        "sam",
        W47_TUESDAY + timedelta(hours=5),
    )
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    # When W47 is read once as models and once straight into columns
    models = store.week_records("acme", "2026-W47")
    columns = store.week_records("acme", "2026-W47", as_columns=True)
    # Then the columns hold every message and turn, and no model list is filled
    assert columns.columns is not None
    assert not (columns.inbound or columns.outbound or columns.turns)
    [week] = columns.columns.accounts.values()
    assert len(week.inbound_at) == len(models.inbound) == 12
    assert len(week.post_at) == len(models.outbound) == 8
    assert len(week.status) == len(models.turns) == 13
    assert columns.items_read == models.items_read
    # and the summary made from either is the same document

    def summary(records: WeekRecords) -> dict[str, Any]:
        start, end = week_bounds("2026-W47", "UTC")
        facts = WeekFacts.of_records(
            records,
            start=start,
            end=end,
            now=now,
            open_turns=store.overdue_turns("acme", now),
            timezone="UTC",
        )
        return weekly_summary(
            facts, brand="acme", brand_name="Acme", week="2026-W47", timezone="UTC"
        )

    from_columns, from_models = summary(columns), summary(models)
    assert from_columns["metrics"]["turns_opened"] == 12
    assert from_columns["metrics"]["pause_audit"] == from_models["metrics"]["pause_audit"]
    assert from_columns == from_models


def test_overdue_turns_are_the_open_turns_past_their_deadline(store: DynamoThreadStore):
    two_weeks(store)
    # At Tuesday 12:00 the W47 questions asked before 11:00 and unanswered are overdue
    now = W47_TUESDAY + timedelta(hours=3)
    overdue = store.overdue_turns("acme", now)
    assert all(t.status is TurnStatus.OPEN and t.due_at < now for t in overdue)
    assert {t.thread_id for t in overdue} == {"cross"}
    later = store.overdue_turns("acme", W47_TUESDAY + timedelta(days=1))
    assert {t.thread_id for t in later} == {"cross", "b8", "b9", "b10", "b11"}


def _aggregate(week: str, authors: int) -> dict[str, Any]:
    return {
        "aggregate_version": 1,
        "week": week,
        "generated_at": "2026-11-23T06:00:00+00:00",
        "scopes": {"brand": {"turns_opened": authors, "sla_attainment": 0.75}},
        "escalations": {"brand": {"breach": 2}},
        "breach_authors": [
            {
                "account": "acme-x",
                "channel": "x",
                "author_id": f"author-{i}",
                "customer": f"@author-{i} \u202e<script>",
                "breaches": 1,
                "link": f"https://x.example/{i}",
                "last_due_at": "2026-11-20T10:00:00+00:00",
            }
            for i in range(authors)
        ],
    }


def test_weekly_aggregates_round_trip_in_pieces_and_replace_older_ones(
    store: DynamoThreadStore,
):
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    # Given a big week (its breach authors need several items) and a small one
    big, small = _aggregate("2026-W46", 3000), _aggregate("2026-W45", 2)
    store.put_week_aggregate("acme", "2026-W46", big, now)
    store.put_week_aggregate("acme", "2026-W45", small, now)
    # When they are read back, with a week that has none
    found = store.week_aggregates("acme", ["2026-W44", "2026-W45", "2026-W46"], ["2026-W46"])
    # Then each comes back whole; authors only for the weeks asked
    assert set(found) == {"2026-W45", "2026-W46"}
    assert found["2026-W46"]["scopes"] == big["scopes"]
    assert found["2026-W46"]["breach_authors"] == big["breach_authors"]
    assert "breach_authors" not in found["2026-W45"]
    # And rebuilding W46 smaller leaves no piece of the older version behind
    store.put_week_aggregate("acme", "2026-W46", _aggregate("2026-W46", 1), now)
    again = store.week_aggregates("acme", ["2026-W46"], ["2026-W46"])
    assert len(again["2026-W46"]["breach_authors"]) == 1
    assert again["2026-W46"]["scopes"]["brand"]["turns_opened"] == 1

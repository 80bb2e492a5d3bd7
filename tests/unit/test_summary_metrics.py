"""Weekly summary metrics, each checked against its definition in SLA_SEMANTICS §7."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reply_sla.domain.models import Direction, EventType, Priority, ThreadState, TurnKind
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.domain.summary import daily_counts, percentile, week_metrics, weekly_summary
from reply_sla.domain.turns import advance_thread
from tests.factories import inbound, outbound
from tests.unit.builders import (
    HOUR,
    MADRID,
    NOW,
    WEEK,
    WEEK_END,
    WEEK_START,
    event,
    facts,
    inbound_at,
    turn,
    utc,
)

PREVIOUS_SUNDAY = utc(15, 21)  # Sunday 22:00 in Madrid, week W46
TUESDAY = utc(17, 9)


def _summary(week_facts):
    return weekly_summary(week_facts, brand="acme", brand_name="Acme", week=WEEK, timezone=MADRID)


# inbound_messages, turns_opened, turns_answered, response_rate --------------------------------


def test_inbound_messages_counts_inbound_messages_created_in_the_week():
    # Given inbound messages at both edges of the week (Monday 00:00 is in, the next is out),
    # one the week before, and brand and bot messages in the week
    messages = [
        inbound_at(WEEK_START),
        inbound_at(TUESDAY),
        inbound_at(WEEK_START - timedelta(seconds=1)),
        inbound_at(WEEK_END),
        inbound_at(TUESDAY, direction=Direction.OUTBOUND),
        inbound_at(TUESDAY, direction=Direction.AUTOMATED),
    ]
    # When the week's metrics are computed
    metrics = week_metrics(facts(messages=messages))
    # Then only the two inbound messages of the week count
    assert metrics["inbound_messages"] == 2


def test_turns_opened_counts_turns_opened_in_the_week():
    # Given a turn opened in the week and one opened the Sunday before (due in this week)
    turns = [turn(TUESDAY), turn(WEEK_START - timedelta(minutes=30))]
    # When the week's metrics are computed
    # Then only the turn opened in the week was opened in it
    assert week_metrics(facts(turns=turns))["turns_opened"] == 1


def test_turns_answered_counts_opened_turns_closed_by_a_reply():
    # Given, opened this week, one answered, one open and one dismissed turn,
    # and a turn answered this week that opened the week before
    turns = [
        turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=10)),
        turn(TUESDAY),
        turn(TUESDAY, dismissed=True),
        turn(WEEK_START - timedelta(minutes=30), replied_at=WEEK_START + timedelta(minutes=5)),
    ]
    # When the week's metrics are computed
    metrics = week_metrics(facts(turns=turns))
    # Then one of this week's turns was answered
    assert metrics["turns_answered"] == 1


def test_response_rate_is_answered_over_opened_minus_dismissed():
    # Given three turns opened this week: answered, still open, dismissed
    turns = [
        turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=10)),
        turn(TUESDAY),
        turn(TUESDAY, dismissed=True),
    ]
    # When the week's metrics are computed
    # Then the rate is 1 / (3 - 1)
    assert week_metrics(facts(turns=turns))["response_rate"] == 0.5


@pytest.mark.parametrize("turns", [[], [turn(TUESDAY, dismissed=True)]], ids=["none", "dismissed"])
def test_response_rate_is_none_when_nothing_needed_a_reply(turns):
    # Given no turns, or only dismissed ones, When the week's metrics are computed
    # Then there is no rate (not 0 %, not a division error)
    assert week_metrics(facts(turns=turns))["response_rate"] is None


# sla_attainment ------------------------------------------------------------------------------


def test_sla_attainment_counts_turns_due_in_the_week_including_ones_opened_before_it():
    # Given a turn opened on the Sunday before, due in this week and answered on time,
    # and a turn opened this week answered late
    turns = [
        turn(WEEK_START - timedelta(minutes=30), replied_at=WEEK_START + timedelta(minutes=20)),
        turn(TUESDAY, replied_at=TUESDAY + timedelta(hours=2)),
    ]
    # When the week's metrics are computed
    metrics = week_metrics(facts(turns=turns))
    # Then both turns were due, one was on time
    assert (metrics["turns_due"], metrics["turns_on_time"]) == (2, 1)
    assert metrics["sla_attainment"] == 0.5


def test_sla_attainment_leaves_out_turns_due_the_week_before():
    # Given a turn due on the Sunday before this week, answered late
    early = turn(PREVIOUS_SUNDAY - timedelta(hours=3), replied_at=PREVIOUS_SUNDAY)
    # When the week's metrics are computed
    metrics = week_metrics(facts(turns=[early]))
    # Then nothing was due this week
    assert metrics["turns_due"] == 0
    assert metrics["sla_attainment"] is None


def test_sla_attainment_leaves_out_dismissed_turns():
    # Given a dismissed turn and an on-time turn, both due this week
    turns = [
        turn(TUESDAY, dismissed=True),
        turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=5)),
    ]
    # When the week's metrics are computed
    metrics = week_metrics(facts(turns=turns))
    # Then only the answered turn was due, and it was on time
    assert metrics["turns_due"] == 1
    assert metrics["sla_attainment"] == 1.0


def test_a_turn_answered_exactly_at_its_target_is_on_time():
    # §5: breached iff strictly greater than the target.
    # Given the clock's own turn: a customer writes Monday 09:00 UTC and the brand replies
    # exactly one hour later, the first-response target
    thread = ThreadState(
        brand="acme", account_id="acme-mastodon", channel="mastodon", thread_id="t1"
    )
    advance = advance_thread(
        thread, None, [inbound(0), outbound(60)], FixedWindowPolicy(), ReplyToEveryInbound()
    )
    # When the week's metrics are computed from it
    metrics = week_metrics(facts(turns=advance.new_turns))
    # Then it is on time and not a breach
    assert metrics["sla_attainment"] == 1.0
    assert metrics["breaches"] == []


# breaches and open_overdue -------------------------------------------------------------------


def test_breaches_list_late_and_still_open_turns_due_in_the_week():
    # Given, due this week, a turn answered late, a turn still open past due and an on-time
    # turn, and a late turn that was due the week before
    late = turn(TUESDAY, replied_at=TUESDAY + timedelta(hours=3), priority=Priority.HIGH)
    waiting = turn(TUESDAY + timedelta(hours=1))
    turns = [
        late,
        waiting,
        turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=5)),
        turn(PREVIOUS_SUNDAY - timedelta(hours=3), replied_at=PREVIOUS_SUNDAY),
    ]
    # When the week's metrics are computed
    breaches = week_metrics(facts(turns=turns))["breaches"]
    # Then the late and the still-open turn are the breaches, earliest deadline first
    assert [b["turn"] for b in breaches] == [late.key, waiting.key]


def test_a_breach_row_has_link_channel_priority_waited_and_owner():
    # Given a high-priority X turn answered after three hours against a one-hour target
    late = turn(
        TUESDAY,
        replied_at=TUESDAY + timedelta(hours=3),
        priority=Priority.HIGH,
        account_id="acme-x",
    )
    # When the week's metrics are computed
    [row] = week_metrics(facts(turns=[late]))["breaches"]
    # Then the row says where, how urgent, how long, and whose it is
    assert row["link"] == late.url
    assert row["channel"] == "x"
    assert row["priority"] == "high"
    assert row["waited_seconds"] == 3 * HOUR
    assert row["target_seconds"] == HOUR
    assert row["owner"] == "acme-x"


def test_a_still_open_breach_has_waited_until_the_summary_is_made():
    # Given a turn opened on the last Sunday of the week at 12:00 UTC, still open
    opened = utc(22, 12)
    # When the summary is made on Monday 06:00 UTC
    [row] = week_metrics(facts(turns=[turn(opened)]))["breaches"]
    # Then it has waited 18 hours so far
    assert row["waited_seconds"] == 18 * HOUR
    assert row["replied_at"] is None


def test_open_overdue_counts_open_turns_past_due_when_the_summary_is_made():
    # Given open turns: one long overdue (opened weeks ago), one due exactly now, one due later
    open_turns = [
        turn(utc(1, 9)),
        turn(NOW - timedelta(hours=1)),
        turn(NOW),
    ]
    # When the week's metrics are computed
    # Then only the first one is overdue (§5: strictly past the deadline)
    assert week_metrics(facts(open_turns=open_turns))["open_overdue"] == 1


# response times ------------------------------------------------------------------------------


def test_first_response_times_are_median_p90_and_mean_of_first_turns():
    # Given four first turns answered after 1, 2, 3 and 4 minutes, and a next turn after 99
    turns = [turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=m)) for m in (4, 1, 3, 2)]
    turns.append(turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=99), kind=TurnKind.NEXT))
    # When the week's metrics are computed
    calendar = week_metrics(facts(turns=turns))["first_response_seconds"]["calendar"]
    # Then the median of an even count is the mean of the middle two; p90 is the nearest rank
    assert calendar == {"count": 4, "median": 150.0, "p90": 240, "mean": 150.0}


def test_next_response_times_cover_next_turns_only():
    # Given a first turn answered after 1 minute and next turns after 10, 20 and 60 minutes
    turns = [turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=1))]
    turns += [
        turn(
            TUESDAY, target=2 * HOUR, replied_at=TUESDAY + timedelta(minutes=m), kind=TurnKind.NEXT
        )
        for m in (10, 20, 60)
    ]
    # When the week's metrics are computed
    calendar = week_metrics(facts(turns=turns))["next_response_seconds"]["calendar"]
    # Then the odd count's median is the middle value
    assert calendar == {"count": 3, "median": 1200, "p90": 3600, "mean": 1800.0}


def test_response_times_are_given_in_business_and_in_calendar_seconds():
    # Given a turn answered 16 hours later, of which 10 minutes were business time
    overnight = turn(
        TUESDAY, target=HOUR, replied_at=TUESDAY + timedelta(hours=16), response_seconds=600.0
    )
    # When the week's metrics are computed
    first = week_metrics(facts(turns=[overnight]))["first_response_seconds"]
    # Then each clock has its own figure
    assert first["business"]["median"] == 600
    assert first["calendar"]["median"] == 16 * HOUR


def test_response_times_are_empty_without_answered_turns():
    # Given only an open turn, When the week's metrics are computed, Then there are no figures
    first = week_metrics(facts(turns=[turn(TUESDAY)]))["first_response_seconds"]
    assert first["calendar"] == {"count": 0, "median": None, "p90": None, "mean": None}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (list(range(1, 11)), 9),
        (list(range(1, 12)), 10),
        (list(range(20, 0, -1)), 18),
        ([5.0], 5.0),
        ([], None),
    ],
)
def test_percentile_p90_is_nearest_rank(values, expected):
    # Given some values, When the 90th percentile is taken
    # Then it is the ceil(0.9 n)-th smallest (p90 of 10 values is the 9th)
    assert percentile(values, 0.9) == expected


# escalations_sent ----------------------------------------------------------------------------


def test_escalations_sent_counts_fired_levels_in_the_week_by_level():
    # Given level events this week, a replied event, and a warning the week before
    events = [
        event(TUESDAY, EventType.WARNING, "warning"),
        event(TUESDAY, EventType.WARNING, "warning"),
        event(TUESDAY, EventType.BREACHED, "breach"),
        event(TUESDAY, EventType.ESCALATED, "manager"),
        event(TUESDAY, EventType.REPLIED),
        event(PREVIOUS_SUNDAY, EventType.WARNING, "warning"),
    ]
    # When the week's metrics are computed
    # Then each level is counted once per firing this week
    assert week_metrics(facts(events=events))["escalations_sent"] == {
        "breach": 1,
        "manager": 1,
        "warning": 2,
    }


# groupings -----------------------------------------------------------------------------------

_ADDITIVE = (
    "inbound_messages",
    "turns_opened",
    "turns_answered",
    "turns_dismissed",
    "turns_due",
    "turns_on_time",
    "open_overdue",
)


def _totals(metrics):
    counts = {name: metrics[name] for name in _ADDITIVE}
    counts["breaches"] = len(metrics["breaches"])
    counts["escalations"] = sum(metrics["escalations_sent"].values())
    return counts


def _sum_of(groups):
    rows = [_totals(m) for m in groups.values()]
    return {name: sum(row[name] for row in rows) for name in rows[0]}


def _two_account_week():
    return facts(
        messages=[inbound_at(TUESDAY), inbound_at(TUESDAY, account_id="acme-x")],
        turns=[
            turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=5)),
            turn(TUESDAY, replied_at=TUESDAY + timedelta(hours=2), account_id="acme-x"),
            turn(TUESDAY, account_id="acme-x"),
            turn(TUESDAY, dismissed=True),
        ],
        events=[
            event(TUESDAY, EventType.BREACHED, "breach", account_id="acme-x"),
            event(TUESDAY, EventType.WARNING, "warning"),
        ],
    )


@pytest.mark.parametrize("grouping", ["by_channel", "by_account"])
def test_groupings_partition_the_brand_totals(grouping):
    # Given a week with activity on a Mastodon and an X account
    summary = _summary(_two_account_week())
    # When the summary is grouped by channel or by account
    # Then the groups add up to the brand's totals
    assert _sum_of(summary[grouping]) == _totals(summary["metrics"])


@pytest.mark.parametrize("grouping", ["by_channel", "by_account"])
def test_groupings_include_an_account_whose_only_fact_is_an_old_overdue_turn(grouping):
    # Given an X account whose only fact is a turn opened weeks ago, still unanswered,
    # escalated to a manager this week, next to an ordinary Mastodon week
    forgotten = turn(utc(2, 9), account_id="acme-x")
    week_facts = facts(
        messages=[inbound_at(TUESDAY)],
        turns=[turn(TUESDAY, replied_at=TUESDAY + timedelta(minutes=5))],
        events=[event(TUESDAY, EventType.ESCALATED, "manager", account_id="acme-x")],
        open_turns=[forgotten],
    )
    # When the summary is made
    summary = _summary(week_facts)
    # Then the X account's overdue turn and escalation appear in its group, not only in the total
    assert summary["metrics"]["open_overdue"] == 1
    assert _sum_of(summary[grouping]) == _totals(summary["metrics"]), sorted(summary[grouping])


# daily ---------------------------------------------------------------------------------------


def test_daily_has_the_seven_local_days_of_the_week():
    # Given an empty week, When the daily counts are made, Then they list Monday to Sunday
    days = daily_counts(facts(), MADRID)
    assert [d["date"] for d in days] == [f"2026-11-{d}" for d in range(16, 23)]


def test_daily_counts_by_local_date():
    # Given a message at 23:30 UTC on Sunday 15 Nov (00:30 Monday in Madrid),
    # one at 23:30 UTC on Sunday 22 Nov (Monday of the next week in Madrid), and one on Tuesday
    messages = [inbound_at(utc(15, 23, 30)), inbound_at(utc(22, 23, 30)), inbound_at(TUESDAY)]
    # When the daily counts are made
    days = daily_counts(facts(messages=messages), MADRID)
    # Then the first counts on Monday, the second not at all, the third on Tuesday
    assert [d["inbound"] for d in days] == [1, 1, 0, 0, 0, 0, 0]


def test_daily_counts_turns_by_how_they_ended():
    # Given on Monday (local) a turn on time, a late one and an open one, and one dismissed
    monday = utc(16, 9)
    turns = [
        turn(monday, replied_at=monday + timedelta(minutes=5)),
        turn(monday, replied_at=monday + timedelta(hours=2)),
        turn(monday),
        turn(monday, dismissed=True),
    ]
    # When the daily counts are made
    [first, *rest] = daily_counts(facts(turns=turns), MADRID)
    # Then Monday shows four opened: one on time, one late, one open; other days are empty
    assert (first["opened"], first["on_time"], first["late"], first["open"]) == (4, 1, 1, 1)
    assert all(d["opened"] == 0 for d in rest)

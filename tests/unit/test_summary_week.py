"""A small scripted week, every §7 metric checked against figures computed by hand.

Week 2026-W47 in Madrid (UTC+1): Sunday 15 Nov 23:00 UTC to Sunday 22 Nov 23:00 UTC; the
summary is made on Monday 23 Nov 06:00 UTC. Two accounts: a Facebook Page (Messenger DMs) and
an X account. Every target is one hour of calendar time.

    turn  account   opened (UTC)      answered          due (UTC)       outcome
    T1    facebook  Sat 21 10:00  DM  Sat 13:00         Sat 11:00       late (3 h)     ana
    T2    facebook  Sat 21 12:00  DM  Sat 12:30         Sat 13:00       on time        ben
    T3    facebook  Sat 21 15:00  DM  never, high       Sat 16:00       open, late     ana
    T4    x         Tue 17 09:00      Tue 09:20         Tue 10:00       on time        cy
    T5    facebook  Sat 21 18:00  DM  Sun 22 09:00      Sat 19:00       late (15 h)    dee
    T6    x         Wed 18 10:00 next Wed 11:30 (30 m business)  Wed 11:00  late     eve
    T7    x         Thu 19 07:00      dismissed Thu 08:00 by lead
    T8    x         Sun 15 22:30 (W46) Sun 15 23:20    Sun 15 23:30 (W47) on time     fay
    T9    x         Mon 02 (W45), still open, overdue (only among the open turns)   gus
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.domain.aggregates import WeekHistory, flat_metrics, history_from, week_aggregate
from reply_sla.domain.models import (
    Direction,
    EventType,
    Message,
    Priority,
    Turn,
    TurnKind,
    TurnStatus,
)
from reply_sla.domain.reputation import REPUTATION_FORMULA
from reply_sla.domain.summary import WeekFacts, week_metrics, weekly_summary
from reply_sla.domain.weeks import week_bounds
from tests.unit.builders import turn_event

MADRID = "Europe/Madrid"
WEEK = "2026-W47"
START, END = week_bounds(WEEK, MADRID)
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
HOUR = 3600
CHANNEL = {"acme-facebook": "facebook", "acme-x": "x"}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def make_turn(
    name: str,
    account: str,
    opened: datetime,
    author: str,
    *,
    replied: datetime | None = None,
    business: float | None = None,
    dismissed: bool = False,
    private: bool = False,
    kind: TurnKind = TurnKind.FIRST,
    priority: Priority = Priority.NORMAL,
) -> Turn:
    due = opened + timedelta(hours=1)
    values: dict[str, Any] = {}
    if replied is not None:
        waited = (replied - opened).total_seconds()
        values = {
            "status": TurnStatus.ANSWERED,
            "replied_at": replied,
            "response_seconds": waited if business is None else business,
            "breached": replied > due,
        }
    elif dismissed:
        values = {"status": TurnStatus.DISMISSED}
    return Turn(
        brand="acme",
        account_id=account,
        channel=CHANNEL[account],
        thread_id=name,
        seq=1 if kind is TurnKind.FIRST else 2,
        kind=kind,
        opened_at=opened,
        opened_by=f"m-{name}",
        author_id=author,
        author_handle=f"@{author}",
        text="where is my order?",
        url=f"https://social.example/{name}",
        private=private,
        priority=priority,
        policy="standard",
        target_seconds=HOUR,
        due_at=due,
        **values,
    )


T1 = make_turn("T1", "acme-facebook", at(21, 10), "ana", replied=at(21, 13), private=True)
T2 = make_turn("T2", "acme-facebook", at(21, 12), "ben", replied=at(21, 12, 30), private=True)
T3 = make_turn("T3", "acme-facebook", at(21, 15), "ana", private=True, priority=Priority.HIGH)
T4 = make_turn("T4", "acme-x", at(17, 9), "cy", replied=at(17, 9, 20))
T5 = make_turn("T5", "acme-facebook", at(21, 18), "dee", replied=at(22, 9), private=True)
T6 = make_turn(
    "T6", "acme-x", at(18, 10), "eve", replied=at(18, 11, 30), business=1800, kind=TurnKind.NEXT
)
T7 = make_turn("T7", "acme-x", at(19, 7), "lee", dismissed=True)
T8 = make_turn("T8", "acme-x", at(15, 22, 30), "fay", replied=at(15, 23, 20))
T9 = make_turn("T9", "acme-x", at(2, 9), "gus")
WEEK_TURNS = [T1, T2, T3, T4, T5, T6, T7, T8]


def message(
    mid: str, account: str, when: datetime, direction: Direction, parent: str | None = None
) -> Message:
    return Message(
        brand="acme",
        account_id=account,
        channel=CHANNEL[account],
        message_id=mid,
        thread_id=mid if parent is None else parent,
        parent_id=parent,
        author_id="brand" if direction is Direction.OUTBOUND else "customer",
        created_at=when,
        direction=direction,
    )


def inbound(turn: Turn) -> Message:
    return message(f"in-{turn.thread_id}", turn.account_id, turn.opened_at, Direction.INBOUND)


def reply(turn: Turn) -> Message:
    assert turn.replied_at is not None
    return message(
        f"re-{turn.thread_id}", turn.account_id, turn.replied_at, Direction.OUTBOUND, "parent"
    )


MESSAGES = [
    *(inbound(t) for t in (T1, T2, T3, T4, T5, T6, T7)),
    # A customer's "thanks" on Monday 10:00 UTC (11:00 in Madrid): counted, opens nothing.
    message("thanks", "acme-x", at(16, 10), Direction.INBOUND),
    *(reply(t) for t in (T1, T2, T4, T5, T6, T8)),
    # One broadcast post on X (a top-level post by the brand), Thursday 12:00.
    message("news", "acme-x", at(19, 12), Direction.OUTBOUND),
]


EVENTS = [
    turn_event(T1, EventType.WARNING, at(21, 10, 45), "warning"),
    turn_event(T1, EventType.BREACHED, at(21, 11), "breach"),
    turn_event(T3, EventType.WARNING, at(21, 15, 45), "warning"),
    turn_event(T3, EventType.BREACHED, at(21, 16), "breach"),
    turn_event(T3, EventType.ESCALATED, at(21, 18), "manager"),
    turn_event(T5, EventType.BREACHED, at(21, 19), "breach"),
    # Sunday 22:45 UTC is still the week before in Madrid: left out
    turn_event(T8, EventType.WARNING, at(15, 22, 45), "warning"),
    turn_event(T7, EventType.DISMISSED, at(19, 8), reason="spam", by="lead"),
    turn_event(
        T4, EventType.SNOOZED, at(17, 9, 5), "snooze-1", until="x", reason="asked", by="sam"
    ),
    turn_event(
        T4,
        EventType.RESUMED,
        at(17, 9, 15),
        "snooze-1",
        cause="replied",
        snoozed_by="sam",
        paused_seconds="600",
        paused_calendar_seconds="600",
    ),
    turn_event(T4, EventType.REPLIED, at(17, 9, 20)),
]
# Two weeks before, eve's turn breached too: with this week's, twice in 4 weeks.
HISTORY = history_from(
    ["2026-W45", "2026-W46"],
    {
        "2026-W45": {
            "scopes": {},
            "escalations": {},
            "breach_authors": [
                {
                    "account": "acme-x",
                    "channel": "x",
                    "author_id": "eve",
                    "customer": "@eve",
                    "breaches": 1,
                    "link": "https://social.example/old",
                    "last_due_at": "2026-11-04T10:00:00+00:00",
                }
            ],
        },
        "2026-W46": {"scopes": {"brand": {"sla_attainment": 0.5, "reputation_score": 64}}},
    },
    ["2026-W45", "2026-W46"],
)


def facts(history: WeekHistory | None = None) -> WeekFacts:
    return WeekFacts(
        start=START,
        end=END,
        now=NOW,
        messages=MESSAGES,
        turns=WEEK_TURNS,
        events=EVENTS,
        open_turns=[T3, T9],
        timezone=MADRID,
        history=history or HISTORY,
    )


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return weekly_summary(facts(), brand="acme", brand_name="ACME", week=WEEK, timezone=MADRID)


def test_counts_of_the_week(summary):
    m = summary["metrics"]
    # T1..T7 opened in the week (T8 the week before); T1, T2, T4, T5, T6 answered; T7 dismissed
    assert (m["turns_opened"], m["turns_answered"], m["turns_dismissed"]) == (7, 5, 1)
    # 7 inbound messages opened turns, plus a "thanks"
    assert m["inbound_messages"] == 8
    # 5 / (7 - 1)
    assert m["response_rate"] == 0.8333


def test_sla_attainment_counts_the_turns_due_in_the_week(summary):
    m = summary["metrics"]
    # Due in the week: T1 T2 T3 T4 T5 T6 and T8 (opened the week before); T7 dismissed.
    # On time: T2, T4, T8.
    assert (m["turns_due"], m["turns_on_time"]) == (7, 3)
    assert m["sla_attainment"] == 0.4286


def test_response_times_side_by_side_in_business_and_calendar_seconds(summary):
    m = summary["metrics"]
    # First turns answered: 10800 (T1), 1800 (T2), 1200 (T4), 54000 (T5)
    assert m["first_response_seconds"]["calendar"] == {
        "count": 4,
        "median": 6300.0,
        "p90": 54000,
        "mean": 16950.0,
    }
    assert m["first_response_seconds"]["business"] == m["first_response_seconds"]["calendar"]
    # The next turn T6: 1 h 30 m of calendar time, 30 m of business time
    assert m["next_response_seconds"]["calendar"]["median"] == 5400
    assert m["next_response_seconds"]["business"]["median"] == 1800


def test_breaches_and_open_overdue(summary):
    m = summary["metrics"]
    assert [b["turn"] for b in m["breaches"]] == [T6.key, T1.key, T3.key, T5.key]
    late = {b["turn"]: b for b in m["breaches"]}
    assert late[T3.key]["status"] == "open" and late[T3.key]["replied_at"] is None
    # T3 waited from Saturday 15:00 until the summary, Monday 06:00
    assert late[T3.key]["waited_seconds"] == 39 * HOUR
    assert late[T1.key]["link"] == "https://social.example/T1"
    # Still waiting past the deadline: T3 and the forgotten T9
    assert m["open_overdue"] == 2
    assert [row["turn"] for row in summary["open_overdue_turns"]] == [T9.key, T3.key]


def test_escalations_by_level_in_the_week(summary):
    assert summary["metrics"]["escalations_sent"] == {"breach": 3, "manager": 1, "warning": 2}


def test_pause_audit_by_account_and_person(summary):
    x = summary["by_account"]["acme-x"]["pause_audit"]
    # T7 had waited one hour when the lead dismissed it
    assert x["dismissed"] == {
        "count": 1,
        "waited_seconds": 3600,
        "by": {"lead": {"count": 1, "waited_seconds": 3600}},
    }
    # T4 was snoozed by sam for ten minutes
    assert x["snoozed"]["count"] == 1
    assert x["snoozed"]["by"]["sam"] == {
        "count": 1,
        "paused_seconds": 600,
        "paused_calendar_seconds": 600,
    }
    assert summary["by_account"]["acme-facebook"]["pause_audit"]["dismissed"]["count"] == 0


def test_silent_stretches_of_the_facebook_page(summary):
    stretches = summary["by_channel"]["facebook"]["silent_stretches"]
    # Waits: T1 Sat 10-13, T2 12-12:30, T3 15:00 onwards, T5 Sat 18 - Sun 09. Posts: 12:30, 13:00,
    # Sun 09:00. Longest: Sat 15:00 to Sun 09:00 (18 h, T3 and T5 waiting), then Sun 09:00 to the
    # end of the week (14 h, T3 alone), then Sat 10:00-12:30 and 12:30-13:00.
    assert [(s["calendar_seconds"], s["turns_waiting"]) for s in stretches] == [
        (18 * HOUR, 2),
        (14 * HOUR, 1),
        (int(2.5 * HOUR), 2),
        (HOUR // 2, 1),
    ]
    assert stretches[0]["start"] == "2026-11-21T16:00:00+01:00"
    assert stretches[0]["end"] == "2026-11-22T10:00:00+01:00"


def test_conversation_ratio_only_where_the_channel_shows_broadcasts(summary):
    x = summary["by_channel"]["x"]
    # X: replies to T4, T6 and T8 for one broadcast post
    assert (x["brand_replies"], x["broadcasts"], x["conversation_ratio"]) == (3, 1, 3.0)
    facebook = summary["by_channel"]["facebook"]
    assert facebook["brand_replies"] == 3
    assert facebook["broadcasts"] is None and facebook["conversation_ratio"] is None
    assert summary["metrics"]["conversation_ratio"] == 3.0


def test_hour_of_week_heatmaps_in_local_time(summary):
    heat = summary["metrics"]["hour_of_week"]
    inbound = {
        (day, hour): n
        for day, row in enumerate(heat["inbound_messages"])
        for hour, n in enumerate(row)
        if n
    }
    # Madrid local time: Mon 11 (thanks), Tue 10 (T4), Wed 11 (T6), Thu 08 (T7), Sat 11, 13,
    # 16, 19 (T1, T2, T3, T5)
    assert inbound == {
        (0, 11): 1,
        (1, 10): 1,
        (2, 11): 1,
        (3, 8): 1,
        (5, 11): 1,
        (5, 13): 1,
        (5, 16): 1,
        (5, 19): 1,
    }
    breaches = {
        (day, hour): n
        for day, row in enumerate(heat["breaches"])
        for hour, n in enumerate(row)
        if n
    }
    assert breaches == {(2, 11): 1, (5, 11): 1, (5, 16): 1, (5, 19): 1}


def test_customers_at_risk(summary):
    people = summary["metrics"]["customers_at_risk"]
    # ana breached twice this week and complained (T3 is high); eve breached this week and two
    # weeks ago; dee breached once and did not complain
    assert [(p["author_id"], p["breaches_4_weeks"], p["complained"]) for p in people] == [
        ("ana", 2, True),
        ("eve", 2, False),
    ]
    assert people[0]["link"] == "https://social.example/T3"
    assert [p["author_id"] for p in summary["by_account"]["acme-x"]["customers_at_risk"]] == ["eve"]


def test_reputation_score_follows_its_published_formula(summary):
    m = summary["metrics"]
    # speed: T1 0, T2 0.75, T4 0.8333, T5 0, T6 (30 m business of 1 h) 0.75 -> 0.4667;
    # sentiment: 1 - 1 high of 7 opened -> 0.8571
    assert m["reputation_components"] == {
        "sla_attainment": 0.4286,
        "response_rate": 0.8333,
        "speed": 0.4667,
        "sentiment": 0.8571,
    }
    # 100 * (0.4 * 0.4286 + 0.25 * 0.8333 + 0.2 * 0.4667 + 0.15 * 0.8571) = 60.2
    assert m["reputation_score"] == 60
    assert summary["reputation_formula"] == REPUTATION_FORMULA


def test_findings_say_what_stood_out(summary):
    findings = summary["findings"]
    assert findings[0] == "3 of 4 breaches were Messenger DMs sent on a Saturday."
    assert "Answered on time: 43%, down 7 points from 50% the week before." in findings
    assert "Reputation score: 60 of 100 (64 the week before)." in findings
    assert "2 customers are still waiting past their deadline." in findings


def test_trends_carry_earlier_weeks_from_their_aggregates(summary):
    trends = summary["trends"]
    assert trends["weeks"] == ["2026-W45", "2026-W46", "2026-W47"]
    assert trends["metrics"]["sla_attainment"] == [None, 0.5, 0.4286]
    assert trends["metrics"]["reputation_score"] == [None, 64, 60]
    assert trends["by_account"]["acme-x"]["turns_opened"] == [None, None, 3]


def test_groups_add_up_to_the_brand(summary):
    for name in ("inbound_messages", "turns_opened", "turns_due", "turns_on_time", "open_overdue"):
        assert sum(m[name] for m in summary["by_account"].values()) == summary["metrics"][name]
    assert summary["by_channel"]["x"] == summary["by_account"]["acme-x"]


def test_the_same_week_rebuilt_gives_identical_numbers(summary):
    # Given the same stored facts judged as of the same time, When the week is rebuilt
    again = weekly_summary(facts(), brand="acme", brand_name="ACME", week=WEEK, timezone=MADRID)
    # Then every figure is the same
    assert again == summary


def test_messages_in_time_order_or_not_give_the_same_hours(summary):
    # Given the week's messages in time order (as the store reads them) and in reverse
    ordered = sorted(MESSAGES, key=lambda m: m.created_at)
    assert ordered != MESSAGES
    made = {}
    for name, messages in (("ordered", ordered), ("reversed", ordered[::-1])):
        week = replace(facts(), messages=messages)
        # When each is summed up
        made[name] = weekly_summary(
            week, brand="acme", brand_name="ACME", week=WEEK, timezone=MADRID
        )
    # Then the hours, days and counts are the same either way, and the same as the fixture's
    assert made["ordered"] == made["reversed"] == summary
    heatmap = summary["metrics"]["hour_of_week"]["inbound_messages"]
    assert sum(map(sum, heatmap)) == summary["metrics"]["inbound_messages"] > 0


def test_a_reply_after_the_summary_was_made_does_not_change_a_rebuild_as_of_then(summary):
    # Given T3 answered on Tuesday, after the Monday summary
    answered = T3.model_copy(
        update={
            "status": TurnStatus.ANSWERED,
            "replied_at": at(24, 10),
            "response_seconds": 3.0 * 86400,
            "breached": True,
        }
    )
    turns = [answered if t is T3 else t for t in WEEK_TURNS]
    later = WeekFacts(
        start=START,
        end=END,
        now=NOW,
        messages=MESSAGES,
        turns=turns,
        events=EVENTS,
        open_turns=[T9],
        timezone=MADRID,
        history=HISTORY,
    )
    # When the week is rebuilt as of the Monday
    rebuilt = weekly_summary(later, brand="acme", brand_name="ACME", week=WEEK, timezone=MADRID)
    # Then it is the Monday summary, figure for figure
    assert rebuilt["metrics"] == summary["metrics"]


def test_the_aggregate_keeps_the_flat_figures_and_the_breach_authors(summary):
    aggregate = week_aggregate(summary)
    assert aggregate["scopes"]["brand"] == flat_metrics(summary["metrics"])
    assert aggregate["scopes"]["account:acme-x"]["turns_opened"] == 3
    authors = {(a["account"], a["author_id"]): a["breaches"] for a in aggregate["breach_authors"]}
    assert authors == {
        ("acme-facebook", "ana"): 2,
        ("acme-facebook", "dee"): 1,
        ("acme-x", "eve"): 1,
    }


def test_week_metrics_of_one_scope_equal_the_summary_groups(summary):
    x_only = facts().only(lambda channel, _account: channel == "x")
    metrics = week_metrics(x_only)
    assert metrics == summary["by_channel"]["x"]


def test_breach_row_times_are_written_as_isoformat_writes_them():
    from datetime import UTC, datetime, timedelta, timezone

    from reply_sla.domain.summary import _isoformat

    madrid_winter = timezone(timedelta(hours=1))
    for at in (
        datetime(2026, 11, 16, 9, 0, tzinfo=UTC),  # no microseconds: none written
        datetime(2026, 11, 16, 9, 0, 5, 120, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 16, 9, 0, 5, 120, tzinfo=madrid_winter),
    ):
        assert _isoformat(at) == at.isoformat()


def test_values_already_in_order_are_kept_and_others_are_sorted():
    from array import array

    from reply_sla.domain.summary import _sorted

    in_order = array("d", [1.0, 2.0, 2.0, 5.5])
    assert _sorted(in_order) is in_order
    assert _sorted(array("d")) == array("d")
    assert _sorted(array("d", [3.0, 1.0, 2.0, 1.0])) == array("d", [1.0, 1.0, 2.0, 3.0])
    # One value out of place at the end is found
    assert _sorted(array("d", [1.0, 2.0, 3.0, 0.5])) == array("d", [0.5, 1.0, 2.0, 3.0])

"""Ordered policies, ladders, max_wait and priority raises (SLA_SEMANTICS §4-§6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reply_sla.config import parse_config
from reply_sla.domain.alerts import AlertHours
from reply_sla.domain.engine import PolicyEngine
from reply_sla.domain.models import Priority, ThreadState, TurnKind
from reply_sla.domain.policies import parse_ladder_at
from reply_sla.domain.turns import advance_thread
from reply_sla.errors import ConfigError
from tests.factories import inbound, outbound

MADRID_WEEK = {
    "timezone": "Europe/Madrid",
    "hours": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}
BASE = {
    "calendars": {"office": MADRID_WEEK},
    "brands": {"acme": {"name": "ACME", "calendar": "office", "timezone": "Europe/Madrid"}},
    "accounts": [
        {"id": "acme-mastodon", "brand": "acme", "channel": "mastodon", "credentials": {"t": "x"}}
    ],
}


def engine(policies, **extra) -> PolicyEngine:
    return PolicyEngine.from_config(parse_config({**BASE, "policies": policies, **extra}))


DEFAULT = {"name": "default", "first_response": "4h", "next_response": "8h"}
FAST_PRIVATE = {
    "name": "private-fast",
    "match": {"private": True},
    "first_response": "30m",
    "next_response": "1h",
    "clock": "calendar",
}
# Monday 16 Nov 2026, 16:00 Madrid (15:00 UTC)
MON_1600 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)


def test_first_matching_policy_wins():
    book = engine([FAST_PRIVATE, DEFAULT]).book
    private = inbound(0, private=True).model_copy(update={"created_at": MON_1600})
    public = inbound(0).model_copy(update={"created_at": MON_1600})
    assert (
        book.policy_for(private, Priority.NORMAL)
        .window(TurnKind.FIRST, MON_1600, Priority.NORMAL)
        .policy
        == "private-fast"
    )
    assert (
        book.policy_for(public, Priority.NORMAL)
        .window(TurnKind.FIRST, MON_1600, Priority.NORMAL)
        .policy
        == "default"
    )


def test_business_deadline_runs_over_the_night():
    # Given 4 business hours from Monday 16:00 with 09:00-18:00 days
    window = (
        engine([DEFAULT])
        .book.policy_for(inbound(0), Priority.NORMAL)
        .window(TurnKind.FIRST, MON_1600, Priority.NORMAL)
    )
    # Then 2 h on Monday and 2 h on Tuesday: due Tuesday 11:00 Madrid
    assert window.due_at == datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def test_max_wait_caps_the_deadline_in_calendar_time():
    # Given 16 business hours (two days) but never later than 24 h
    capped = {**DEFAULT, "first_response": "16h", "max_wait": "24h"}
    window = (
        engine([capped])
        .book.policy_for(inbound(0), Priority.NORMAL)
        .window(
            TurnKind.FIRST,
            MON_1600 + timedelta(days=3),
            Priority.NORMAL,  # Thursday 16:00
        )
    )
    # Then the deadline is Friday 16:00 (24 h), not Monday next week
    assert window.due_at == MON_1600 + timedelta(days=4)
    assert dict(window.levels)["breach"] == window.due_at


def test_ladder_percentages_and_offsets_are_in_the_policy_clock():
    ladder = {
        **DEFAULT,
        "ladder": [
            {"level": "warning", "at": "75%"},
            {"level": "breach", "at": "100%"},
            {"level": "manager", "at": "+2h"},
        ],
    }
    window = (
        engine([ladder])
        .book.policy_for(inbound(0), Priority.NORMAL)
        .window(TurnKind.FIRST, MON_1600, Priority.NORMAL)
    )
    levels = dict(window.levels)
    # warning after 3 business hours: 2 on Monday, 1 on Tuesday → Tue 10:00 Madrid
    assert levels["warning"] == datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    assert levels["breach"] == datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
    # manager two business hours after the deadline → Tue 13:00 Madrid
    assert levels["manager"] == datetime(2026, 11, 17, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["75", "75 %", "2h", "+2x", "", "abc"])
def test_ladder_at_errors_say_what_is_expected(text):
    with pytest.raises(ValueError, match="expected a percentage like 75% or an offset like"):
        parse_ladder_at(text)


def test_broken_ladder_in_config_names_its_path():
    bad = {
        **DEFAULT,
        "ladder": [{"level": "breach", "at": "100%"}, {"level": "manager", "at": "2h"}],
    }
    with pytest.raises(ConfigError, match=r"policies\[0\]\.ladder\[1\]\.at: expected a percentage"):
        parse_config({**BASE, "policies": [bad]})


def test_unknown_calendar_references_are_named():
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                **BASE,
                "brands": {"acme": {"name": "ACME", "calendar": "nope"}},
                "policies": [{**DEFAULT, "calendar": "missing"}],
                "notifications": {"quiet_hours": {"calendar": "gone"}},
            }
        )
    text = str(info.value)
    assert "brands.acme.calendar: unknown calendar 'nope'" in text
    assert "policies[0].calendar: unknown calendar 'missing'" in text
    assert "notifications.quiet_hours.calendar: unknown calendar 'gone'" in text


def test_business_policy_without_any_calendar_is_refused():
    config = {**BASE, "brands": {"acme": {"name": "ACME"}}, "policies": [DEFAULT]}
    with pytest.raises(ConfigError, match="business-time policy needs a calendar"):
        parse_config(config)


def test_higher_priority_follow_up_shortens_never_lengthens():
    urgent_fast = {
        "name": "urgent",
        "match": {"priorities": ["high", "urgent"]},
        "first_response": "1h",
        "next_response": "1h",
    }
    book = engine([urgent_fast, DEFAULT]).book
    triage = engine([DEFAULT]).triage
    state = ThreadState(
        brand="acme", account_id="acme-mastodon", channel="mastodon", thread_id="t1"
    )
    first = inbound(0, text="where is my order?").model_copy(update={"created_at": MON_1600})
    angry = inbound(0, text="I want a refund").model_copy(
        update={"created_at": MON_1600 + timedelta(minutes=10)}
    )
    # Given a normal question (due Tue 11:00), When a complaint follows in the same turn
    result = advance_thread(state, None, [first, angry], book, triage)
    [turn] = result.new_turns
    # Then the turn keeps its start, becomes high, and its deadline moves earlier (Mon 17:00)
    assert turn.opened_at == MON_1600 and turn.priority is Priority.HIGH
    assert turn.policy == "urgent" and turn.due_at == MON_1600 + timedelta(hours=1)


def test_thanks_after_reply_opens_nothing_with_built_in_triage():
    eng = engine([DEFAULT])
    state = ThreadState(
        brand="acme", account_id="acme-mastodon", channel="mastodon", thread_id="t1"
    )
    result = advance_thread(
        state, None, [inbound(0), outbound(5), inbound(8, text="thanks!")], eng.book, eng.triage
    )
    assert len(result.new_turns) == 1
    assert result.triage[list(result.triage)[-1]] == "acknowledgement"


def test_quiet_hours_hold_non_bypass_levels_until_the_opening():
    eng = engine(
        [DEFAULT], notifications={"quiet_hours": {"calendar": "office"}, "bypass": ["director"]}
    )
    hours = eng.alert_hours
    assert isinstance(hours, AlertHours)
    saturday_night = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    monday_0900 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert hours.hold_until("breach", Priority.NORMAL, saturday_night) == monday_0900
    assert hours.hold_until("director", Priority.NORMAL, saturday_night) is None
    assert hours.hold_until("breach", Priority.URGENT, saturday_night) is None
    assert hours.hold_until("breach", Priority.NORMAL, MON_1600) is None

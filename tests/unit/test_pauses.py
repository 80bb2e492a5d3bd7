"""Snoozed time is left out of the wait (SLA_SEMANTICS §4): how deadlines and levels move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reply_sla.config import parse_config
from reply_sla.domain.engine import PolicyEngine
from reply_sla.domain.models import Priority, TurnKind
from reply_sla.domain.pauses import (
    advance,
    max_snooze_seconds,
    paused_window,
    schedule,
    waited_seconds,
)
from reply_sla.domain.policies import DEFAULT_MAX_SNOOZE_SECONDS, LadderStep, PolicyConfig
from reply_sla.domain.policy import FixedWindowPolicy, LadderLevel, SlaWindow
from reply_sla.errors import ConfigError
from tests.factories import at

FIRST, NORMAL = TurnKind.FIRST, Priority.NORMAL
MADRID_OFFICE = {
    "timezone": "Europe/Madrid",
    "hours": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}


def madrid(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant given in Madrid wall time in November 2026 (UTC+1)."""
    return datetime(2026, 11, day, hour - 1, minute, tzinfo=UTC)


def policy(**fields: object):
    config = parse_config(
        {
            "calendars": {"office": MADRID_OFFICE},
            "brands": {"acme": {"name": "ACME", "calendar": "office"}},
            "policies": [{"name": "p", "first_response": "4h", "next_response": "8h", **fields}],
        }
    )
    return PolicyEngine.from_config(config).book.named("p", "acme")


WARN_BREACH_MANAGER = [
    {"level": "warning", "at": "75%"},
    {"level": "breach", "at": "100%"},
    {"level": "manager", "at": "+2h"},
]


def test_calendar_clock_moves_deadline_and_levels_by_the_paused_time():
    # Given a 24/7 window (first response 1 h, warning at 50 %) opened at 09:00
    clock = FixedWindowPolicy(
        ladder=(LadderLevel(level="warning", fraction=0.5), LadderLevel(level="breach"))
    )
    # When it was paused from 09:20 to 11:20
    window = paused_window(clock, FIRST, at(0), NORMAL, [(at(20), at(140))])
    # Then everything still ahead at 09:20 moved two hours later
    assert window.due_at == at(180)
    assert dict(window.levels) == {"warning": at(150), "breach": at(180)}


def test_no_pause_is_the_policy_window_itself():
    clock = FixedWindowPolicy()
    assert paused_window(clock, FIRST, at(0), NORMAL, []) == clock.window(FIRST, at(0), NORMAL)


def test_business_clock_moves_by_business_time_not_by_the_night():
    # Given a 4-business-hour policy, 09:00-18:00 Madrid, and a mention Monday 16:00 (due Tue 11:00)
    book_policy = policy()
    assert book_policy.window(FIRST, madrid(16, 16), NORMAL).due_at == madrid(17, 11)
    # When it is snoozed Monday 17:00 until Tuesday 10:00 (2 business hours: 17-18 and 09-10)
    window = paused_window(
        book_policy, FIRST, madrid(16, 16), NORMAL, [(madrid(16, 17), madrid(17, 10))]
    )
    # Then the 3 business hours left at 17:00 run from Tuesday 10:00: due Tuesday 13:00
    assert window.due_at == madrid(17, 13)


def test_a_deadline_passed_before_the_snooze_stays_and_a_pending_level_goes_out_at_the_resume():
    # Given a 1-hour window with a +30m manager level, opened 09:00 (due 10:00, manager 10:30)
    clock = FixedWindowPolicy(
        ladder=(LadderLevel(level="breach"), LadderLevel(level="manager", offset_seconds=1800))
    )
    # When the overdue turn is snoozed from 10:40 to 12:00
    window = paused_window(clock, FIRST, at(0), NORMAL, [(at(100), at(180))])
    # Then it stays due at 10:00 (it had breached), and the unsent levels fall due at 12:00
    assert window.due_at == at(60)
    assert dict(window.levels) == {"breach": at(180), "manager": at(180)}


def test_max_wait_cap_moves_in_calendar_time_and_decides_when_it_comes_first():
    # Given 16 business hours capped at 24 h: opened Monday 10:00, the cap (Tue 10:00) decides
    capped = policy(first_response="16h", max_wait="24h", ladder=WARN_BREACH_MANAGER)
    assert capped.window(FIRST, madrid(16, 10), NORMAL).due_at == madrid(17, 10)
    # When snoozed overnight, Monday 17:00 to Tuesday 09:30 (16.5 h, 1.5 business hours)
    pause = (madrid(16, 17), madrid(17, 9, 30))
    window = paused_window(capped, FIRST, madrid(16, 10), NORMAL, [pause])
    # Then the cap moved 16.5 h (Wed 02:30) and still comes before the business deadline
    # (Wed 09:30), so it decides; the manager level is 2 h after the capped deadline
    assert window.due_at == madrid(18, 2, 30)
    assert dict(window.levels)["manager"] == madrid(18, 4, 30)
    # And an uncapped policy would have moved by the business hours only
    uncapped = policy(first_response="16h", ladder=WARN_BREACH_MANAGER)
    assert paused_window(uncapped, FIRST, madrid(16, 10), NORMAL, [pause]).due_at == madrid(
        18, 9, 30
    )


def test_two_pauses_add_up():
    clock = FixedWindowPolicy()
    window = paused_window(clock, FIRST, at(0), NORMAL, [(at(30), at(40)), (at(10), at(20))])
    assert window.due_at == at(80)


def test_schedule_takes_the_first_unsent_level_and_honours_a_hard_deadline():
    window = SlaWindow(
        policy="p",
        target_seconds=3600,
        due_at=at(60),
        levels=(("warning", at(45)), ("breach", at(60)), ("manager", at(90))),
    )
    assert schedule(window, ["warning"]).next_level == "breach"
    # Meta's messaging window closes at 09:50: nothing falls after it
    held = schedule(window, ["warning"], hard_deadline=at(50))
    assert (held.due_at, held.next_level, held.next_level_at) == (at(50), "breach", at(50))
    assert schedule(window, ["warning", "breach", "manager"]).next_level is None


def test_waited_seconds_leaves_out_the_paused_spans():
    clock = FixedWindowPolicy()
    # 09:00 to 11:00 with a pause 09:30-10:30 (and one after the end, which does not count)
    assert waited_seconds(clock, at(0), at(120), [(at(30), at(90)), (at(200), at(300))]) == 3600


def test_advance_searches_any_clock_to_the_microsecond():
    class Elapsed:
        """A clock the module does not know: real time, but only its elapsed_seconds."""

        def window(self, kind, opened_at, priority):  # pragma: no cover - not used
            raise NotImplementedError

        def elapsed_seconds(self, start, end):
            return max(0.0, (end - start).total_seconds())

    result = advance(Elapsed(), at(0), 5400.5)
    assert abs((result - at(90)).total_seconds() - 0.5) <= 1e-6


def test_max_snooze_defaults_to_72_hours_and_is_a_policy_duration():
    assert DEFAULT_MAX_SNOOZE_SECONDS == 72 * 3600
    assert max_snooze_seconds(FixedWindowPolicy()) == 72 * 3600
    assert max_snooze_seconds(policy()) == 72 * 3600
    assert max_snooze_seconds(policy(max_snooze="12h")) == 12 * 3600
    assert (
        PolicyConfig(
            name="x",
            first_response="1h",
            next_response="1h",
            max_snooze="2d",
            ladder=[LadderStep(level="breach", at="100%")],
        ).max_snooze
        == 2 * 86400
    )


def test_max_snooze_errors_name_the_field():
    with pytest.raises(
        ConfigError, match=r"policies\[0\]\.max_snooze: a duration must be at least 1s"
    ):
        policy(max_snooze="0s")
    with pytest.raises(ConfigError, match=r"policies\[0\]\.max_snooze: expected a duration"):
        policy(max_snooze="three days")


def test_business_pause_outside_opening_hours_moves_nothing():
    # Given a business policy and a snooze that covers only a night (closed hours)
    book_policy = policy()
    plain = book_policy.window(FIRST, madrid(16, 16), NORMAL)
    window = paused_window(
        book_policy, FIRST, madrid(16, 16), NORMAL, [(madrid(16, 19), madrid(17, 8))]
    )
    # Then no business time was paused, so nothing moved
    assert window == plain
    assert timedelta(0) == window.due_at - plain.due_at


def test_a_deadline_that_falls_exactly_when_the_snooze_begins_moves_with_it():
    # Due 10:00 and snoozed at 10:00: the budget was used up but not exceeded (§5: breached only
    # when strictly more), so the deadline is the resume
    window = paused_window(FixedWindowPolicy(), FIRST, at(0), NORMAL, [(at(60), at(90))])
    assert window.due_at == at(90)

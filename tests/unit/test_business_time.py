"""Business time (SLA_SEMANTICS §5): opening hours read in local wall time, counted in real seconds.

The peer tables re-express cases in the spirit of the public test suites of pandas'
`BusinessHour`, zendesk/biz, the working_hours gem, Zammad's calendar escalations and Chatwoot's
business hours, in this project's exact-fit rule: a budget that runs out exactly at a closing
time is due at the next opening. Where a peer answers differently, its answer is in a comment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reply_sla.domain.business_time import (
    WEEKDAYS,
    BusinessCalendar,
    BusinessHoursPolicy,
    CalendarConfig,
    OpeningInterval,
    parse_interval,
)
from reply_sla.domain.models import Priority, TurnKind
from reply_sla.domain.policy import LadderLevel, ResponsePolicy

H = 3600
WORKWEEK = ("mon", "tue", "wed", "thu", "fri")

CONFIGS: dict[str, dict[str, object]] = {
    # pandas BusinessHour() and the working_hours gem's default: Mon-Fri 09:00-17:00.
    "9-17": {"timezone": "UTC", "hours": {d: ["09:00-17:00"] for d in WORKWEEK}},
    # pandas BusinessHour(start="22:00", end="05:00"): overnight shifts that start Mon-Fri.
    "22-05": {"timezone": "UTC", "hours": {d: ["22:00-05:00"] for d in WORKWEEK}},
    # zendesk/biz's README calendar, with its two holidays moved to 2026.
    "biz": {
        "timezone": "America/Los_Angeles",
        "hours": {
            "mon": ["09:00-17:00"],
            "tue": ["00:00-24:00"],
            "wed": ["09:00-17:00"],
            "thu": ["09:00-12:00", "13:00-17:00"],
            "sat": ["10:00-14:00"],
        },
        "holidays": {"dates": ["2026-01-01", "2026-12-25"]},
    },
    # Zammad: two timeframes a day and explicitly listed public holidays.
    "zammad": {
        "timezone": "Europe/Berlin",
        "hours": {d: ["08:00-12:00", "13:00-17:00"] for d in WORKWEEK},
        "holidays": {"dates": ["2026-12-24", "2026-12-25", "2026-12-26"]},
    },
    # Chatwoot: weekday hours, Saturday `open_all_day`, Sunday `closed_all_day`.
    "chatwoot": {
        "timezone": "Asia/Kolkata",
        "hours": {**{d: ["09:00-17:00"] for d in WORKWEEK}, "sat": ["00:00-24:00"], "sun": []},
    },
    # The configuration contract's Madrid office: lunch break, ES/MD holidays and special hours.
    "madrid": {
        "timezone": "Europe/Madrid",
        "hours": {d: ["09:00-14:00", "15:00-18:00"] for d in WORKWEEK},
        "holidays": {"country": "ES", "subdivision": "MD", "dates": ["2026-12-24"]},
        "special_hours": {"2026-12-31": ["09:00-13:00"], "2026-11-20": []},
    },
    "madrid_reopened": {
        "timezone": "Europe/Madrid",
        "hours": {d: ["09:00-14:00", "15:00-18:00"] for d in WORKWEEK},
        "holidays": {"country": "ES", "subdivision": "MD", "working_dates": ["2026-12-08"]},
    },
    # A night desk every day of the week, closed on ES/MD public holidays.
    "madrid_night": {
        "timezone": "Europe/Madrid",
        "hours": {d: ["22:00-06:00"] for d in WEEKDAYS},
        "holidays": {"country": "ES", "subdivision": "MD"},
    },
    "always": {"timezone": "UTC", "hours": {d: ["00:00-24:00"] for d in WEEKDAYS}},
}


@cache
def calendar(name: str) -> BusinessCalendar:
    return BusinessCalendar.from_config(CalendarConfig.model_validate(CONFIGS[name]))


def local(name: str, text: str) -> datetime:
    """A wall time in the calendar's zone: '2026-07-07 16:30', or '07-07 16:30' in 2026."""
    zone = ZoneInfo(str(CONFIGS[name]["timezone"]))
    full = text if text[4] == "-" else f"2026-{text}"
    return datetime.fromisoformat(full).replace(tzinfo=zone)


def same_instant(a: datetime, b: datetime) -> bool:
    # Aware datetimes sharing a tzinfo compare by wall time and ignore fold, so compare in UTC.
    return a.astimezone(UTC) == b.astimezone(UTC)


# Peer cases: deadlines ------------------------------------------------------------------------

# Dates without a year are in 2026. Budgets are in business hours.
# (case, calendar, start, hours, expected deadline, "due by" when it differs from the deadline)
# fmt: off
DEADLINES = [
    # pandas BusinessHour() (its 2014-07-01 was a Tuesday, as 2026-07-07 is). pandas too rolls
    # an exact fit to the next opening: 16:00 + BusinessHour() is the next day at 09:00.
    ("pandas: 11:00 + 1h", "9-17", "07-07 11:00", 1, "07-07 12:00", None),
    ("pandas: 16:00 + 1h ends at close", "9-17", "07-07 16:00", 1, "07-08 09:00", "07-07 17:00"),
    ("pandas: seconds carry over", "9-17", "07-07 16:30:15", 1, "07-08 09:30:15", None),
    ("pandas: after hours", "9-17", "07-07 19:00", 1, "07-08 10:00", None),
    ("pandas: before hours", "9-17", "07-08 08:00", 1, "07-08 10:00", None),
    ("pandas: Saturday", "9-17", "07-11 15:00", 1, "07-13 10:00", None),
    ("pandas: Friday late", "9-17", "07-10 16:30", 1, "07-13 09:30", None),
    ("pandas: BusinessHour(4) from 13:00", "9-17", "07-07 13:00", 4, "07-08 09:00", "07-07 17:00"),
    ("pandas: BusinessHour(4) from 15:00", "9-17", "07-07 15:00", 4, "07-08 11:00", None),
    ("pandas: BusinessHour(40) is a week", "9-17", "07-06 09:00", 40, "07-13 09:00", "07-10 17:00"),
    # pandas BusinessHour(start="22:00", end="05:00"): a shift belongs to the day it starts on
    ("pandas night: before the shift", "22-05", "07-07 20:00", 1, "07-07 23:00", None),
    ("pandas night: 04:00 + 1h to 05:00", "22-05", "07-08 04:00", 1, "07-08 22:00", "07-08 05:00"),
    ("pandas night: 04:30 + 1h", "22-05", "07-08 04:30", 1, "07-08 22:30", None),
    ("pandas night: Saturday 03:00 is Friday's", "22-05", "07-11 03:00", 1, "07-11 04:00", None),
    ("pandas night: Saturday 04:30 waits", "22-05", "07-11 04:30", 1, "07-13 22:30", None),
    ("pandas night: no Sunday shift", "22-05", "07-13 02:00", 1, "07-13 23:00", None),
    # zendesk/biz: Biz.time(n, :hours).after(t). biz answers the closing time for an exact fit
    # (Monday 17:00, Thursday 12:00); here those are the "due by" and the deadline opens later.
    ("biz: Monday into a 24h Tuesday", "biz", "07-06 16:00", 2, "07-07 01:00", None),
    ("biz: exact fit on Monday", "biz", "07-06 09:00", 8, "07-07 00:00", "07-06 17:00"),
    ("biz: Tuesday's 24:00 end", "biz", "07-07 22:00", 4, "07-08 11:00", None),
    ("biz: Thursday lunch", "biz", "07-09 11:00", 2, "07-09 14:00", None),
    ("biz: exact fit at lunch", "biz", "07-09 11:00", 1, "07-09 13:00", "07-09 12:00"),
    ("biz: closed Friday", "biz", "07-10 12:00", 3, "07-11 13:00", None),
    ("biz: Saturday into Monday", "biz", "07-11 13:00", 2, "07-13 10:00", None),
    ("biz: New Year holiday", "biz", "2025-12-31 16:00", 2, "01-03 11:00", None),
    # working_hours gem: n.working.hours.from(t); the gem answers Monday 17:00 for 8 hours
    ("working_hours: 2 hours", "9-17", "07-06 16:00", 2, "07-07 10:00", None),
    ("working_hours: over the weekend", "9-17", "07-10 16:30", 1, "07-13 09:30", None),
    ("working_hours: 8 hours exact fit", "9-17", "07-06 09:00", 8, "07-07 09:00", "07-06 17:00"),
    # Zammad: escalation times on a calendar with two timeframes a day and listed holidays
    ("zammad: 60 min", "zammad", "11-16 09:00", 1, "11-16 10:00", None),
    ("zammad: across lunch", "zammad", "11-16 11:30", 1, "11-16 13:30", None),
    ("zammad: created at lunch", "zammad", "11-16 12:30", 1, "11-16 14:00", None),
    ("zammad: Friday evening", "zammad", "11-20 16:30", 1, "11-23 08:30", None),
    ("zammad: Christmas holidays", "zammad", "12-23 16:00", 2, "12-28 09:00", None),
    ("zammad: a full day exact fit", "zammad", "11-16 08:00", 8, "11-17 08:00", "11-16 17:00"),
    ("zammad: two business weeks", "zammad", "11-16 08:00", 80, "11-30 08:00", "11-27 17:00"),
    # Chatwoot: Saturday open all day, Sunday closed all day
    ("chatwoot: Friday into Saturday", "chatwoot", "07-10 16:00", 2, "07-11 01:00", None),
    ("chatwoot: Saturday into Monday", "chatwoot", "07-11 23:00", 2, "07-13 10:00", None),
    # The configuration contract's calendars: ES/MD holidays, listed dates, special hours
    ("madrid: starts on Inmaculada", "madrid", "12-08 10:00", 1, "12-09 10:00", None),
    ("madrid: listed date and Christmas", "madrid", "12-23 17:00", 2, "12-28 10:00", None),
    ("madrid: working date reopens it", "madrid_reopened", "12-08 10:00", 1, "12-08 11:00", None),
    ("madrid: New Year's Eve half day", "madrid", "12-31 12:00", 2, "2027-01-04 10:00", None),
    ("madrid: empty special hours", "madrid", "11-19 17:30", 1, "11-23 09:30", None),
    ("madrid: start at lunch", "madrid", "11-16 14:00", 1, "11-16 16:00", None),
    ("madrid: zero at an opening", "madrid", "11-16 15:00", 0, "11-16 15:00", None),
    ("madrid: zero at the close", "madrid", "11-16 18:00", 0, "11-17 09:00", None),
    ("madrid: six business weeks", "madrid", "09-14 09:00", 240, "10-27 09:00", "10-26 18:00"),
    # A night shift that starts the evening before a holiday still runs into it
    ("night: into the holiday", "madrid_night", "12-24 23:00", 5, "12-25 04:00", None),
    ("night: the holiday's shift is closed", "madrid_night", "12-25 05:00", 2, "12-26 23:00", None),
    ("24/7: three days", "always", "07-06 10:00", 72, "07-09 10:00", None),
    ("24/7: exact fit at 24:00", "always", "07-06 00:00", 24, "07-07 00:00", None),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "start", "hours", "expected", "due_by"),
    [case[1:] for case in DEADLINES],
    ids=[case[0] for case in DEADLINES],
)
def test_deadline_matches_peer_cases(name, start, hours, expected, due_by):
    # Given a calendar and a turn that opens at `start`
    cal = calendar(name)
    # When a budget of business hours is spent
    deadline = cal.deadline(local(name, start), hours * H)
    shown = cal.due_by(local(name, start), hours * H)
    # Then it is due at the expected instant, and reports show the close of an exact fit
    assert same_instant(deadline, local(name, expected)), deadline
    assert same_instant(shown, local(name, due_by or expected)), shown
    assert cal.elapsed(local(name, start), deadline) == hours * H


# Peer cases: business time between two instants -------------------------------------------------

# (case, calendar, start, end, expected business hours)
# fmt: off
ELAPSED = [
    ("biz: within Monday 08:00 to Tuesday 02:00", "biz", "07-06 08:00", "07-07 02:00", 10),
    ("working_hours: over a weekend", "9-17", "07-10 16:00", "07-13 10:00", 2),
    ("working_hours: a weekend only", "9-17", "07-11 10:00", "07-12 20:00", 0),
    # the gem answers a negative time for an end before the start
    ("working_hours: backwards", "9-17", "07-07 12:00", "07-06 10:00", 0),
    ("zammad: before opening to after lunch", "zammad", "11-16 07:00", "11-16 13:30", 4.5),
    ("chatwoot: report across the weekend", "chatwoot", "07-10 16:00", "07-13 10:00", 26),
    ("pandas night: Friday's shift", "22-05", "07-10 22:00", "07-13 06:00", 7),
    ("madrid: special hours day", "madrid", "12-31 00:00", "2027-01-01 00:00", 4),
    ("night: holiday keeps the eve's tail", "madrid_night", "12-25 00:00", "12-27 00:00", 8),
    ("24/7: real time", "always", "02-27 12:00", "03-02 12:00", 72),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "start", "end", "hours"),
    [case[1:] for case in ELAPSED],
    ids=[case[0] for case in ELAPSED],
)
def test_elapsed_matches_peer_cases(name, start, end, hours):
    # Given a calendar, When the business time between two wall times is measured
    seconds = calendar(name).elapsed(local(name, start), local(name, end))
    # Then it is the real time of their overlap with the opening intervals
    assert seconds == hours * H


# Peer cases: open or closed ----------------------------------------------------------------------

# fmt: off
OPEN = [
    ("biz: Tuesday 23:59 of a 24h day", "biz", "07-07 23:59", True),
    ("biz: lunch starts closed", "biz", "07-09 12:00", False),
    ("biz: opening instant is open", "biz", "07-09 13:00", True),
    ("biz: holiday", "biz", "01-01 10:00", False),
    ("chatwoot: working now", "chatwoot", "07-06 10:00", True),
    ("chatwoot: closing instant is closed", "chatwoot", "07-06 17:00", False),
    ("chatwoot: open all day", "chatwoot", "07-11 23:59", True),
    ("chatwoot: closed all day", "chatwoot", "07-12 10:00", False),
    ("pandas night: Tuesday 03:00 is Monday's", "22-05", "07-07 03:00", True),
    ("night: the eve's shift runs into the holiday", "madrid_night", "12-25 05:59", True),
    ("night: the holiday's own shift is closed", "madrid_night", "12-25 23:00", False),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "instant", "expected"),
    [case[1:] for case in OPEN],
    ids=[case[0] for case in OPEN],
)
def test_is_open_matches_peer_cases(name, instant, expected):
    # Given a calendar, When asked about one wall time, Then intervals are half-open
    assert calendar(name).is_open(local(name, instant)) is expected


def test_peer_tables_hold_at_least_forty_cases():
    # Given the three peer tables, Then together they transcribe at least 40 cases
    assert len(DEADLINES) + len(ELAPSED) + len(OPEN) >= 40


# Rules of §5 one at a time ----------------------------------------------------------------------


def test_deadline_is_in_the_calendars_zone():
    # Given a start in UTC, When a Madrid deadline is computed
    deadline = calendar("madrid").deadline(datetime(2026, 11, 16, 9, tzinfo=UTC), H)
    # Then it is the same instant, expressed in Madrid time
    assert deadline.tzinfo == ZoneInfo("Europe/Madrid")
    assert deadline == datetime(2026, 11, 16, 11, tzinfo=ZoneInfo("Europe/Madrid"))


def test_next_opening_is_the_instant_itself_when_open():
    # Given the Madrid office, When asked for the next opening during and after hours
    cal = calendar("madrid")
    # Then an open instant is its own next opening, and a closed one waits for the next interval
    assert cal.next_opening(local("madrid", "11-16 10:00")) == local("madrid", "11-16 10:00")
    assert cal.next_opening(local("madrid", "11-16 14:00")) == local("madrid", "11-16 15:00")
    assert cal.next_opening(local("madrid", "11-20 09:00")) == local("madrid", "11-23 09:00")


def test_budget_in_fractions_of_a_second_is_kept_to_the_microsecond():
    # Given an open office, When 0.25 s and 2 microseconds are spent
    start = local("madrid", "2026-11-16 10:00")
    # Then the deadline moves by as much real time, to the microsecond
    assert calendar("madrid").deadline(start, 0.25) - start == timedelta(microseconds=250_000)
    assert calendar("madrid").deadline(start, 0.000002) - start == timedelta(microseconds=2)


def test_negative_budget_is_refused():
    # Given a calendar, When a negative budget is asked for, Then it is refused
    with pytest.raises(ValueError, match="cannot be negative"):
        calendar("madrid").deadline(local("madrid", "2026-11-16 10:00"), -1)


def test_naive_datetimes_are_refused():
    # Given a wall time without a zone, When it is measured, Then it is refused: it is no instant
    with pytest.raises(ValueError, match="aware"):
        calendar("madrid").elapsed(datetime(2026, 11, 16, 10), datetime(2026, 11, 16, 11))


def test_a_calendar_of_special_hours_only_stops_after_the_last_one():
    # Given a calendar that opens only on one special date
    cal = BusinessCalendar.from_config(
        CalendarConfig.model_validate(
            {"timezone": "UTC", "special_hours": {"2026-12-05": ["10:00-12:00"]}}
        )
    )
    start = datetime(2026, 12, 1, tzinfo=UTC)
    # When one hour, and then all of its two hours, are spent
    # Then the first falls on that day; the second ends at a close that never reopens, so the
    # latest instant within budget is not finite
    assert cal.deadline(start, H) == datetime(2026, 12, 5, 11, tzinfo=UTC)
    with pytest.raises(ValueError, match="never opens again"):
        cal.deadline(start, 2 * H)


def test_overlapping_intervals_count_once():
    # Given a day whose intervals overlap, and an overnight tail that overlaps the next morning
    cal = BusinessCalendar.from_config(
        CalendarConfig.model_validate(
            {
                "timezone": "UTC",
                "hours": {
                    "mon": ["09:00-13:00", "12:00-14:00", "22:00-08:00"],
                    "tue": ["06:00-10:00"],
                },
            }
        )
    )
    # When Monday to Wednesday is measured
    seconds = cal.elapsed(datetime(2026, 7, 6, tzinfo=UTC), datetime(2026, 7, 8, tzinfo=UTC))
    # Then it is the union: 09-14 Monday (5 h) plus 22:00 to Tuesday 10:00 (12 h)
    assert seconds == 17 * H


# Daylight saving time ----------------------------------------------------------------------------

DST_DAYS = [
    # (zone, spring day, autumn day)
    ("Europe/Madrid", "2026-03-29", "2026-10-25"),
    ("America/New_York", "2026-03-08", "2026-11-01"),
]


def _every_day(zone: str, interval: str) -> BusinessCalendar:
    return BusinessCalendar.from_config(
        CalendarConfig.model_validate(
            {"timezone": zone, "hours": {d: [interval] for d in WEEKDAYS}}
        )
    )


def _wall(zone: str, day: str, clock: str = "00:00", fold: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day} {clock}").replace(tzinfo=ZoneInfo(zone), fold=fold)


def _next_day(day: str) -> str:
    return (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()


def _day_before(day: str) -> str:
    return (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST_DAYS)
def test_nine_to_six_still_lasts_nine_hours_on_dst_days(zone, spring, autumn):
    # Given a 09:00-18:00 calendar every day
    cal = _every_day(zone, "09:00-18:00")
    for day in (spring, autumn):
        # When the day the clocks change is measured from midnight to midnight
        seconds = cal.elapsed(_wall(zone, day), _wall(zone, _next_day(day)))
        # Then the interval lies after the change, so it lasts nine real hours
        assert seconds == 9 * H
        # And nine hours from the opening is due at the next day's opening, shown as 18:00
        assert cal.deadline(_wall(zone, day, "09:00"), 9 * H) == _wall(
            zone, _next_day(day), "09:00"
        )
        assert cal.due_by(_wall(zone, day, "09:00"), 9 * H) == _wall(zone, day, "18:00")


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST_DAYS)
def test_whole_day_lasts_what_really_elapses(zone, spring, autumn):
    # Given a 00:00-24:00 calendar
    cal = _every_day(zone, "00:00-24:00")
    # When the DST days are measured, Then spring's lasts 23 h and autumn's 25 h
    assert cal.elapsed(_wall(zone, spring), _wall(zone, _next_day(spring))) == 23 * H
    assert cal.elapsed(_wall(zone, autumn), _wall(zone, _next_day(autumn))) == 25 * H
    # And a 24-hour budget from the spring midnight ends at 01:00 the next day
    assert same_instant(
        cal.deadline(_wall(zone, spring), 24 * H), _wall(zone, _next_day(spring), "01:00")
    )


@pytest.mark.parametrize(("zone", "spring", "autumn"), DST_DAYS)
def test_overnight_shift_across_the_change(zone, spring, autumn):
    # Given a 22:00-06:00 night shift every day
    cal = _every_day(zone, "22:00-06:00")
    for eve, day, hours in ((_day_before(spring), spring, 7), (_day_before(autumn), autumn, 9)):
        # When the shift that starts the evening before the change is measured
        seconds = cal.elapsed(_wall(zone, eve, "20:00"), _wall(zone, day, "12:00"))
        # Then it lasts what really elapses: 7 h in spring, 9 h in autumn
        assert seconds == hours * H
        # And its exact budget is due at the next shift, shown as 06:00 on the change day
        assert cal.deadline(_wall(zone, eve, "22:00"), hours * H) == _wall(zone, day, "22:00")
        assert same_instant(
            cal.due_by(_wall(zone, eve, "22:00"), hours * H), _wall(zone, day, "06:00")
        )


def test_time_in_the_spring_gap_maps_forward():
    # Given Madrid round the clock, When an hour is spent from 01:30 on 29 Mar 2026
    cal = _every_day("Europe/Madrid", "00:00-24:00")
    deadline = cal.deadline(_wall("Europe/Madrid", "2026-03-29", "01:30"), H)
    # Then it is 03:30 summer time: 02:00-03:00 does not exist that night
    assert deadline.strftime("%H:%M %Z") == "03:30 CEST"


def test_an_opening_in_the_spring_gap_starts_an_hour_later_by_the_clock():
    # Given a Madrid calendar opening at 02:30, a wall time that does not exist on 29 Mar 2026
    cal = _every_day("Europe/Madrid", "02:30-04:00")
    # When that day is measured
    day = "2026-03-29"
    seconds = cal.elapsed(_wall("Europe/Madrid", day), _wall("Europe/Madrid", _next_day(day)))
    # Then 02:30 maps forward to 03:30 summer time, leaving half an hour open
    assert seconds == 0.5 * H
    assert cal.next_opening(_wall("Europe/Madrid", day)).strftime("%H:%M %Z") == "03:30 CEST"


def test_an_ambiguous_autumn_wall_time_is_its_first_occurrence():
    # Given a Madrid calendar 02:30-03:00, on 25 Oct 2026 when 02:00-03:00 happens twice
    cal = _every_day("Europe/Madrid", "02:30-03:00")
    day = "2026-10-25"
    # When that day is measured
    seconds = cal.elapsed(_wall("Europe/Madrid", day), _wall("Europe/Madrid", _next_day(day)))
    # Then it opens at the first 02:30 (summer time) and closes at 03:00 winter time: 1.5 h
    assert seconds == 1.5 * H
    assert cal.is_open(_wall("Europe/Madrid", day, "02:45", fold=0))
    assert cal.is_open(_wall("Europe/Madrid", day, "02:45", fold=1))


def test_two_hours_from_the_first_half_past_one_end_at_the_second_half_past_two():
    # Given Madrid round the clock, When two hours are spent from 01:30 on 25 Oct 2026
    cal = _every_day("Europe/Madrid", "00:00-24:00")
    deadline = cal.deadline(_wall("Europe/Madrid", "2026-10-25", "01:30"), 2 * H)
    # Then the clock shows 02:30 winter time (the second 02:30 of the night)
    assert deadline.strftime("%H:%M %Z") == "02:30 CET"
    assert deadline.fold == 1


# The policy --------------------------------------------------------------------------------------


def _madrid_policy() -> BusinessHoursPolicy:
    return BusinessHoursPolicy(
        "madrid-business",
        calendar("madrid"),
        first_response_seconds=2 * H,
        next_response_seconds=4 * H,
        ladder=(
            LadderLevel(level="warning", fraction=0.75),
            LadderLevel(level="breach", fraction=1.0),
            LadderLevel(level="manager", fraction=1.0, offset_seconds=2 * H),
        ),
    )


def test_policy_window_counts_target_and_ladder_in_business_time():
    # Given a 2-hour first-response target in the Madrid office
    policy: ResponsePolicy = _madrid_policy()
    # When a turn opens at 17:00 on Monday
    window = policy.window(TurnKind.FIRST, local("madrid", "2026-11-16 17:00"), Priority.NORMAL)
    # Then one hour is spent on Monday and the rest from Tuesday's opening
    assert window.target_seconds == 2 * H
    assert window.due_at == local("madrid", "2026-11-17 10:00")
    assert dict(window.levels) == {
        "warning": local("madrid", "2026-11-17 09:30"),
        "breach": local("madrid", "2026-11-17 10:00"),
        "manager": local("madrid", "2026-11-17 12:00"),
    }


def test_policy_window_of_an_exact_fit_is_due_at_the_next_opening():
    # Given the Madrid policy, When a next-response turn (4 h) opens at 13:00 on Monday
    window = _madrid_policy().window(
        TurnKind.NEXT, local("madrid", "2026-11-16 13:00"), Priority.NORMAL
    )
    # Then 1 h before lunch and 3 h after it end at the 18:00 close: due at Tuesday's opening
    assert window.due_at == local("madrid", "2026-11-17 09:00")


def test_policy_elapsed_is_business_time():
    # Given the Madrid policy, When Monday 17:00 to Tuesday 10:00 is measured, Then it is 2 h
    waited = _madrid_policy().elapsed_seconds(
        local("madrid", "2026-11-16 17:00"), local("madrid", "2026-11-17 10:00")
    )
    assert waited == 2 * H


def test_reply_while_closed_after_an_exact_fit_is_on_time():
    # Given a 2-hour first-response target, and a customer who writes at 16:00 on Monday
    policy = _madrid_policy()
    opened = local("madrid", "2026-11-16 16:00")
    window = policy.window(TurnKind.FIRST, opened, Priority.NORMAL)
    # When the brand replies at 23:00 that night, or a minute after Tuesday's opening
    night, morning = local("madrid", "2026-11-16 23:00"), local("madrid", "2026-11-17 09:01")
    # Then the night reply has spent exactly the target and is before the deadline: on time
    # (§5: breached only when strictly more); the morning reply is late
    assert policy.elapsed_seconds(opened, night) == window.target_seconds
    assert night < window.due_at == local("madrid", "2026-11-17 09:00")
    assert policy.elapsed_seconds(opened, morning) > window.target_seconds
    assert morning > window.due_at


def test_policy_instants_are_in_the_zone_of_the_opening():
    # Given a turn opened at a UTC instant, When its window is computed
    window = _madrid_policy().window(
        TurnKind.FIRST, datetime(2026, 11, 16, 15, tzinfo=UTC), Priority.NORMAL
    )
    # Then its instants are UTC too, like FixedWindowPolicy's (inter-zone == is unsafe in a fold)
    assert window.due_at.tzinfo is UTC
    assert all(at.tzinfo is UTC for _, at in window.levels)


# Configuration -----------------------------------------------------------------------------------


def test_the_contract_example_parses():
    # Given the configuration contract's example calendar in YAML
    document = yaml.safe_load(
        """
        madrid-office:
          timezone: Europe/Madrid
          hours: {mon: ["09:00-14:00", "15:00-18:00"], tue: ["09:00-18:00"], sat: []}
          holidays:
            {country: ES, subdivision: MD, dates: ["2026-12-24"], working_dates: ["2026-11-09"]}
          special_hours: {"2026-12-31": ["09:00-13:00"]}
        """
    )
    # When it is validated and built
    config = CalendarConfig.model_validate(document["madrid-office"])
    cal = BusinessCalendar.from_config(config)
    # Then Monday has a lunch break, Wednesday is closed and New Year's Eve is a half day
    monday = local("madrid", "2026-11-16 00:00")
    assert cal.elapsed(monday, monday + timedelta(days=1)) == 8 * H
    assert cal.elapsed(monday + timedelta(days=2), monday + timedelta(days=3)) == 0
    assert (
        cal.elapsed(local("madrid", "2026-12-31 00:00"), local("madrid", "2027-01-01 00:00"))
        == 4 * H
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00-18:00", OpeningInterval(9 * 60, 18 * 60)),
        ("22:00-06:00", OpeningInterval(22 * 60, 30 * 60)),
        ("18:00-24:00", OpeningInterval(18 * 60, 24 * 60)),
        ("00:00-24:00", OpeningInterval(0, 24 * 60)),
        ("12:00-00:00", OpeningInterval(12 * 60, 24 * 60)),
    ],
)
def test_interval_texts_are_read_in_wall_minutes(text, expected):
    # Given an interval text, When it is parsed, Then an end before the start runs overnight
    assert parse_interval(text) == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"timezone": "Europe/Madird", "hours": {"mon": ["09:00-18:00"]}},
            "unknown IANA time zone 'Europe/Madird'; expected a name like Europe/Madrid",
        ),
        (
            {"timezone": "UTC", "hours": {"mon": ["9-18"]}},
            "expected an interval like 09:00-18:00, got '9-18'",
        ),
        ({"timezone": "UTC", "hours": {"mon": ["09:00-09:00"]}}, "start equals end"),
        ({"timezone": "UTC", "hours": {"mon": ["24:00-06:00"]}}, "24:00 is only allowed as an end"),
        (
            {"timezone": "UTC", "hours": {"mon": ["09:00-24:30"]}},
            "expected times from 00:00 to 23:59 (24:00 as an end)",
        ),
        ({"timezone": "UTC", "hours": {"monday": ["09:00-18:00"]}}, "Input should be 'mon', 'tue'"),
        (
            {"timezone": "UTC", "hours": {"mon": ["09:00-18:00"]}, "holidays": {"country": "XX"}},
            "unknown country 'XX' for holidays; expected an ISO 3166-1 alpha-2 code",
        ),
        (
            {
                "timezone": "UTC",
                "hours": {"mon": ["09:00-18:00"]},
                "holidays": {"country": "ES", "subdivision": "XX"},
            },
            "unknown subdivision 'XX' of ES; expected one of",
        ),
        (
            {
                "timezone": "UTC",
                "hours": {"mon": ["09:00-18:00"]},
                "holidays": {"subdivision": "MD"},
            },
            "needs a country",
        ),
        (
            {
                "timezone": "UTC",
                "hours": {"mon": ["09:00-18:00"]},
                "holidays": {"dates": ["2026-12-08"], "working_dates": ["2026-12-08"]},
            },
            "both closed and working: 2026-12-08",
        ),
        ({"timezone": "UTC", "hours": {"mon": []}}, "a calendar must open sometime"),
        (
            {"timezone": "UTC", "hours": {"mon": ["09:00-18:00"]}, "holiday": {}},
            "Extra inputs are not permitted",
        ),
        (
            {
                "timezone": "UTC",
                "hours": {"mon": ["09:00-18:00"]},
                "special_hours": {"2026-12-31": ["9-13"]},
            },
            "expected an interval like 09:00-18:00, got '9-13'",
        ),
    ],
)
def test_config_errors_say_what_is_expected(config, message):
    # Given an invalid calendar, When it is validated, Then the error says what is expected
    with pytest.raises(ValidationError) as error:
        CalendarConfig.model_validate(config)
    assert message in str(error.value)


# Properties --------------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "America/Havana"]
# Transition days of the zones above, where starts are made to cluster.
TRANSITIONS = [
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
]
PROPERTY = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


intervals = (
    st.tuples(st.integers(0, 95), st.integers(1, 96))
    .filter(lambda se: se[0] != se[1] % 96)
    .map(lambda se: f"{_clock(se[0] * 15)}-{_clock(se[1] * 15)}")
)
day_hours = st.lists(intervals, max_size=3)
calendars = st.builds(
    lambda zone, hours, holidays, special: BusinessCalendar.from_config(
        CalendarConfig.model_validate(
            {"timezone": zone, "hours": hours, "holidays": holidays, "special_hours": special}
        )
    ),
    st.sampled_from(ZONES),
    st.dictionaries(st.sampled_from(WEEKDAYS), day_hours, min_size=1).filter(
        lambda hours: any(hours.values())
    ),
    st.one_of(
        st.none(),
        st.just({"country": "ES", "subdivision": "MD", "working_dates": ["2026-12-08"]}),
        st.builds(
            lambda days: {"dates": days},
            st.lists(
                st.dates(datetime(2026, 1, 1).date(), datetime(2026, 12, 31).date()), max_size=5
            ),
        ),
    ),
    st.dictionaries(
        st.dates(datetime(2026, 1, 1).date(), datetime(2026, 12, 31).date()), day_hours, max_size=3
    ),
)
instants = st.one_of(
    st.datetimes(datetime(2025, 12, 1), datetime(2027, 1, 31), timezones=st.just(UTC)),
    st.builds(
        lambda base, offset: base + timedelta(seconds=offset),
        st.sampled_from(TRANSITIONS),
        st.integers(-3 * 86400, 3 * 86400),
    ),
)
budgets = st.one_of(st.integers(0, 40 * 86400), st.floats(0, 40 * 86400, allow_nan=False))


@PROPERTY
@given(cal=calendars, start=instants, budget=budgets)
def test_a_deadline_spends_exactly_its_budget(cal, start, budget):
    # Given any calendar, start and budget, When the deadline is computed
    deadline = cal.deadline(start, budget)
    # Then the business time up to it is the budget, and it is the latest such instant: open,
    # so any later instant has spent more
    assert cal.elapsed(start, deadline) == pytest.approx(budget, abs=1e-6)
    assert cal.is_open(deadline)
    # And "due by" is never later and has spent the same
    assert cal.due_by(start, budget) <= deadline
    assert cal.elapsed(start, cal.due_by(start, budget)) == pytest.approx(budget, abs=1e-6)


@PROPERTY
@given(cal=calendars, start=instants, smaller=budgets, extra=budgets)
def test_deadlines_never_decrease_as_the_budget_grows(cal, start, smaller, extra):
    # Given two budgets, one larger, When their deadlines are computed, Then they are ordered
    assert cal.deadline(start, smaller) <= cal.deadline(start, smaller + extra)


@PROPERTY
@given(
    cal=calendars,
    a=instants,
    gaps=st.tuples(st.integers(0, 20 * 86400), st.integers(0, 20 * 86400)),
)
def test_elapsed_is_additive(cal, a, gaps):
    # Given three ordered instants a <= b <= c
    b = a + timedelta(seconds=gaps[0])
    c = b + timedelta(seconds=gaps[1])
    # When business time is measured piecewise and at once, Then the pieces add up
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == pytest.approx(cal.elapsed(a, c), abs=1e-6)

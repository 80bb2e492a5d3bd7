"""Business time (SLA_SEMANTICS §5): opening hours in a brand's time zone, counted in real seconds.

A `CalendarConfig` is the configuration contract (time zone, weekly hours, holidays, special
hours); a `BusinessCalendar` answers the questions the SLA clock asks of it (`elapsed`,
`deadline`, `due_by`, `is_open`, `next_opening`); `BusinessHoursPolicy` is the `ResponsePolicy`
that measures targets in a calendar's business time.

How it works: the intervals that start on one local date are turned into UTC instants (integer
microseconds, so sums are exact) once and cached per date. Questions walk whole days and only
look inside the days where the answer falls, so a deadline 30 business days ahead costs about
40 dictionary lookups, not a minute-by-minute walk.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from reply_sla.domain.models import Message, Priority, TurnKind
from reply_sla.domain.policy import LadderLevel, ResponsePolicy, SlaWindow


def _holidays() -> Any:
    """The `holidays` package, imported when a calendar first names a country: it costs about
    40 ms, which a function's cold start should pay only if it needs it."""
    import holidays

    return holidays


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_INTERVAL = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_DAY_MINUTES = 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_PER_SECOND = 1_000_000


# Configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningInterval:
    """One opening in local wall time, in minutes after the midnight of the day it starts on.

    `end` is above 1440 for an overnight interval, whose tail belongs to the day it starts on.
    """

    start: int
    end: int


def parse_interval(text: object) -> OpeningInterval:
    """Read `09:00-18:00`, an overnight `22:00-06:00` or a day's end `18:00-24:00`."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected an interval like 09:00-18:00, got {text!r}")
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    if start_h == 24:
        raise ValueError(f"24:00 is only allowed as an end, got {text!r}")
    if start_h > 23 or start_m > 59 or end_m > 59 or end_h > 24 or (end_h == 24 and end_m):
        raise ValueError(f"expected times from 00:00 to 23:59 (24:00 as an end), got {text!r}")
    start = start_h * 60 + start_m
    end = end_h * 60 + end_m
    if end == start:
        raise ValueError(
            f"an interval must not be empty (start equals end), got {text!r}; "
            "use 00:00-24:00 for a whole day"
        )
    # An end before the start is an overnight interval that closes the next morning.
    return OpeningInterval(start, end if end > start else end + _DAY_MINUTES)


def _checked_interval(text: str) -> str:
    parse_interval(text)
    return text


IntervalText = Annotated[str, AfterValidator(_checked_interval)]


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown IANA time zone {value!r}; expected a name like Europe/Madrid"
        ) from exc
    return value


class HolidayConfig(BaseModel):
    """Closed dates: a country's public holidays (the `holidays` package) plus listed dates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = None
    subdivision: str | None = None
    dates: list[date] = Field(default_factory=list)
    working_dates: list[date] = Field(default_factory=list)

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value not in _holidays().list_supported_countries():
            raise ValueError(
                f"unknown country {value!r} for holidays; expected an ISO 3166-1 alpha-2 code "
                "that the holidays package supports, like ES or US"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HolidayConfig:
        if self.subdivision is not None:
            if self.country is None:
                raise ValueError("a holidays subdivision needs a country, like country: ES")
            known = _holidays().list_supported_countries()[self.country]
            if self.subdivision not in known:
                raise ValueError(
                    f"unknown subdivision {self.subdivision!r} of {self.country}; "
                    f"expected one of {', '.join(known)}"
                )
        both = sorted(set(self.dates) & set(self.working_dates))
        if both:
            raise ValueError(
                "a date cannot be both closed and working: "
                + ", ".join(day.isoformat() for day in both)
            )
        return self


class CalendarConfig(BaseModel):
    """One named calendar of the configuration document; missing weekdays are closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: Annotated[str, AfterValidator(_known_zone)]
    hours: dict[Weekday, list[IntervalText]] = Field(default_factory=dict)
    holidays: HolidayConfig | None = None
    special_hours: dict[date, list[IntervalText]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _opens_sometime(self) -> CalendarConfig:
        if not any(self.hours.values()) and not any(self.special_hours.values()):
            raise ValueError(
                "a calendar must open sometime: expected at least one interval in `hours` "
                "(or in `special_hours`)"
            )
        return self


# The calendar ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Day:
    """The open spans a local date contributes, in UTC microseconds: sorted, disjoint."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    total: int


_CLOSED_DAY = _Day((), (), 0)


def _micros(instant: datetime) -> int:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"business time needs aware datetimes, got {instant!r}")
    return (instant - _EPOCH) // _MICROSECOND


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(spans: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` minus `cut`; both sorted and disjoint."""
    out: list[tuple[int, int]] = []
    for start, end in spans:
        for cut_start, cut_end in cut:
            if cut_end <= start or cut_start >= end:
                continue
            if cut_start > start:
                out.append((start, cut_start))
            start = max(start, cut_end)
            if start >= end:
                break
        if start < end:
            out.append((start, end))
    return out


class BusinessCalendar:
    """Opening hours in one IANA zone; business time is real elapsed time inside them."""

    def __init__(
        self,
        zone: ZoneInfo,
        weekly: Sequence[Sequence[OpeningInterval]],
        *,
        closed_dates: frozenset[date] = frozenset(),
        working_dates: frozenset[date] = frozenset(),
        public_holidays: Mapping[date, str] | None = None,
        special_hours: Mapping[date, Sequence[OpeningInterval]] | None = None,
    ) -> None:
        """`weekly` has seven entries, Monday first; `special_hours` replace a date's hours."""
        if len(weekly) != 7:
            raise ValueError(f"expected opening hours for 7 weekdays, got {len(weekly)}")
        self.zone = zone
        self._weekly = tuple(tuple(day) for day in weekly)
        self._closed = closed_dates
        self._working = working_dates
        self._public = public_holidays
        self._special = {day: tuple(spans) for day, spans in (special_hours or {}).items()}
        # Without weekly hours only special hours open, so past the last of them (plus its
        # overnight tail) nothing ever opens again and a walk must stop.
        self._last_open_ordinal: int | None = None
        if not any(self._weekly):
            opened = [day.toordinal() for day, spans in self._special.items() if spans]
            self._last_open_ordinal = max(opened, default=0) + 1
        self._raw_cache: dict[int, list[tuple[int, int]]] = {}
        self._day_cache: dict[int, _Day] = {}

    @classmethod
    def from_config(cls, config: CalendarConfig) -> BusinessCalendar:
        """Build the calendar a validated `CalendarConfig` describes."""
        weekly = [[parse_interval(text) for text in config.hours.get(day, [])] for day in WEEKDAYS]
        special = {
            day: [parse_interval(text) for text in texts]
            for day, texts in config.special_hours.items()
        }
        rules = config.holidays or HolidayConfig()
        public = (
            _holidays().country_holidays(rules.country, subdiv=rules.subdivision)
            if rules.country
            else None
        )
        return cls(
            ZoneInfo(config.timezone),
            weekly,
            closed_dates=frozenset(rules.dates),
            working_dates=frozenset(rules.working_dates),
            public_holidays=public,
            special_hours=special,
        )

    # Questions --------------------------------------------------------------------------------

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Business seconds between two instants (0 when `end` is not after `start`)."""
        low, high = _micros(start), _micros(end)
        if high <= low:
            return 0.0
        total = 0
        # The day before may reach into `start` with an overnight tail.
        for ordinal in range(self._ordinal(start) - 1, self._ordinal(end) + 1):
            day = self._day(ordinal)
            if not day.total:
                continue
            if day.starts[0] >= low and day.ends[-1] <= high:
                total += day.total
                continue
            for span_start, span_end in zip(day.starts, day.ends, strict=True):
                total += max(0, min(span_end, high) - max(span_start, low))
        return total / _PER_SECOND

    def deadline(self, start: datetime, seconds: float) -> datetime:
        """The latest instant whose business time since `start` is at most `seconds`.

        A budget that runs out exactly at a closing time is due at the next opening.
        """
        return self._instant(self._walk(start, seconds)[0])

    def due_by(self, start: datetime, seconds: float) -> datetime:
        """What reports show as "due by": the closing instant of an exact fit, else `deadline`."""
        return self._instant(self._walk(start, seconds)[1])

    def next_opening(self, instant: datetime) -> datetime:
        """The first instant at or after `instant` when the calendar is open."""
        return self.deadline(instant, 0)

    def is_open(self, instant: datetime) -> bool:
        """Whether `instant` falls inside an opening interval (start included, end excluded)."""
        at = _micros(instant)
        ordinal = self._ordinal(instant)
        for day in (self._day(ordinal - 1), self._day(ordinal)):
            index = bisect_right(day.starts, at) - 1
            if index >= 0 and at < day.ends[index]:
                return True
        return False

    # Machinery --------------------------------------------------------------------------------

    def _walk(self, start: datetime, seconds: float) -> tuple[int, int]:
        """(deadline, due by) in microseconds for a budget of `seconds` from `start`."""
        if seconds < 0:
            raise ValueError(f"a business-time budget cannot be negative, got {seconds}")
        low = _micros(start)
        # Budgets resolve to the microsecond, the resolution of datetime.
        remaining = round(seconds * _PER_SECOND)
        closing: int | None = None
        ordinal = self._ordinal(start) - 1
        while True:
            if self._last_open_ordinal is not None and ordinal > self._last_open_ordinal:
                raise ValueError(
                    f"the calendar never opens again after {start.isoformat()}, "
                    "so this deadline is unbounded"
                )
            day = self._day(ordinal)
            ordinal += 1
            if not day.total or day.ends[-1] <= low:
                continue
            if day.starts[0] >= low and remaining >= day.total:
                remaining -= day.total
                closing = day.ends[-1]
                continue
            for span_start, span_end in zip(day.starts, day.ends, strict=True):
                if span_end <= low:
                    continue
                opened = max(span_start, low)
                if remaining < span_end - opened:
                    due = opened + remaining
                    # Nothing left on arrival at an opening: the budget ran out at `closing`.
                    return due, closing if remaining == 0 and closing is not None else due
                remaining -= span_end - opened
                closing = span_end

    def _ordinal(self, instant: datetime) -> int:
        return instant.astimezone(self.zone).date().toordinal()

    def _instant(self, micros: int) -> datetime:
        return (_EPOCH + micros * _MICROSECOND).astimezone(self.zone)

    def _wall(self, day: date, minutes: int) -> int:
        """A local wall time as UTC microseconds; fold=0 maps a gap forward, picks the first of
        two ambiguous times."""
        day = day + timedelta(days=minutes // _DAY_MINUTES)
        minutes %= _DAY_MINUTES
        local = datetime(
            day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=self.zone
        )
        return (local - _EPOCH) // _MICROSECOND

    def _intervals_of(self, day: date) -> tuple[OpeningInterval, ...]:
        # The most specific rule wins: special hours, then closed dates, then the weekday.
        if day in self._special:
            return self._special[day]
        if day in self._closed:
            return ()
        if self._public is not None and day in self._public and day not in self._working:
            return ()
        return self._weekly[day.weekday()]

    def _raw(self, ordinal: int) -> list[tuple[int, int]]:
        """The intervals that start on a local date, in UTC microseconds, merged."""
        cached = self._raw_cache.get(ordinal)
        if cached is None:
            day = date.fromordinal(ordinal)
            spans = [
                (self._wall(day, interval.start), self._wall(day, interval.end))
                for interval in self._intervals_of(day)
            ]
            # An interval lying in a spring-forward gap can map to nothing (or backwards).
            cached = _union([(start, end) for start, end in spans if end > start])
            self._raw_cache[ordinal] = cached
        return cached

    def _day(self, ordinal: int) -> _Day:
        """What a date adds to the timeline: its intervals minus the previous day's overnight
        tail, so no instant is counted twice and days come in order."""
        cached = self._day_cache.get(ordinal)
        if cached is None:
            if ordinal < 2:
                return _CLOSED_DAY
            spans = _subtract(self._raw(ordinal), self._raw(ordinal - 1))
            cached = (
                _Day(
                    tuple(start for start, _ in spans),
                    tuple(end for _, end in spans),
                    sum(end - start for start, end in spans),
                )
                if spans
                else _CLOSED_DAY
            )
            self._day_cache[ordinal] = cached
        return cached


# The policy -----------------------------------------------------------------------------------


class BusinessHoursPolicy:
    """Targets counted in a calendar's business time, with a ladder in the same clock."""

    def __init__(
        self,
        name: str,
        calendar: BusinessCalendar,
        first_response_seconds: int = 3600,
        next_response_seconds: int = 7200,
        ladder: Sequence[LadderLevel] = (LadderLevel(level="breach", fraction=1.0),),
    ) -> None:
        self.name = name
        self.calendar = calendar
        self.first_response_seconds = first_response_seconds
        self.next_response_seconds = next_response_seconds
        self.ladder = tuple(ladder)

    def window(self, kind: TurnKind, opened_at: datetime, priority: Priority) -> SlaWindow:
        """Due at the business-time deadline; each level at its fraction of the target plus its
        offset, both in business seconds. Instants are in `opened_at`'s zone, as with
        `FixedWindowPolicy`."""
        target = (
            self.first_response_seconds if kind is TurnKind.FIRST else self.next_response_seconds
        )

        def due(seconds: float) -> datetime:
            # A negative offset larger than the target's share falls due at once.
            return self.calendar.deadline(opened_at, max(0.0, seconds)).astimezone(opened_at.tzinfo)

        return SlaWindow(
            policy=self.name,
            target_seconds=target,
            due_at=due(target),
            levels=tuple(
                (level.level, due(target * level.fraction + level.offset_seconds))
                for level in self.ladder
            ),
        )

    def elapsed_seconds(self, start: datetime, end: datetime) -> float:
        """Business seconds between two instants in this policy's calendar."""
        return self.calendar.elapsed(start, end)

    # One policy for everything is also a policy book.
    def policy_for(self, message: Message, priority: Priority) -> ResponsePolicy:
        return self

    def named(self, name: str, brand: str) -> ResponsePolicy:
        return self

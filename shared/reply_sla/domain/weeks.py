"""ISO weeks in a brand's time zone, and the timestamp format used in sort keys."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


def iso_utc(value: datetime) -> str:
    """A fixed-width UTC timestamp (sorts as text the way it sorts in time)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 with `Z` or an offset; naive input is refused."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return parsed


def week_of(instant: datetime, timezone: str) -> str:
    """The ISO week label, like 2026-W47, of an instant in the given zone."""
    year, week, _ = instant.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str, timezone: str) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00, local wall time, as aware datetimes."""
    try:
        year_text, week_text = week.split("-W")
        monday = date.fromisocalendar(int(year_text), int(week_text), 1)
    except ValueError as exc:
        raise ValueError(f"expected an ISO week like 2026-W47, got {week!r}") from exc
    zone = ZoneInfo(timezone)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=zone)
    nxt = monday + timedelta(days=7)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
    return start, end


def previous_week(instant: datetime, timezone: str) -> str:
    """The last complete ISO week before the week that contains `instant`."""
    return week_of(instant.astimezone(ZoneInfo(timezone)) - timedelta(days=7), timezone)


def shift_week(week: str, weeks: int) -> str:
    """The week `weeks` weeks after (or before, if negative) the given one."""
    year_text, week_text = week.split("-W")
    monday = date.fromisocalendar(int(year_text), int(week_text), 1) + timedelta(weeks=weeks)
    year, number, _ = monday.isocalendar()
    return f"{year}-W{number:02d}"


def weeks_before(week: str, count: int) -> list[str]:
    """The `count` weeks before `week`, oldest first (for 8-week trends: count=7)."""
    return [shift_week(week, -offset) for offset in range(count, 0, -1)]


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class LocalHours:
    """Local wall-clock hours of a period, to place instants by weekday and hour quickly.

    Every local day of the period has 24 hour starts, as POSIX timestamps (`starts`): on a
    spring-forward day the missing hour starts when the next one does (it is empty); on a
    fall-back day the repeated hour lasts two real hours. An hour's position is its index in
    `starts`; `slots[position]` is `weekday * 24 + hour` (Monday 00:00-01:00 is 0).
    `starts_utc` are the same instants as UTC datetimes: a UTC datetime is placed by comparing
    it with them directly (much faster than taking its timestamp first).
    """

    def __init__(self, start: datetime, end: datetime, timezone: str) -> None:
        zone = ZoneInfo(timezone)
        first = start.astimezone(zone).date()
        last = end.astimezone(zone).date()
        first_weekday = first.weekday()
        self.starts: list[float] = []
        day = first
        while day <= last:
            for hour in range(24):
                self.starts.append(
                    datetime(day.year, day.month, day.day, hour, tzinfo=zone).timestamp()
                )
            day += timedelta(days=1)
        self.end = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
        self.starts_utc = [datetime.fromtimestamp(ts, UTC) for ts in self.starts]
        self.slots = [
            ((first_weekday + position // 24) % 7) * 24 + position % 24
            for position in range(len(self.starts))
        ]

    def index(self, ts: float) -> int | None:
        """The hour's position from the first local midnight, or None outside the period."""
        if ts < self.starts[0] or ts >= self.end:
            return None
        return bisect_right(self.starts, ts) - 1

    def slot(self, ts: float) -> int | None:
        """weekday * 24 + hour, or None outside the period."""
        position = self.index(ts)
        return None if position is None else self.slots[position]


def local_slot(instant: datetime, timezone: str) -> int:
    """weekday * 24 + hour of any instant in the zone (Monday 00:00-01:00 is 0)."""
    local = instant.astimezone(ZoneInfo(timezone))
    return local.weekday() * 24 + local.hour

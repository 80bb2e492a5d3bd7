"""ISO weeks in a brand's time zone, and the timestamp format used in sort keys."""

from __future__ import annotations

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

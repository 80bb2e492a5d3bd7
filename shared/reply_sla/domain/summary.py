"""Weekly summary metrics of SLA_SEMANTICS §7, computed from stored facts (pure)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reply_sla.domain.models import (
    Direction,
    EventType,
    Message,
    SlaEvent,
    Turn,
    TurnKind,
    TurnStatus,
)

SCHEMA_VERSION = 1
_LEVEL_EVENTS = {EventType.WARNING, EventType.BREACHED, EventType.ESCALATED}


@dataclass(frozen=True)
class WeekFacts:
    """Everything a summary is computed from, for one brand and one week."""

    start: datetime
    end: datetime
    now: datetime
    messages: Sequence[Message]
    turns: Sequence[Turn]
    events: Sequence[SlaEvent]
    open_turns: Sequence[Turn]

    def only(self, keep: Callable[[str, str], bool]) -> WeekFacts:
        """The same facts restricted to some channels or accounts: keep(channel, account_id)."""
        return WeekFacts(
            start=self.start,
            end=self.end,
            now=self.now,
            messages=[m for m in self.messages if keep(m.channel, m.account_id)],
            turns=[t for t in self.turns if keep(t.channel, t.account_id)],
            events=[e for e in self.events if keep(e.channel, e.account_id)],
            open_turns=[t for t in self.open_turns if keep(t.channel, t.account_id)],
        )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median": None, "p90": None, "mean": None}
    ordered = sorted(values)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "count": len(ordered),
        "median": round(median, 1),
        "p90": round(percentile(ordered, 0.9) or 0.0, 1),
        "mean": round(sum(ordered) / len(ordered), 1),
    }


def _response_times(turns: Iterable[Turn], kind: TurnKind) -> dict[str, Any]:
    answered = [
        t for t in turns if t.kind is kind and t.status is TurnStatus.ANSWERED and t.replied_at
    ]
    calendar = [(t.replied_at - t.opened_at).total_seconds() for t in answered if t.replied_at]
    business = [t.response_seconds for t in answered if t.response_seconds is not None]
    return {"business": _stats(business), "calendar": _stats(calendar)}


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def breach_row(turn: Turn, now: datetime) -> dict[str, Any]:
    end = turn.replied_at or now
    return {
        "turn": turn.key,
        "link": turn.url,
        "channel": turn.channel,
        "account": turn.account_id,
        "priority": turn.priority.value,
        "customer": turn.author_handle or turn.author_name,
        "opened_at": turn.opened_at.isoformat(),
        "due_at": turn.due_at.isoformat(),
        "replied_at": turn.replied_at.isoformat() if turn.replied_at else None,
        "waited_seconds": round((end - turn.opened_at).total_seconds()),
        "target_seconds": turn.target_seconds,
        "status": turn.status.value,
        "owner": turn.account_id,
    }


def _breached(turn: Turn, now: datetime) -> bool:
    if turn.status is TurnStatus.ANSWERED:
        return turn.breached
    return turn.status is TurnStatus.OPEN and now > turn.due_at


def week_metrics(facts: WeekFacts) -> dict[str, Any]:
    """The §7 metrics for one scope (brand, channel or account)."""
    start, end, now = facts.start, facts.end, facts.now
    inbound = [
        m
        for m in facts.messages
        if m.direction is Direction.INBOUND and start <= m.created_at < end
    ]
    opened = [t for t in facts.turns if start <= t.opened_at < end]
    answered = [t for t in opened if t.status is TurnStatus.ANSWERED]
    dismissed = [t for t in opened if t.status is TurnStatus.DISMISSED]
    due = [
        t
        for t in facts.turns
        if start <= t.due_at < end and t.due_at <= now and t.status is not TurnStatus.DISMISSED
    ]
    on_time = [t for t in due if t.status is TurnStatus.ANSWERED and not t.breached]
    breaches = sorted((t for t in due if _breached(t, now)), key=lambda t: (t.due_at, t.key))
    overdue = sorted(
        (t for t in facts.open_turns if t.status is TurnStatus.OPEN and t.due_at < now),
        key=lambda t: t.due_at,
    )
    levels = Counter(
        e.level or e.type.value
        for e in facts.events
        if e.type in _LEVEL_EVENTS and start <= e.at < end
    )
    return {
        "inbound_messages": len(inbound),
        "turns_opened": len(opened),
        "turns_answered": len(answered),
        "turns_dismissed": len(dismissed),
        "response_rate": _ratio(len(answered), len(opened) - len(dismissed)),
        "turns_due": len(due),
        "turns_on_time": len(on_time),
        "sla_attainment": _ratio(len(on_time), len(due)),
        "first_response_seconds": _response_times(opened, TurnKind.FIRST),
        "next_response_seconds": _response_times(opened, TurnKind.NEXT),
        "breaches": [breach_row(t, now) for t in breaches],
        "open_overdue": len(overdue),
        "escalations_sent": dict(sorted(levels.items())),
    }


def daily_counts(facts: WeekFacts, timezone: str) -> list[dict[str, Any]]:
    """Per local day of the week: inbound messages, turns opened, and how they ended."""
    zone = ZoneInfo(timezone)
    first_day = facts.start.astimezone(zone).date()
    days: list[dict[str, Any]] = [
        {
            "date": (first_day + timedelta(days=offset)).isoformat(),
            "inbound": 0,
            "opened": 0,
            "on_time": 0,
            "late": 0,
            "open": 0,
        }
        for offset in range(7)
    ]

    def slot(instant: datetime) -> dict[str, Any] | None:
        index = (instant.astimezone(zone).date() - first_day).days
        return days[index] if 0 <= index < 7 else None

    for message in facts.messages:
        if message.direction is Direction.INBOUND and (row := slot(message.created_at)):
            row["inbound"] += 1
    for turn in facts.turns:
        if not (facts.start <= turn.opened_at < facts.end) or not (row := slot(turn.opened_at)):
            continue
        row["opened"] += 1
        if turn.status is TurnStatus.ANSWERED:
            row["late" if turn.breached else "on_time"] += 1
        elif turn.status is TurnStatus.OPEN:
            row["open"] += 1
    return days


def _channel_is(channel: str) -> Callable[[str, str], bool]:
    return lambda ch, _account: ch == channel


def _account_is(account: str) -> Callable[[str, str], bool]:
    return lambda _channel, acc: acc == account


def weekly_summary(
    facts: WeekFacts,
    *,
    brand: str,
    brand_name: str,
    week: str,
    timezone: str,
) -> dict[str, Any]:
    """The whole summary document: the brand's metrics, then per channel and per account."""
    # Every source of facts names its groups, so the groups add up to the brand's totals.
    sources: list[Message | Turn | SlaEvent] = [
        *facts.turns,
        *facts.messages,
        *facts.events,
        *facts.open_turns,
    ]
    channels = sorted({s.channel for s in sources})
    accounts = sorted({s.account_id for s in sources})
    return {
        "schema_version": SCHEMA_VERSION,
        "brand": brand,
        "brand_name": brand_name,
        "week": week,
        "timezone": timezone,
        "period": {"start": facts.start.isoformat(), "end": facts.end.isoformat()},
        "generated_at": facts.now.isoformat(),
        "metrics": week_metrics(facts),
        "by_channel": {c: week_metrics(facts.only(_channel_is(c))) for c in channels},
        "by_account": {a: week_metrics(facts.only(_account_is(a))) for a in accounts},
        "daily": daily_counts(facts, timezone),
        "open_overdue_turns": [
            breach_row(t, facts.now)
            for t in sorted(facts.open_turns, key=lambda t: t.due_at)
            if t.status is TurnStatus.OPEN and t.due_at < facts.now
        ],
    }

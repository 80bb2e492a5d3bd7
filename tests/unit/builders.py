"""Hand-built turns, events and week facts for the pure domain tests (one week: 2026-W47, Madrid).

Times are given in UTC; Madrid is UTC+1 in November, so the week runs from Sunday 15 Nov 23:00
UTC to Sunday 22 Nov 23:00 UTC.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from reply_sla.domain.models import (
    Direction,
    EventType,
    Message,
    Priority,
    SlaEvent,
    Turn,
    TurnKind,
    TurnStatus,
)
from reply_sla.domain.summary import WeekFacts
from reply_sla.domain.weeks import week_bounds
from tests.factories import T0, message

MADRID = "Europe/Madrid"
WEEK = "2026-W47"
WEEK_START, WEEK_END = week_bounds(WEEK, MADRID)
NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # the Monday after: when the summary is made
HOUR = 3600
ACCOUNTS = {"acme-mastodon": "mastodon", "acme-x": "x"}

_threads = itertools.count(1)


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """An instant in 2026, in UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def turn(
    opened_at: datetime,
    *,
    target: int = HOUR,
    replied_at: datetime | None = None,
    dismissed: bool = False,
    kind: TurnKind = TurnKind.FIRST,
    account_id: str = "acme-mastodon",
    **fields: Any,
) -> Turn:
    """A turn in a calendar-time policy: answered if `replied_at`, else dismissed or open."""
    thread = f"th{next(_threads)}"
    status = TurnStatus.OPEN
    answer: dict[str, Any] = {}
    if replied_at is not None:
        waited = (replied_at - opened_at).total_seconds()
        status = TurnStatus.ANSWERED
        # SLA_SEMANTICS §5: breached iff strictly greater than the target.
        answer = {"replied_at": replied_at, "response_seconds": waited, "breached": waited > target}
    elif dismissed:
        status = TurnStatus.DISMISSED
    values: dict[str, Any] = {
        "brand": "acme",
        "account_id": account_id,
        "channel": ACCOUNTS.get(account_id, "mastodon"),
        "thread_id": thread,
        "seq": 1 if kind is TurnKind.FIRST else 2,
        "kind": kind,
        "status": status,
        "opened_at": opened_at,
        "opened_by": f"m-{thread}",
        "author_id": "cust-1",
        "author_handle": "@ana@social.example",
        "author_name": "Ana García",
        "text": "Where is my order?",
        "url": f"https://social.example/@ana/{thread}",
        "priority": Priority.NORMAL,
        "policy": "standard",
        "target_seconds": target,
        "due_at": opened_at + timedelta(seconds=target),
        **answer,
        **fields,
    }
    return Turn(**values)


def inbound_at(
    instant: datetime,
    *,
    account_id: str = "acme-mastodon",
    direction: Direction = Direction.INBOUND,
) -> Message:
    """A message at any instant, on the channel of `account_id`."""
    built = message((instant - T0).total_seconds() / 60, direction=direction)
    return built.model_copy(
        update={"account_id": account_id, "channel": ACCOUNTS.get(account_id, "mastodon")}
    )


def event(
    at: datetime,
    type_: EventType,
    level: str | None = None,
    *,
    account_id: str = "acme-mastodon",
) -> SlaEvent:
    return SlaEvent(
        brand="acme",
        account_id=account_id,
        channel=ACCOUNTS.get(account_id, "mastodon"),
        thread_id="th-e",
        turn_seq=1,
        type=type_,
        at=at,
        level=level,
    )


def turn_event(
    turn: Turn, kind: EventType, when: datetime, level: str | None = None, **detail: str
) -> SlaEvent:
    """An event of `turn` (its brand, account, channel, thread and seq)."""
    return SlaEvent.of_turn(turn, kind, when, level, detail)


def facts(
    *,
    messages: Sequence[Message] = (),
    turns: Sequence[Turn] = (),
    events: Sequence[SlaEvent] = (),
    open_turns: Sequence[Turn] | None = None,
    now: datetime = NOW,
) -> WeekFacts:
    """The week's facts; open turns default to the open ones among `turns`."""
    if open_turns is None:
        open_turns = [t for t in turns if t.status is TurnStatus.OPEN]
    return WeekFacts(
        start=WEEK_START,
        end=WEEK_END,
        now=now,
        messages=list(messages),
        turns=list(turns),
        events=list(events),
        open_turns=list(open_turns),
    )

"""Builders for domain objects with sensible defaults, so each test states only what matters."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from reply_sla.domain.models import Direction, Message

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # a Monday
_ids = itertools.count(1000)


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def message(
    minutes: float = 0,
    *,
    direction: Direction = Direction.INBOUND,
    thread_id: str | None = "t1",
    message_id: str | None = None,
    author_id: str | None = None,
    text: str = "Where is my order?",
    parent_id: str | None = None,
    account_id: str = "acme-mastodon",
    private: bool = False,
) -> Message:
    mid = message_id or str(next(_ids))
    if author_id is None:
        author_id = "brand" if direction in (Direction.OUTBOUND, Direction.AUTOMATED) else "cust-1"
    return Message(
        brand="acme",
        account_id=account_id,
        channel="mastodon",
        message_id=mid,
        thread_id=thread_id,
        parent_id=parent_id,
        author_id=author_id,
        author_handle=f"@{author_id}@social.example",
        author_name=author_id.title(),
        created_at=at(minutes),
        text=text,
        url=f"https://social.example/@{author_id}/{mid}",
        direction=direction,
        private=private,
    )


def inbound(minutes: float, **kw: object) -> Message:
    return message(minutes, direction=Direction.INBOUND, **kw)  # type: ignore[arg-type]


def outbound(minutes: float, **kw: object) -> Message:
    return message(minutes, direction=Direction.OUTBOUND, **kw)  # type: ignore[arg-type]

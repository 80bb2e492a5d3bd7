"""What the monitor stores and reasons about: messages, threads, turns and SLA events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Customer text is data: it is stored and shown capped at this many characters.
MAX_TEXT_CHARS = 2000


class Direction(StrEnum):
    """Who wrote a message, seen from the brand (SLA_SEMANTICS §2)."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    AUTOMATED = "automated"
    INTERNAL = "internal"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class TurnKind(StrEnum):
    """The first turn of a thread is measured against `first_response`, later ones against
    `next_response`."""

    FIRST = "first"
    NEXT = "next"


class TurnStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    DISMISSED = "dismissed"


class EventType(StrEnum):
    TURN_OPENED = "turn_opened"
    WARNING = "warning"
    BREACHED = "breached"
    ESCALATED = "escalated"
    REPLIED = "replied"
    DISMISSED = "dismissed"
    SNOOZED = "snoozed"
    RESUMED = "resumed"


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must carry a time zone")
    return value


class Message(BaseModel):
    """One post in a thread, keyed by the platform's own id."""

    model_config = ConfigDict(frozen=True)

    brand: str
    account_id: str
    channel: str
    message_id: str
    thread_id: str | None = None
    parent_id: str | None = None
    author_id: str
    author_handle: str = ""
    author_name: str = ""
    created_at: datetime
    text: str = ""
    url: str = ""
    direction: Direction
    private: bool = False
    author_followers: int | None = None

    _aware_created = field_validator("created_at")(_aware)

    @field_validator("text")
    @classmethod
    def _cap_text(cls, value: str) -> str:
        return value[:MAX_TEXT_CHARS]


class ThreadState(BaseModel):
    """What the clock needs to remember about a thread between polls."""

    model_config = ConfigDict(frozen=True)

    brand: str
    account_id: str
    channel: str
    thread_id: str
    turns: int = 0
    open_turn: int | None = None
    last_speaker: Direction | None = None
    last_message_at: datetime | None = None
    version: int = 0


class Turn(BaseModel):
    """One wait of a customer: opened by an inbound message, closed by the brand's reply."""

    model_config = ConfigDict(frozen=True)

    brand: str
    account_id: str
    channel: str
    thread_id: str
    seq: int = Field(ge=1)
    kind: TurnKind
    status: TurnStatus = TurnStatus.OPEN
    opened_at: datetime
    opened_by: str
    inbound_count: int = 1
    author_id: str
    author_handle: str = ""
    author_name: str = ""
    text: str = ""
    url: str = ""
    private: bool = False
    priority: Priority = Priority.NORMAL
    policy: str
    target_seconds: int
    due_at: datetime
    next_level: str | None = None
    next_level_at: datetime | None = None
    levels_fired: dict[str, datetime] = Field(default_factory=dict)
    # Levels a checker has claimed and is publishing; `claim_until` is the lease after which
    # another checker may publish them again (the first one crashed before confirming).
    claimed_levels: tuple[str, ...] = ()
    claim_until: datetime | None = None
    # Set while quiet hours hold the next level (it then goes out in a digest of held alerts).
    held_until: datetime | None = None
    # Snoozes (SLA_SEMANTICS §4): finished pauses of the clock, oldest first, and the running one.
    pauses: tuple[tuple[datetime, datetime], ...] = ()
    snoozed_at: datetime | None = None
    snoozed_until: datetime | None = None
    replied_at: datetime | None = None
    reply_message_id: str | None = None
    response_seconds: float | None = None
    breached: bool = False
    closed_reason: str | None = None

    def all_pauses(self) -> list[tuple[datetime, datetime]]:
        """The turn's finished snoozes and the running one, oldest first."""
        running = (
            [(self.snoozed_at, self.snoozed_until)]
            if self.snoozed_at is not None and self.snoozed_until is not None
            else []
        )
        return [*self.pauses, *running]

    def sent_levels(self) -> list[str]:
        """Levels whose message went out, in the order they fired. A level still claimed is
        not among them: its checker may have died before publishing it."""
        return sorted(
            (level for level in self.levels_fired if level not in self.claimed_levels),
            key=lambda level: self.levels_fired[level],
        )

    @property
    def key(self) -> str:
        """A stable id for the turn, usable in commands and links."""
        return f"{self.account_id}:{self.thread_id}:{self.seq}"


class SlaEvent(BaseModel):
    """An append-only fact about a turn, from which every report can be recomputed."""

    model_config = ConfigDict(frozen=True)

    brand: str
    account_id: str
    channel: str
    thread_id: str
    turn_seq: int
    type: EventType
    at: datetime
    level: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def of_turn(
        cls,
        turn: Turn,
        type_: EventType,
        at: datetime,
        level: str | None = None,
        detail: dict[str, str] | None = None,
    ) -> SlaEvent:
        """An event of `turn` (its brand, account, channel, thread and seq)."""
        return cls(
            brand=turn.brand,
            account_id=turn.account_id,
            channel=turn.channel,
            thread_id=turn.thread_id,
            turn_seq=turn.seq,
            type=type_,
            at=at,
            level=level,
            detail=detail or {},
        )

    @property
    def event_id(self) -> str:
        """Deterministic, so that recording the same fact twice stores it once."""
        suffix = f"#{self.level}" if self.level else ""
        return f"{self.turn_seq:05d}#{self.type.value}{suffix}"

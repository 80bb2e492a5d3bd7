"""Response windows behind one interface, so business time and policy books can replace it.

The skeleton's `FixedWindowPolicy` measures calendar time (24/7): first response within 1 h,
next response within 2 h, one `breach` level at 100 % of the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from reply_sla.domain.models import Message, Priority, TurnKind


class LadderLevel(BaseModel):
    """A level fires at a fraction of the target (1.0 = the deadline) plus an offset after it."""

    model_config = ConfigDict(frozen=True)

    level: str
    fraction: float = Field(default=1.0, ge=0)
    offset_seconds: int = 0


class SlaWindow(BaseModel):
    """The promise a turn is measured against, with the instants its ladder levels fall due."""

    model_config = ConfigDict(frozen=True)

    policy: str
    target_seconds: int
    due_at: datetime
    levels: tuple[tuple[str, datetime], ...]

    def next_level(self, fired: Sequence[str]) -> tuple[str, datetime] | None:
        """The first level not yet fired, with the instant it is due."""
        for level, at in self.levels:
            if level not in fired:
                return level, at
        return None


class TriageDecision(BaseModel):
    """Whether an inbound message needs a reply, how urgently, and which rule said so."""

    model_config = ConfigDict(frozen=True)

    needs_reply: bool
    priority: Priority = Priority.NORMAL
    rule: str = "default"


class ResponsePolicy(Protocol):
    """What the clock asks of a policy."""

    def window(self, kind: TurnKind, opened_at: datetime, priority: Priority) -> SlaWindow:
        """The target, deadline and ladder for a turn opened at `opened_at`."""
        ...

    def elapsed_seconds(self, start: datetime, end: datetime) -> float:
        """Seconds between two instants in the policy's clock (calendar or business)."""
        ...


class PolicyBook(Protocol):
    """Chooses the policy a new turn is measured with, and finds a stored turn's policy again."""

    def policy_for(self, message: Message, priority: Priority) -> ResponsePolicy:
        """The policy for a turn opened by this message at this priority."""
        ...

    def named(self, name: str, brand: str) -> ResponsePolicy:
        """The policy a stored turn names."""
        ...


class Triage(Protocol):
    def decide(self, message: Message, brand_spoke_last: bool) -> TriageDecision:
        """Triage one inbound message."""
        ...


class ReplyToEveryInbound:
    """Until the triage rules land: every inbound message needs a reply at normal priority."""

    def decide(self, message: Message, brand_spoke_last: bool) -> TriageDecision:
        return TriageDecision(needs_reply=True, priority=Priority.NORMAL, rule="default:inbound")


class FixedWindowPolicy:
    """Calendar-time targets with a fixed ladder."""

    def __init__(
        self,
        name: str = "default",
        first_response_seconds: int = 3600,
        next_response_seconds: int = 7200,
        ladder: Sequence[LadderLevel] = (LadderLevel(level="breach", fraction=1.0),),
    ) -> None:
        self.name = name
        self.first_response_seconds = first_response_seconds
        self.next_response_seconds = next_response_seconds
        self.ladder = tuple(ladder)

    def window(self, kind: TurnKind, opened_at: datetime, priority: Priority) -> SlaWindow:
        target = (
            self.first_response_seconds if kind is TurnKind.FIRST else self.next_response_seconds
        )
        due = opened_at + timedelta(seconds=target)
        levels = tuple(
            (
                lvl.level,
                opened_at + timedelta(seconds=target * lvl.fraction + lvl.offset_seconds),
            )
            for lvl in self.ladder
        )
        return SlaWindow(policy=self.name, target_seconds=target, due_at=due, levels=levels)

    def elapsed_seconds(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())

    # One policy for everything is also a policy book.
    def policy_for(self, message: Message, priority: Priority) -> ResponsePolicy:
        return self

    def named(self, name: str, brand: str) -> ResponsePolicy:
        return self

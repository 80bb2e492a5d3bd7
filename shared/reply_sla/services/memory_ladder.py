"""The ladder's store in memory, with the DynamoDB store's conditional semantics.

`replysla simulate` runs the very `check_sla` the Lambda runs against this store, so what it
prints (levels, quiet-hour holds, collapsed levels, digests, resolved notices) is what the
deployed checker would do. Each method mirrors the condition of the DynamoDB write it stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reply_sla.domain.models import SlaEvent, Turn, TurnStatus

# The fields the clock owns on a stored turn (the rest belongs to the checker).
_CLOCK_FIELDS = (
    "status",
    "inbound_count",
    "replied_at",
    "reply_message_id",
    "response_seconds",
    "breached",
    "closed_reason",
)
_LADDER_FIELDS = ("priority", "policy", "target_seconds", "due_at", "next_level", "next_level_at")


@dataclass
class MemoryLadder:
    turns: dict[str, Turn] = field(default_factory=dict)
    due: dict[str, datetime] = field(default_factory=dict)
    events: list[SlaEvent] = field(default_factory=list)
    _event_ids: set[tuple[str, str, str]] = field(default_factory=set)

    # -- what the poll writes ------------------------------------------------------------------

    def put_new(self, turn: Turn) -> None:
        self.turns[turn.key] = turn
        if turn.status is TurnStatus.OPEN and turn.next_level_at is not None:
            self.due[turn.key] = turn.next_level_at

    def apply_clock(self, turn: Turn, now: datetime) -> None:
        """The clock's changes to a stored turn, as `save_thread` writes them."""
        stored = self.turns[turn.key]
        if stored.status is not TurnStatus.OPEN:
            return
        update: dict[str, Any] = {name: getattr(turn, name) for name in _CLOCK_FIELDS}
        if turn.status is TurnStatus.OPEN and not stored.claimed_levels:
            update.update({name: getattr(turn, name) for name in _LADDER_FIELDS})
            if turn.next_level_at is not None and stored.held_until is None:
                self.due[turn.key] = turn.next_level_at
        if turn.status is not TurnStatus.OPEN:
            update.update({"next_level": None, "next_level_at": None})
            alerted = bool(stored.levels_fired or stored.claimed_levels) or (
                stored.next_level_at is not None and stored.next_level_at <= now
            )
            if turn.status is TurnStatus.ANSWERED and alerted:
                self.due[turn.key] = now
            else:
                self.due.pop(turn.key, None)
        self.turns[turn.key] = stored.model_copy(update=update)

    # -- LadderStore ---------------------------------------------------------------------------

    def due_turns(self, now: datetime, limit: int = 500) -> list[Turn]:
        keys = sorted((at, key) for key, at in self.due.items() if at <= now)[:limit]
        return [self.turns[key] for _, key in keys]

    def claim_levels(
        self, turn: Turn, levels: Sequence[str], now: datetime, lease_until: datetime
    ) -> bool:
        stored = self.turns[turn.key]
        if (
            stored.status is not TurnStatus.OPEN
            or stored.next_level != turn.next_level
            or turn.next_level is None
            or (stored.claim_until is not None and stored.claim_until > now)
        ):
            return False
        fired = dict(stored.levels_fired)
        for level in levels:
            fired.setdefault(level, now)
        self.turns[turn.key] = stored.model_copy(
            update={
                "levels_fired": fired,
                "claimed_levels": tuple(levels),
                "claim_until": lease_until,
            }
        )
        self.due[turn.key] = lease_until
        return True

    def confirm_levels(
        self,
        turn: Turn,
        lease_until: datetime,
        next_level: tuple[str, datetime] | None,
        events: Sequence[SlaEvent],
    ) -> None:
        stored = self.turns[turn.key]
        for event in events:
            self.record_event(event)
        if stored.claim_until != lease_until:
            return
        update: dict[str, Any] = {"claimed_levels": (), "claim_until": None}
        if stored.status is TurnStatus.OPEN:
            update.update(
                {
                    "next_level": next_level[0] if next_level else None,
                    "next_level_at": next_level[1] if next_level else None,
                    "held_until": None,
                }
            )
            if next_level is None:
                self.due.pop(turn.key, None)
            else:
                self.due[turn.key] = next_level[1]
        self.turns[turn.key] = stored.model_copy(update=update)

    def release_claim(
        self, turn: Turn, levels: Sequence[str], lease_until: datetime, retry_at: datetime
    ) -> None:
        stored = self.turns[turn.key]
        if stored.claim_until != lease_until or turn.key not in self.due:
            return
        fired = {k: v for k, v in stored.levels_fired.items() if k not in levels}
        self.turns[turn.key] = stored.model_copy(
            update={"levels_fired": fired, "claimed_levels": (), "claim_until": None}
        )
        self.due[turn.key] = retry_at

    def defer_level(self, turn: Turn, level: str, until: datetime) -> bool:
        stored = self.turns[turn.key]
        if stored.status is not TurnStatus.OPEN or stored.next_level != level:
            return False
        self.turns[turn.key] = stored.model_copy(update={"held_until": until})
        self.due[turn.key] = until
        return True

    def take_resolved(self, turn: Turn) -> bool:
        stored = self.turns[turn.key]
        if turn.key not in self.due or stored.status is TurnStatus.OPEN:
            return False
        del self.due[turn.key]
        self.turns[turn.key] = stored.model_copy(update={"claimed_levels": (), "claim_until": None})
        return True

    def restore_resolved(self, turn: Turn, retry_at: datetime) -> None:
        self.due[turn.key] = retry_at

    def record_event(self, event: SlaEvent) -> bool:
        key = (event.account_id, event.thread_id, event.event_id)
        if key in self._event_ids:
            return False
        self._event_ids.add(key)
        self.events.append(event)
        return True

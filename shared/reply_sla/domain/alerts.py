"""Alert hours (SLA_SEMANTICS §6): nobody is woken at 3 a.m. for something that can wait."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reply_sla.domain.models import Priority


class QuietHours(Protocol):
    """When alerts may wake people: outside its opening hours, non-bypass levels are held."""

    def is_open(self, instant: datetime) -> bool: ...

    def next_opening(self, instant: datetime) -> datetime: ...


@dataclass(frozen=True)
class AlertHours:
    calendar: QuietHours
    bypass: frozenset[str] = frozenset()

    def hold_until(self, level: str, priority: Priority, now: datetime) -> datetime | None:
        """When a level due now may go out, if not now. Urgent turns and bypass levels never
        wait."""
        if level in self.bypass or priority is Priority.URGENT or self.calendar.is_open(now):
            return None
        return self.calendar.next_opening(now)

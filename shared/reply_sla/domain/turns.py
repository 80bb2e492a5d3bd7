"""The SLA clock of SLA_SEMANTICS §4: how messages open and close a thread's turns.

Pure: `advance_thread` takes the thread's state, its open turn and new messages (any order) and
returns what to store. It never reads a clock; `now` is not needed to open or close a turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reply_sla.domain.models import (
    Direction,
    EventType,
    Message,
    Priority,
    SlaEvent,
    ThreadState,
    Turn,
    TurnKind,
    TurnStatus,
)
from reply_sla.domain.pauses import paused_window, waited_seconds
from reply_sla.domain.policy import PolicyBook, SlaWindow, Triage
from reply_sla.domain.triage import PRIORITY_ORDER

MESSAGING_WINDOW_CHANNELS = frozenset({"facebook", "instagram"})
MESSAGING_WINDOW = timedelta(hours=24)
# Alerts come this long before Meta's window closes, so a reply is still possible.
MESSAGING_WINDOW_MARGIN = timedelta(hours=1)

# The first message's text kept on the turn, for escalations; the message itself keeps more.
TURN_TEXT_CHARS = 500


@dataclass
class ThreadAdvance:
    """The result of applying messages to a thread: the new state and what changed."""

    state: ThreadState
    opened: list[Turn] = field(default_factory=list)
    updated: list[Turn] = field(default_factory=list)
    events: list[SlaEvent] = field(default_factory=list)
    triage: dict[str, str] = field(default_factory=dict)

    def _latest(self) -> dict[int, Turn]:
        latest: dict[int, Turn] = {}
        for turn in [*self.opened, *self.updated]:
            latest[turn.seq] = turn
        return latest

    @property
    def new_turns(self) -> list[Turn]:
        """Turns opened by these messages, in their latest state (perhaps already answered)."""
        opened = {t.seq for t in self.opened}
        return [t for seq, t in self._latest().items() if seq in opened]

    @property
    def changed_turns(self) -> list[Turn]:
        """Turns that existed before these messages and changed."""
        opened = {t.seq for t in self.opened}
        return [t for seq, t in self._latest().items() if seq not in opened]


def _event(turn: Turn, type_: EventType, message: Message, **detail: str) -> SlaEvent:
    return SlaEvent.of_turn(
        turn, type_, message.created_at, detail={"message_id": message.message_id, **detail}
    )


def in_messaging_window(message: Message) -> bool:
    """Meta lets a page answer a Messenger or Instagram DM in-channel only within 24 h of the
    customer's last message (SLA_SEMANTICS §4)."""
    return message.private and message.channel in MESSAGING_WINDOW_CHANNELS


def _window(
    book: PolicyBook,
    message: Message,
    kind: TurnKind,
    opened_at: datetime,
    priority: Priority,
    last_inbound: datetime,
    pauses: Sequence[tuple[datetime, datetime]] = (),
) -> SlaWindow:
    """The policy's window, moved by the turn's snoozes; for a Meta DM no level and no deadline
    later than the messaging window's close minus a margin, so the team is alerted while it can
    still answer (no snooze moves that)."""
    window = paused_window(book.policy_for(message, priority), kind, opened_at, priority, pauses)
    if not in_messaging_window(message):
        return window
    closes = last_inbound + MESSAGING_WINDOW - MESSAGING_WINDOW_MARGIN
    if window.due_at <= closes:
        return window
    return window.model_copy(
        update={
            "due_at": closes,
            "levels": tuple((name, min(at, closes)) for name, at in window.levels),
        }
    )


def _open_turn(state: ThreadState, message: Message, book: PolicyBook, priority: Priority) -> Turn:
    kind = TurnKind.FIRST if state.turns == 0 else TurnKind.NEXT
    window = _window(book, message, kind, message.created_at, priority, message.created_at)
    nxt = window.next_level(())
    return Turn(
        brand=message.brand,
        account_id=message.account_id,
        channel=message.channel,
        thread_id=state.thread_id,
        seq=state.turns + 1,
        kind=kind,
        opened_at=message.created_at,
        opened_by=message.message_id,
        author_id=message.author_id,
        author_handle=message.author_handle,
        author_name=message.author_name,
        text=message.text[:TURN_TEXT_CHARS],
        url=message.url,
        private=message.private,
        priority=priority,
        policy=window.policy,
        target_seconds=window.target_seconds,
        due_at=window.due_at,
        next_level=nxt[0] if nxt else None,
        next_level_at=nxt[1] if nxt else None,
    )


def _spoke(state: ThreadState, message: Message, who: Direction) -> ThreadState:
    """Remember who spoke last by the platform's clock (a late-polled old message changes
    nothing)."""
    if state.last_message_at is not None and message.created_at < state.last_message_at:
        return state
    return state.model_copy(update={"last_speaker": who, "last_message_at": message.created_at})


def _extend_messaging_window(turn: Turn, message: Message, book: PolicyBook) -> Turn:
    """A new customer DM reopens Meta's 24 h window: the cap moves with it (never past the
    policy's own deadline)."""
    window = _window(
        book,
        message,
        turn.kind,
        turn.opened_at,
        turn.priority,
        message.created_at,
        turn.all_pauses(),
    )
    nxt = window.next_level(list(turn.levels_fired))
    return turn.model_copy(
        update={
            "due_at": window.due_at,
            "next_level": nxt[0] if nxt else None,
            "next_level_at": nxt[1] if nxt else None,
        }
    )


def _raise_priority(turn: Turn, message: Message, priority: Priority, book: PolicyBook) -> Turn:
    """A later, higher priority raises the turn's priority; its deadline may shorten, never
    lengthen (SLA_SEMANTICS §4)."""
    if PRIORITY_ORDER.index(priority) <= PRIORITY_ORDER.index(turn.priority):
        return turn
    update: dict[str, object] = {"priority": priority}
    window = _window(
        book, message, turn.kind, turn.opened_at, priority, message.created_at, turn.all_pauses()
    )
    if window.due_at < turn.due_at:
        nxt = window.next_level(list(turn.levels_fired))
        update.update(
            policy=window.policy,
            target_seconds=window.target_seconds,
            due_at=window.due_at,
            next_level=nxt[0] if nxt else None,
            next_level_at=nxt[1] if nxt else None,
        )
    return turn.model_copy(update=update)


def advance_thread(
    state: ThreadState,
    open_turn: Turn | None,
    messages: Iterable[Message],
    book: PolicyBook,
    triage: Triage,
) -> ThreadAdvance:
    """Apply new messages, oldest first, to a thread.

    `open_turn` is the thread's currently open turn as stored (None when the brand spoke last or
    the thread is new). Messages older than the open turn's start never close it: the brand
    cannot answer a question before it was asked.
    """
    result = ThreadAdvance(state=state)
    current = open_turn
    for message in sorted(messages, key=lambda m: (m.created_at, m.message_id)):
        if message.direction is Direction.INTERNAL:
            continue
        if message.direction is Direction.INBOUND:
            brand_spoke_last = state.last_speaker in (Direction.OUTBOUND, Direction.AUTOMATED)
            decision = triage.decide(message, brand_spoke_last)
            result.triage[message.message_id] = decision.rule
            if decision.needs_reply:
                if current is None:
                    current = _open_turn(state, message, book, decision.priority)
                    state = state.model_copy(
                        update={"turns": current.seq, "open_turn": current.seq}
                    )
                    result.opened.append(current)
                    result.events.append(
                        _event(current, EventType.TURN_OPENED, message, rule=decision.rule)
                    )
                else:
                    # A follow-up keeps the turn's start (SLA_SEMANTICS §4).
                    current = _raise_priority(current, message, decision.priority, book)
                    if in_messaging_window(message):
                        current = _extend_messaging_window(current, message, book)
                    current = current.model_copy(
                        update={"inbound_count": current.inbound_count + 1}
                    )
                    result.updated.append(current)
            state = _spoke(state, message, Direction.INBOUND)
        elif message.direction is Direction.OUTBOUND:
            if current is not None and message.created_at >= current.opened_at:
                policy = book.named(current.policy, current.brand)
                # Snoozed time is left out of the response time (SLA_SEMANTICS §4).
                paused = [(a, min(b, message.created_at)) for a, b in current.all_pauses()]
                waited = waited_seconds(policy, current.opened_at, message.created_at, paused)
                current = current.model_copy(
                    update={
                        "status": TurnStatus.ANSWERED,
                        "replied_at": message.created_at,
                        "reply_message_id": message.message_id,
                        "response_seconds": waited,
                        # Later than the deadline ⇔ more business time than the target (the
                        # deadline of an exact fit is the next opening), and `max_wait` counts.
                        "breached": message.created_at > current.due_at,
                        "next_level": None,
                        "next_level_at": None,
                        "closed_reason": "replied",
                    }
                )
                result.updated.append(current)
                result.events.append(_event(current, EventType.REPLIED, message))
                current = None
                state = state.model_copy(update={"open_turn": None})
            state = _spoke(state, message, Direction.OUTBOUND)
        else:  # AUTOMATED: an auto-responder does not close a turn (SLA_SEMANTICS §2)
            state = _spoke(state, message, Direction.AUTOMATED)
    result.state = state
    return result

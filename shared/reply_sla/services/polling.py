"""Poll one account: fetch what is new, store it thread by thread, then move the cursors."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from reply_sla.config import AccountConfig
from reply_sla.domain.models import Direction, EventType, Message, ThreadState, Turn
from reply_sla.domain.policy import PolicyBook, Triage
from reply_sla.domain.turns import advance_thread
from reply_sla.errors import ReplySlaError, StoreConflict
from reply_sla.ports import ChannelClient, ThreadStore

# Messages of one thread written per transaction (the rest of the 100 items: state, turns, events).
MESSAGES_PER_WRITE = 30
CONFLICT_RETRIES = 3


@dataclass
class PollReport:
    account_id: str
    fetched: int = 0
    stored: int = 0
    already_stored: int = 0
    threads: int = 0
    turns_opened: int = 0
    turns_answered: int = 0
    pages: int = 0
    complete: bool = True
    max_ingest_lag_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _resolve_threads(
    account_id: str, messages: list[Message], client: ChannelClient, store: ThreadStore
) -> list[Message]:
    """Give every message its thread id: its own for a root, else its parent's thread."""
    thread_of: dict[str, str] = {m.message_id: m.thread_id for m in messages if m.thread_id}
    parents = [
        m.parent_id
        for m in messages
        if not m.thread_id and m.parent_id and m.parent_id not in thread_of
    ]
    if parents:
        thread_of.update(
            {k: v for k, v in store.thread_of(account_id, parents).items() if k not in thread_of}
        )
    resolved: list[Message] = []
    for message in messages:  # oldest first, so a parent in this batch is resolved before its reply
        if message.thread_id:
            resolved.append(message)
            continue
        thread_id = thread_of.get(message.parent_id or "") if message.parent_id else None
        if thread_id is None:
            thread_id = client.thread_root(message.message_id) if message.parent_id else None
        thread_id = thread_id or message.message_id
        thread_of[message.message_id] = thread_id
        resolved.append(message.model_copy(update={"thread_id": thread_id}))
    return resolved


def _store_thread(
    thread_id: str,
    messages: list[Message],
    preloaded: tuple[ThreadState, Turn | None] | None,
    store: ThreadStore,
    policy: PolicyBook,
    triage: Triage,
    now: datetime,
    report: PollReport,
) -> None:
    first = messages[0]
    pending = messages
    for attempt in range(CONFLICT_RETRIES + 1):
        loaded = (
            store.load_threads(first.account_id, [thread_id]).get(thread_id)
            if attempt
            else preloaded
        )
        state, open_turn = loaded or (
            ThreadState(
                brand=first.brand,
                account_id=first.account_id,
                channel=first.channel,
                thread_id=thread_id,
            ),
            None,
        )
        if attempt:  # a concurrent poll may have stored some of them meanwhile
            done = store.messages_stored(first.account_id, [m.message_id for m in pending])
            report.already_stored += len(done)
            pending = [m for m in pending if m.message_id not in done]
            if not pending:
                return
        try:
            for start in range(0, len(pending), MESSAGES_PER_WRITE):
                chunk = pending[start : start + MESSAGES_PER_WRITE]
                advance = advance_thread(state, open_turn, chunk, policy, triage)
                store.save_thread(
                    advance.state,
                    chunk,
                    advance.new_turns,
                    advance.changed_turns,
                    advance.events,
                    now,
                )
                report.stored += len(chunk)
                report.turns_opened += len(advance.new_turns)
                report.turns_answered += sum(
                    1 for e in advance.events if e.type is EventType.REPLIED
                )
                state = advance.state.model_copy(update={"version": advance.state.version + 1})
                latest = {t.seq: t for t in [*advance.new_turns, *advance.changed_turns]}
                if open_turn is not None and state.open_turn == open_turn.seq:
                    _end_snooze_on_customer_message(store, policy, latest, open_turn, chunk, now)
                if state.open_turn is None:
                    open_turn = None
                elif state.open_turn in latest:
                    open_turn = latest[state.open_turn]
            return
        except StoreConflict:
            # A concurrent poll of the same account won: re-read the thread and decide again.
            if attempt == CONFLICT_RETRIES:
                raise


def _end_snooze_on_customer_message(
    store: ThreadStore,
    policy: PolicyBook,
    latest: dict[int, Turn],
    before: Turn,
    chunk: list[Message],
    now: datetime,
) -> None:
    """The customer wrote again on a snoozed turn: the snooze ends at their message
    (SLA_SEMANTICS §4). If that write loses a race, the snooze still ends at its own time."""
    since, until = before.snoozed_at, before.snoozed_until
    turn = latest.get(before.seq)
    if since is None or until is None or turn is None:
        return
    wrote = [
        m.created_at
        for m in chunk
        if m.direction is Direction.INBOUND and since <= m.created_at < until
    ]
    if not wrote:
        return
    from reply_sla.services.actions import resume_on_customer_message

    with contextlib.suppress(ReplySlaError):
        resume_on_customer_message(store, policy, turn, min(wrote), now)


def poll_account(
    account: AccountConfig,
    client: ChannelClient,
    store: ThreadStore,
    policy: PolicyBook,
    triage: Triage,
    now: datetime,
    polled_for: datetime | None = None,
) -> PollReport:
    """Fetch an account's new messages, store them and their turns, then move its cursors.

    The cursors move only after every fetched message is stored; if anything fails first, the
    next poll fetches the same messages again and stores only what is missing.
    """
    report = PollReport(account_id=account.id)
    fetched = client.fetch_new(store.cursors(account.id), now)
    report.fetched, report.pages, report.complete = (
        len(fetched.messages),
        fetched.pages,
        fetched.complete,
    )
    report.notes.extend(fetched.notes)
    report.skipped.extend(fetched.errors)
    ordered = sorted(fetched.messages, key=lambda m: (m.created_at, m.message_id))
    stored = store.messages_stored(account.id, [m.message_id for m in ordered])
    report.already_stored = len(stored)
    new = [m for m in ordered if m.message_id not in stored]
    by_thread: dict[str, list[Message]] = defaultdict(list)
    for message in _resolve_threads(account.id, new, client, store):
        by_thread[message.thread_id or message.message_id].append(message)
        lag = (now - message.created_at).total_seconds()
        report.max_ingest_lag_seconds = max(report.max_ingest_lag_seconds, lag)
    report.threads = len(by_thread)
    known = store.load_threads(account.id, list(by_thread)) if by_thread else {}
    for thread_id, messages in by_thread.items():
        _store_thread(thread_id, messages, known.get(thread_id), store, policy, triage, now, report)
    # The dispatch counts the next interval from the one this poll was queued for, so a poll
    # its wave held back in the queue still counts for its own interval.
    store.save_cursors(account.id, fetched.cursors, polled_for or now)
    return report

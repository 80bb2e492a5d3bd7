"""People acting on turns (SLA_SEMANTICS §4): snooze, resume, dismiss, handle.

Used by `replysla threads ...` and by the e-mail action links (functions/turn_action). A snooze
pauses the turn's clock until a time, capped by its policy's `max_snooze`; it is an SLA event
(`snoozed`, with until, reason and who), and so is its end (`resumed`, with the paused time):
when the snooze runs out (`resume_ended_snoozes`, run before each SLA check), when a person
resumes it, or when the customer writes again (`resume_on_customer_message`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from reply_sla.domain.action_pages import (
    NAME_CHARS,
    NOTE_CHARS,
    confirm_page,
    message_page,
)
from reply_sla.domain.action_tokens import (
    LINK_LIFETIME,
    SNOOZE,
    ActionClaim,
    ActionKeyring,
    ActionTokenError,
    verify_action,
)
from reply_sla.domain.models import Direction, EventType, SlaEvent, Turn, TurnStatus
from reply_sla.domain.notices import channel_name, human_duration, local_time, one_line
from reply_sla.domain.pauses import (
    BY_CHARS,
    REASON_CHARS,
    Pause,
    PauseState,
    Snooze,
    TurnSchedule,
    max_snooze_seconds,
    paused_seconds,
    paused_window,
    schedule,
)
from reply_sla.domain.policy import PolicyBook
from reply_sla.domain.turns import MESSAGING_WINDOW, MESSAGING_WINDOW_CHANNELS
from reply_sla.domain.turns import MESSAGING_WINDOW_MARGIN as WINDOW_MARGIN
from reply_sla.errors import ReplySlaError
from reply_sla.ports import ThreadStore
from reply_sla.services.checking import BrandView

# A write that lost a race is read and decided again this many times.
ATTEMPTS = 3
LINK_BY = "e-mail link"


class ActionRefused(ReplySlaError):
    """An action on a turn that cannot be done; the message says why, `status` as in HTTP."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TurnRef:
    account_id: str
    thread_id: str
    seq: int

    @property
    def key(self) -> str:
        return f"{self.account_id}:{self.thread_id}:{self.seq}"


def parse_turn_key(text: str) -> TurnRef:
    """`account:thread:seq` as `threads list` prints it; the thread id may contain colons
    (an account id never does)."""
    account, _, rest = text.strip().partition(":")
    thread, _, seq = rest.rpartition(":")
    if not account or not thread or not seq.isdigit() or int(seq) < 1:
        raise ActionRefused(
            f"TURN: expected an id like acme-x:1234567890:1 (from `threads list`), got {text!r}",
            400,
        )
    return TurnRef(account, thread, int(seq))


def _event(turn: Turn, type_: EventType, at: datetime, tag: str, **detail: str) -> SlaEvent:
    return SlaEvent.of_turn(turn, type_, at, tag, detail)


def messaging_window_close(store: ThreadStore, turn: Turn) -> datetime | None:
    """For a Messenger or Instagram DM, when Meta's reply window closes (less the margin): a
    limit no snooze can move, since after it the brand cannot answer in the channel."""
    if not (turn.private and turn.channel in MESSAGING_WINDOW_CHANNELS):
        return None
    last = turn.opened_at
    state = store.get_thread(turn.account_id, turn.thread_id)
    if state is not None and state.last_speaker is Direction.INBOUND and state.last_message_at:
        last = max(last, state.last_message_at)
    return last + MESSAGING_WINDOW - WINDOW_MARGIN


def _load(store: ThreadStore, ref: TurnRef) -> tuple[Turn, PauseState]:
    loaded = store.get_turn_pauses(ref.account_id, ref.thread_id, ref.seq)
    if loaded is None:
        raise ActionRefused(f"no turn {ref.key}", 404)
    turn = loaded[0]
    if turn.status is not TurnStatus.OPEN:
        raise ActionRefused(f"turn {ref.key} is not waiting any more ({turn.status.value})")
    return loaded


def _ended(
    turn: Turn, state: PauseState, end: datetime, cause: str, book: PolicyBook, by: str = ""
) -> tuple[PauseState, SlaEvent]:
    """The state once the running snooze ends at `end`, and its `resumed` event."""
    snooze = state.snooze
    if snooze is None:
        raise ValueError("only a running snooze can end")
    end = min(max(end, snooze.since), snooze.until)
    pause: Pause = (snooze.since, end)
    clock = book.named(turn.policy, turn.brand)
    business = paused_seconds(clock, pause)
    calendar = (end - snooze.since).total_seconds()
    ended = PauseState(
        pauses=(*state.pauses, pause),
        snooze=None,
        paused_seconds=state.paused_seconds + business,
        paused_calendar_seconds=state.paused_calendar_seconds + calendar,
    )
    detail = {
        "cause": cause,
        "snoozed_by": snooze.by,
        "paused_seconds": f"{business:.0f}",
        "paused_calendar_seconds": f"{calendar:.0f}",
    }
    if by:
        detail["by"] = by[:BY_CHARS]
    return ended, _event(turn, EventType.RESUMED, end, snooze.tag, **detail)


def _schedule(
    book: PolicyBook, turn: Turn, state: PauseState, window_close: datetime | None
) -> TurnSchedule:
    policy = book.named(turn.policy, turn.brand)
    window = paused_window(policy, turn.kind, turn.opened_at, turn.priority, state.all_pauses())
    return schedule(window, turn.sent_levels(), window_close)


@dataclass(frozen=True)
class SnoozeResult:
    turn: Turn
    snooze: Snooze
    schedule: TurnSchedule
    # Why the snooze ends earlier than asked (the policy's max_snooze, Meta's window), if it does.
    capped: str | None = None
    # The snooze this one replaced, when the turn was already snoozed.
    replaced: Snooze | None = None


def snooze_turn(
    store: ThreadStore,
    book: PolicyBook,
    ref: TurnRef,
    until: datetime,
    reason: str,
    by: str,
    now: datetime,
    *,
    via: str = "cli",
) -> SnoozeResult:
    """Pause a turn's clock from `now` until `until` (capped by the policy's max_snooze).

    A snooze of a snoozed turn replaces it from now (the first one is recorded as resumed).
    """
    if until.tzinfo is None or until.utcoffset() is None:
        raise ActionRefused("the snooze's end needs a time zone offset (like +01:00 or Z)", 400)
    reason, by = reason.strip()[:REASON_CHARS], by.strip()[:BY_CHARS]
    if not reason:
        raise ActionRefused("a snooze needs a reason: say why this wait can pause", 400)
    if not by:
        raise ActionRefused("a snooze needs to say who snoozed it", 400)
    if until <= now:
        raise ActionRefused(f"the snooze's end {until.isoformat()} is not in the future", 400)
    for _ in range(ATTEMPTS):
        turn, seen = _load(store, ref)
        policy = book.named(turn.policy, turn.brand)
        end, capped = until, None
        cap = max_snooze_seconds(policy)
        if end > now + timedelta(seconds=cap):
            end = now + timedelta(seconds=cap)
            capped = f"capped at {human_duration(cap)}, the max_snooze of policy {turn.policy!r}"
        window_close = messaging_window_close(store, turn)
        if window_close is not None and end > window_close:
            if window_close <= now:
                raise ActionRefused(
                    f"turn {ref.key}: Meta's 24-hour reply window for this private message has "
                    "closed; a snooze cannot pause it"
                )
            end = window_close
            capped = "capped where Meta's 24-hour reply window closes (less 1 hour to answer)"
        state, events = seen, []
        if seen.snooze is not None:
            cause = "snoozed again" if seen.snooze.until > now else "snooze ended"
            state, resumed = _ended(turn, seen, now, cause, book, by)
            events.append(resumed)
        snooze = Snooze(since=now, until=end, by=by, reason=reason, via=via)
        state = state.model_copy(update={"snooze": snooze})
        if snooze.tag in {e.level for e in events}:
            raise ActionRefused(f"turn {ref.key} was snoozed at this very instant; try again")
        detail = {"until": end.isoformat(), "reason": reason, "by": by, "via": via}
        if capped:
            detail["requested_until"] = until.isoformat()
        events.append(_event(turn, EventType.SNOOZED, now, snooze.tag, **detail))
        planned = _schedule(book, turn, state, window_close)
        if store.save_pause(turn, seen, state, planned, events, now):
            return SnoozeResult(turn, snooze, planned, capped, seen.snooze)
    raise ActionRefused(
        f"turn {ref.key} kept changing while it was snoozed (alerts going out); try again"
    )


@dataclass(frozen=True)
class ResumeResult:
    turn: Turn
    ended: Snooze
    at: datetime
    schedule: TurnSchedule


def resume_turn(
    store: ThreadStore,
    book: PolicyBook,
    ref: TurnRef,
    at: datetime,
    cause: str,
    now: datetime,
    *,
    by: str = "",
) -> ResumeResult | None:
    """End a turn's snooze at `at` (at most its own end): its clock runs again and the
    deadline and levels move by the paused time. None when it is not snoozed, or the snooze
    began after `at` (a message older than the snooze does not end it)."""
    for _ in range(ATTEMPTS):
        loaded = store.get_turn_pauses(ref.account_id, ref.thread_id, ref.seq)
        if loaded is None:
            return None
        turn, seen = loaded
        if turn.status is not TurnStatus.OPEN or seen.snooze is None or at < seen.snooze.since:
            return None
        if at >= seen.snooze.until:
            cause = "snooze ended"
        state, event = _ended(turn, seen, at, cause, book, by)
        planned = _schedule(book, turn, state, messaging_window_close(store, turn))
        if store.save_pause(turn, seen, state, planned, [event], now):
            return ResumeResult(turn, seen.snooze, event.at, planned)
    raise ActionRefused(f"turn {ref.key} kept changing while it was resumed; try again")


def resume_ended_snoozes(store: ThreadStore, book: PolicyBook, now: datetime) -> int:
    """Record the end of every snooze whose time has come (`resumed`, cause "snooze ended").

    The turn's schedule was already moved when it was snoozed, so the checker needs nothing
    from this; it reads the snooze markers, never the open turns. Returns how many ended.
    """
    ended = 0
    for account_id, thread_id, seq in store.ended_snoozes(now):
        ref = TurnRef(account_id, thread_id, seq)
        loaded = store.get_turn_pauses(account_id, thread_id, seq)
        snooze = loaded[1].snooze if loaded else None
        if loaded and loaded[0].status is TurnStatus.OPEN and snooze and snooze.until <= now:
            if resume_turn(store, book, ref, snooze.until, "snooze ended", now):
                ended += 1
            continue
        # Closed meanwhile (answered, dismissed), or snoozed again since: nothing to resume.
        store.clear_snooze_mark(account_id, thread_id, seq, now)
    return ended


def resume_on_customer_message(
    store: ThreadStore, book: PolicyBook, turn: Turn, message_at: datetime, now: datetime
) -> ResumeResult | None:
    """The customer wrote again on a snoozed turn: the snooze ends at their message."""
    ref = TurnRef(turn.account_id, turn.thread_id, turn.seq)
    return resume_turn(store, book, ref, message_at, "customer wrote", now)


def dismiss_turn(store: ThreadStore, ref: TurnRef, reason: str, by: str, now: datetime) -> Turn:
    """Close a turn as needing no reply (`dismissed`, with the reason and who)."""
    reason, by = reason.strip(), by.strip()[:BY_CHARS] or "unknown"
    if not reason:
        raise ActionRefused("--reason: say why this wait needs no reply", 400)
    turn, _ = _load(store, ref)
    if not store.dismiss_turn(turn, reason[:REASON_CHARS], by, now):
        raise ActionRefused(f"turn {ref.key} is not waiting any more")
    return turn


# -- e-mail action links -------------------------------------------------------------------------


class ActionKeySource(Protocol):
    def keyring(self, *, refresh: bool = False) -> ActionKeyring:
        """The signing keys; `refresh` re-reads them (a link signed with a key just rotated in)."""
        ...


@dataclass(frozen=True)
class LinkAnswer:
    status: int
    page: str


_TOKEN_STATUS = {"malformed": 400, "forged": 403, "expired": 410}
_TOKEN_TITLE = {
    "malformed": "This link is not complete",
    "forged": "This link is not valid",
    "expired": "This link has expired",
}
_TOKEN_HELP = {
    "malformed": "Copy the whole link from the e-mail, or use `replysla threads` instead.",
    "forged": "It was changed, or signed with a key that is no longer in use. "
    "Use a link from a newer e-mail, or `replysla threads` instead.",
    "expired": f"Links work for {LINK_LIFETIME.days} days. Use a link from a newer e-mail, or "
    "`replysla threads` instead.",
}


def _verify(token: str, keys: ActionKeySource, now: datetime) -> ActionClaim:
    try:
        return verify_action(token, keys.keyring(), now)
    except ActionTokenError as exc:
        if exc.kind != "forged":
            raise
    # Perhaps signed with a key rotated in after this container read the secret.
    return verify_action(token, keys.keyring(refresh=True), now)


def _describe(claim: ActionClaim) -> tuple[str, str, str]:
    """(page title, question, button) for an action."""
    if claim.action == SNOOZE:
        span = human_duration(claim.snooze_seconds)
        return (
            f"Snooze for {span}?",
            f"No alerts for this wait during the next {span}; the time does not count "
            "against the response target. Alerts resume when the snooze ends.",
            f"Snooze for {span}",
        )
    return (
        "Mark as handled?",
        "The wait closes as needing no reply here (handled elsewhere); no more alerts for it, "
        "and it is left out of the response rate.",
        "Mark as handled",
    )


def _facts(turn: Turn, state: PauseState, brand: BrandView, now: datetime) -> list[tuple[str, str]]:
    who = one_line(turn.author_handle or turn.author_name or turn.author_id, 60)
    facts = [
        ("Customer", who),
        ("Where", f"{channel_name(turn.channel)}, account {turn.account_id} ({brand.name})"),
        ("Waiting since", local_time(turn.opened_at, brand.timezone)),
        ("Due", local_time(turn.due_at, brand.timezone)),
    ]
    if state.snooze is not None and state.snoozed_now(now):
        facts.append(("Snoozed until", local_time(state.snooze.until, brand.timezone)))
    if turn.text.strip():
        facts.append(("They wrote", one_line(turn.text, 200)))
    return facts


def answer_link(
    method: str,
    token: str,
    form: dict[str, str],
    *,
    keys: ActionKeySource,
    store: ThreadStore,
    book: PolicyBook,
    brand_of: Callable[[str], BrandView],
    now: datetime,
) -> LinkAnswer:
    """Answer one request to the action endpoint: GET (or HEAD) shows the confirmation form,
    POST does the action once; any other method, a bad, forged or expired token, a turn that
    is gone or no longer waiting, or a link used before gets a 4xx page saying so."""
    method = method.upper()
    if method not in {"GET", "HEAD", "POST"}:
        return LinkAnswer(405, message_page("Not allowed", ["Open the link from the e-mail."]))
    try:
        claim = _verify(token, keys, now)
    except ActionTokenError as exc:
        return LinkAnswer(
            _TOKEN_STATUS[exc.kind],
            message_page(
                _TOKEN_TITLE[exc.kind], [str(exc).capitalize() + ".", _TOKEN_HELP[exc.kind]]
            ),
        )
    try:
        ref = parse_turn_key(claim.turn_key)
        loaded = store.get_turn_pauses(ref.account_id, ref.thread_id, ref.seq)
        if loaded is None:
            raise ActionRefused("This wait is no longer stored.", 404)
        turn, state = loaded
        brand = brand_of(turn.brand)
        facts = _facts(turn, state, brand, now)
        used = store.action_link_used(turn, claim.token_id)
        if used is not None:
            raise ActionRefused(
                f"This link was used on {local_time(used, brand.timezone)}; each link works once.",
            )
        if turn.status is not TurnStatus.OPEN:
            raise ActionRefused(
                "Nothing to do: this wait is over ("
                + (
                    "the customer was answered"
                    if turn.status is TurnStatus.ANSWERED
                    else "it was dismissed"
                )
                + ")."
            )
        title, question, button = _describe(claim)
        if method != "POST":
            return LinkAnswer(200, confirm_page(title, question, facts, token, button))
        return _act(claim, turn, form, store=store, book=book, brand=brand, now=now)
    except ActionRefused as exc:
        return LinkAnswer(exc.status, message_page("Nothing was changed", [str(exc)]))


def _act(
    claim: ActionClaim,
    turn: Turn,
    form: dict[str, str],
    *,
    store: ThreadStore,
    book: PolicyBook,
    brand: BrandView,
    now: datetime,
) -> LinkAnswer:
    name = one_line(form.get("by", ""), NAME_CHARS)
    note = one_line(form.get("note", ""), NOTE_CHARS)
    by = f"{name} ({LINK_BY})" if name else LINK_BY
    if not store.use_action_link(turn, claim.token_id, claim.expires_at, now):
        raise ActionRefused("This link was just used; each link works once.")
    ref = TurnRef(turn.account_id, turn.thread_id, turn.seq)
    if claim.action == SNOOZE:
        result = snooze_turn(
            store,
            book,
            ref,
            now + timedelta(seconds=claim.snooze_seconds),
            note or "snoozed from an e-mail link",
            by,
            now,
            via=LINK_BY,
        )
        lines = [
            f"No alerts for this wait until {local_time(result.snooze.until, brand.timezone)}.",
            "The snoozed time does not count against the response target; a reply in the "
            "conversation still closes the wait.",
        ]
        if result.capped:
            lines.insert(1, f"The snooze was {result.capped}.")
        return LinkAnswer(200, message_page("Snoozed", lines))
    dismiss_turn(
        store, ref, "handled" + (f": {note}" if note else " (from an e-mail link)"), by, now
    )
    return LinkAnswer(
        200,
        message_page(
            "Marked as handled",
            ["This wait is closed as needing no reply; no more alerts for it."],
        ),
    )

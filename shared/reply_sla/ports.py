"""The interfaces the services orchestrate. Adapters implement them; tests use fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from reply_sla.config import MonitorConfig
from reply_sla.domain.models import Message, SlaEvent, ThreadState, Turn
from reply_sla.domain.pauses import PauseState, TurnSchedule
from reply_sla.domain.summary import WeekRecords


@dataclass
class FetchResult:
    """New messages from an account's feeds and the cursors to store once they are stored."""

    messages: list[Message]
    cursors: dict[str, str | None]
    pages: int = 0
    complete: bool = True
    notes: list[str] = field(default_factory=list)
    # Items the adapter skipped because they were malformed (each says which and why); the
    # rest of the page is stored and the cursor moves past them.
    errors: list[str] = field(default_factory=list)
    # The API's own rate-limit figures after the last request, when it sends them.
    rate_limit_remaining: int | None = None
    rate_limit_reset_at: datetime | None = None


@dataclass(frozen=True)
class PollRequest:
    """One queued poll of one account; SQS holds it back `delay_seconds`."""

    account_id: str
    requested_at: str
    delay_seconds: int = 0


class PollQueue(Protocol):
    def send(self, requests: list[PollRequest]) -> None: ...


class ChannelClient(Protocol):
    """One account on one channel, speaking that platform's API."""

    channel: str

    def own_ids(self) -> frozenset[str]:
        """The brand's own identities on this account (from the API when not configured)."""
        ...

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        """Every message newer than the cursors, oldest first, with `thread_id` when known."""
        ...

    def thread_root(self, message_id: str) -> str:
        """The id of the root of the thread a message belongs to (one API call, at most)."""
        ...


class LadderStore(Protocol):
    """What the SLA checker needs of the store: the due index and the claim / confirm lease."""

    def due_turns(self, now: datetime, limit: int = 500) -> list[Turn]: ...

    def claim_levels(
        self, turn: Turn, levels: Sequence[str], now: datetime, lease_until: datetime
    ) -> bool: ...

    def confirm_levels(
        self,
        turn: Turn,
        lease_until: datetime,
        next_level: tuple[str, datetime] | None,
        events: Sequence[SlaEvent],
    ) -> None: ...

    def release_claim(
        self, turn: Turn, levels: Sequence[str], lease_until: datetime, retry_at: datetime
    ) -> None: ...

    def defer_level(self, turn: Turn, level: str, until: datetime) -> bool: ...

    def take_resolved(self, turn: Turn) -> bool: ...

    def restore_resolved(self, turn: Turn, retry_at: datetime) -> None: ...

    def record_event(self, event: SlaEvent) -> bool: ...


class ThreadStore(LadderStore, Protocol):
    def messages_stored(self, account_id: str, message_ids: Sequence[str]) -> set[str]: ...

    def thread_of(self, account_id: str, message_ids: Sequence[str]) -> dict[str, str]: ...

    def load_threads(
        self, account_id: str, thread_ids: Sequence[str]
    ) -> dict[str, tuple[ThreadState, Turn | None]]: ...

    def save_thread(
        self,
        state: ThreadState,
        messages: Sequence[Message],
        new_turns: Sequence[Turn],
        changed_turns: Sequence[Turn],
        events: Sequence[SlaEvent],
        now: datetime,
    ) -> None: ...

    def cursors(self, account_id: str) -> dict[str, str | None]: ...

    def save_cursors(
        self, account_id: str, cursors: Mapping[str, str | None], now: datetime
    ) -> None: ...

    def last_polls(self, account_ids: Sequence[str]) -> dict[str, datetime]: ...

    def next_due_at(self) -> datetime | None: ...

    def record_poll_error(self, account_id: str, kind: str, detail: str, now: datetime) -> None: ...

    def account_health(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def set_health(
        self, account_id: str, state: str, now: datetime, *, first_seen: bool = False
    ) -> bool: ...

    def record_event(self, event: SlaEvent) -> bool: ...

    def week_items(
        self, brand: str, week: str
    ) -> tuple[list[Message], list[Turn], list[SlaEvent]]: ...

    def open_turns(self, brand: str) -> list[Turn]: ...

    # Weekly summaries: a brand-week's records, overdue turns, stored weekly aggregates.

    def week_records(self, brand: str, week: str, *, as_columns: bool = False) -> WeekRecords:
        """The week's facts; with `as_columns`, messages and turns as `WeekRecords.columns`."""
        ...

    def overdue_turns(self, brand: str, now: datetime) -> list[Turn]: ...

    def put_week_aggregate(
        self, brand: str, week: str, aggregate: Mapping[str, Any], now: datetime
    ) -> None: ...

    def week_aggregates(
        self, brand: str, weeks: Sequence[str], author_weeks: Sequence[str]
    ) -> dict[str, dict[str, Any]]: ...

    # People acting on turns: dismiss, snooze, resume, e-mail action links.

    def get_turn(self, account_id: str, thread_id: str, seq: int) -> Turn | None: ...

    def dismiss_turn(self, turn: Turn, reason: str, by: str, now: datetime) -> bool: ...

    def get_turn_pauses(
        self, account_id: str, thread_id: str, seq: int
    ) -> tuple[Turn, PauseState] | None: ...

    def get_thread(self, account_id: str, thread_id: str) -> ThreadState | None: ...

    def save_pause(
        self,
        turn: Turn,
        seen: PauseState,
        state: PauseState,
        schedule: TurnSchedule,
        events: Sequence[SlaEvent],
        now: datetime,
    ) -> bool: ...

    def ended_snoozes(self, now: datetime, limit: int = 500) -> list[tuple[str, str, int]]: ...

    def clear_snooze_mark(
        self, account_id: str, thread_id: str, seq: int, until: datetime
    ) -> None: ...

    def open_turns_paused(self, brand: str) -> list[tuple[Turn, PauseState]]: ...

    def use_action_link(
        self, turn: Turn, token_id: str, expires_at: datetime, now: datetime
    ) -> bool: ...

    def action_link_used(self, turn: Turn, token_id: str) -> datetime | None: ...


# A message attribute is one string, or several (SNS String.Array: a subscription's filter
# policy matches when any of them matches, so a digest reaches everyone one of its turns concerns).
AttributeValue = str | Sequence[str]


class Notifier(Protocol):
    def publish(self, subject: str, body: str, attributes: Mapping[str, AttributeValue]) -> str:
        """Publish one notification; returns the provider's message id."""
        ...


@dataclass(frozen=True)
class SignedLink:
    """A presigned download link and how long it really works.

    `credentials` says what signed it: `long-lived` keys (the link lasts what was asked),
    `session` credentials with a known expiry (the link was cut to `expires_at`), or `session`
    credentials of unknown expiry (`expiry_known` False: the link stops working when they expire,
    which may be before `expires_at`).
    """

    url: str
    expires_at: datetime
    credentials: str
    expiry_known: bool = True


class ReportStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> None: ...

    def download_link(self, key: str, expires_seconds: int) -> str: ...

    def signed_link(self, key: str, expires_seconds: int) -> SignedLink: ...


class ConfigSource(Protocol):
    def load(self) -> MonitorConfig: ...


class SecretSource(Protocol):
    def credentials(self, name: str) -> dict[str, str]: ...


__all__ = [
    "ChannelClient",
    "ConfigSource",
    "FetchResult",
    "LadderStore",
    "Notifier",
    "ReportStore",
    "SecretSource",
    "SignedLink",
    "ThreadStore",
]

"""Snoozes (SLA_SEMANTICS §4): a person pauses a turn's clock until a time, with a reason.

Paused time is left out of the wait. So while a turn is snoozed no level falls due, and when it
resumes its deadline and every level not yet fired have moved later by exactly the paused time of
their own clock: in a business-time policy an instant that lay B business seconds after the
pause began lies B business seconds after the resume; in calendar time (24/7 policies and the
calendar cap `max_wait`) it moves by the length of the pause. A deadline already passed when the
pause began stays where it was (the turn had breached); a level already due but not yet sent
falls due at the resume.

Pure: every function takes the instants it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reply_sla.domain.business_time import BusinessHoursPolicy
from reply_sla.domain.models import Priority, TurnKind
from reply_sla.domain.policies import DEFAULT_MAX_SNOOZE_SECONDS, ConfiguredPolicy
from reply_sla.domain.policy import FixedWindowPolicy, ResponsePolicy, SlaWindow

# One paused span of a turn's clock: [since, until).
Pause = tuple[datetime, datetime]

REASON_CHARS = 500
BY_CHARS = 100
# A generic clock is searched this far ahead for the end of a budget before giving up.
_SEARCH_LIMIT = timedelta(days=800)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must carry a time zone")
    return value


class Snooze(BaseModel):
    """A pause running now: who asked, why, and until when."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    until: datetime
    by: str = Field(max_length=BY_CHARS)
    reason: str = Field(max_length=REASON_CHARS)
    via: str = ""

    _aware_times = field_validator("since", "until")(_aware)

    @property
    def tag(self) -> str:
        """Names this snooze in event ids, so each snooze of a turn is its own fact."""
        return "snooze-" + _stamp(self.since)


class PauseState(BaseModel):
    """What a turn remembers of its pauses: those that ended and the snooze running now."""

    model_config = ConfigDict(frozen=True)

    pauses: tuple[Pause, ...] = ()
    snooze: Snooze | None = None
    # Totals of the ended pauses, for the pause audit: in the policy's clock and in real time.
    paused_seconds: float = 0.0
    paused_calendar_seconds: float = 0.0

    def all_pauses(self) -> tuple[Pause, ...]:
        """Ended pauses plus the running snooze, as if it ran to its end."""
        if self.snooze is None:
            return self.pauses
        return (*self.pauses, (self.snooze.since, self.snooze.until))

    def snoozed_now(self, now: datetime) -> bool:
        return self.snooze is not None and self.snooze.since <= now < self.snooze.until


class TurnSchedule(BaseModel):
    """The deadline and the next level of a turn, as the store keeps them."""

    model_config = ConfigDict(frozen=True)

    due_at: datetime
    next_level: str | None = None
    next_level_at: datetime | None = None


def _stamp(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def max_snooze_seconds(policy: ResponsePolicy) -> int:
    """The policy's `max_snooze` (72 hours when it has none, like the built-in window)."""
    if isinstance(policy, ConfiguredPolicy):
        return policy.config.max_snooze
    return DEFAULT_MAX_SNOOZE_SECONDS


def advance(clock: ResponsePolicy, start: datetime, seconds: float) -> datetime:
    """The latest instant whose time since `start`, in this clock, is at most `seconds`
    (so a budget that runs out exactly at a closing time ends at the next opening, §5)."""
    budget = max(0.0, seconds)
    if isinstance(clock, ConfiguredPolicy):
        clock = clock.clock
    if isinstance(clock, BusinessHoursPolicy):
        return clock.calendar.deadline(start, budget).astimezone(start.tzinfo)
    if isinstance(clock, FixedWindowPolicy):
        return start + timedelta(seconds=budget)
    # Any other clock: its elapsed time never decreases, so search it to the microsecond.
    low, step = start, timedelta(seconds=max(budget, 1.0))
    high = start + step
    while clock.elapsed_seconds(start, high) <= budget:
        low, step = high, step * 2
        high = start + step
        if step > _SEARCH_LIMIT:
            raise ValueError(f"the clock does not give {budget:.0f} s within {_SEARCH_LIMIT}")
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if clock.elapsed_seconds(start, middle) <= budget:
            low = middle
        else:
            high = middle
    return low


def _moved(
    instant: datetime, pause: Pause, clock: ResponsePolicy | None, *, deadline: bool
) -> datetime:
    """Where an instant lands once a pause is left out of `clock` (None: calendar time)."""
    since, until = pause
    if instant < since or (instant == since and not deadline):
        # Already due when the pause began: a deadline that passed is a fact (the turn breached),
        # a level not yet sent goes out at the resume.
        return instant if deadline else max(instant, until)
    if clock is None:
        return instant + (until - since)
    return advance(clock, until, clock.elapsed_seconds(since, instant))


def _through(
    instant: datetime, pauses: Sequence[Pause], clock: ResponsePolicy | None, *, deadline: bool
) -> datetime:
    for pause in pauses:
        instant = _moved(instant, pause, clock, deadline=deadline)
    return instant


def paused_window(
    policy: ResponsePolicy,
    kind: TurnKind,
    opened_at: datetime,
    priority: Priority,
    pauses: Sequence[Pause],
) -> SlaWindow:
    """The policy's window for a turn whose clock was paused during `pauses` (oldest first).

    A `max_wait` cap moves in calendar time and the business deadline in business time; the cap
    decides when it comes first, as in `ConfiguredPolicy.window`.
    """
    window = policy.window(kind, opened_at, priority)
    if not pauses:
        return window
    ordered = sorted(pauses)
    cap = policy.config.max_wait if isinstance(policy, ConfiguredPolicy) else None
    if not isinstance(policy, ConfiguredPolicy) or cap is None:
        return window.model_copy(
            update={
                "due_at": _through(window.due_at, ordered, policy, deadline=True),
                "levels": tuple(
                    (name, _through(at, ordered, policy, deadline=False))
                    for name, at in window.levels
                ),
            }
        )
    business = policy.clock.window(kind, opened_at, priority)
    due = _through(business.due_at, ordered, policy.clock, deadline=True)
    levels = tuple(
        (name, _through(at, ordered, policy.clock, deadline=False)) for name, at in business.levels
    )
    capped_due = _through(opened_at + timedelta(seconds=cap), ordered, None, deadline=True)
    if due <= capped_due:
        return business.model_copy(update={"due_at": due, "levels": levels})
    capped_levels = []
    for (name, at), step in zip(levels, policy.config.ladder, strict=True):
        share = step.to_level()
        cap_at = opened_at + timedelta(
            seconds=max(0.0, cap * share.fraction + share.offset_seconds)
        )
        capped_levels.append((name, min(at, _through(cap_at, ordered, None, deadline=False))))
    return business.model_copy(update={"due_at": capped_due, "levels": tuple(capped_levels)})


def schedule(
    window: SlaWindow,
    levels_fired: Sequence[str],
    hard_deadline: datetime | None = None,
) -> TurnSchedule:
    """The deadline and next level a turn stores, from its (paused) window.

    `hard_deadline` is a limit no pause can move, such as Meta's messaging window: neither the
    deadline nor any level falls after it.
    """
    due = window.due_at
    levels = window.levels
    if hard_deadline is not None and hard_deadline < due:
        due = hard_deadline
        levels = tuple((name, min(at, hard_deadline)) for name, at in levels)
    nxt = next(((name, at) for name, at in levels if name not in levels_fired), None)
    return TurnSchedule(
        due_at=due, next_level=nxt[0] if nxt else None, next_level_at=nxt[1] if nxt else None
    )


def paused_seconds(clock: ResponsePolicy, pause: Pause) -> float:
    """How much of the policy's clock a pause took (business seconds in a business policy)."""
    return clock.elapsed_seconds(pause[0], pause[1])


def waited_seconds(
    clock: ResponsePolicy, opened_at: datetime, end: datetime, pauses: Sequence[Pause]
) -> float:
    """The wait from `opened_at` to `end` in the policy's clock, paused spans left out."""
    waited = clock.elapsed_seconds(opened_at, end)
    for since, until in pauses:
        start, stop = max(since, opened_at), min(until, end)
        if stop > start:
            waited -= clock.elapsed_seconds(start, stop)
    return max(0.0, waited)

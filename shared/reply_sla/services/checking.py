"""Check SLAs: fire every due ladder level of every due turn, exactly once each.

One run reads the due index and then:
1. plans each due turn: every level due by now and not yet fired; levels due at once (a turn
   discovered late, or held by quiet hours) collapse into one message at the highest level;
   a level held by quiet hours is deferred to the next opening instead;
2. claims each turn's levels with a conditional write that is also a lease;
3. publishes: one escalation per turn, or one digest per brand and level when several turns
   reached the same level in this run (split into parts under SNS's size limit); each message
   names its audience, the team for levels before the deadline and managers from the breach
   on, so that managers are e-mailed only about messages that exceeded their window;
4. confirms each claim (records the events, moves the turn to its next level) or, when the
   publish failed, releases it for the next run;
5. sends the resolved notice for turns answered after managers were alerted.

A checker that dies between claiming and confirming loses nothing: the lease runs out and a
later run publishes the levels again. Two checkers never both win a claim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reply_sla.domain.alerts import AlertHours
from reply_sla.domain.models import EventType, SlaEvent, Turn, TurnStatus
from reply_sla.domain.notices import (
    DIGEST_BODY_BYTES,
    MANAGERS,
    TEAM,
    DigestEntry,
    digest_messages,
    escalation_body,
    escalation_subject,
    resolved_body,
    resolved_subject,
)
from reply_sla.domain.pauses import paused_window, waited_seconds
from reply_sla.domain.policy import PolicyBook
from reply_sla.errors import ReplySlaError
from reply_sla.ports import AttributeValue, LadderStore, Notifier

_LEVEL_EVENT = {"warning": EventType.WARNING, "breach": EventType.BREACHED}
# Longer than check_sla's timeout, so a slow run is never overtaken while it still works.
DEFAULT_LEASE = timedelta(minutes=10)

# (label, url) links that let a manager snooze or handle a turn from the e-mail.
ActionLinks = Callable[[Turn, datetime], Sequence[tuple[str, str]]]


@dataclass
class CheckReport:
    due: int = 0
    fired: int = 0
    held: int = 0
    channels_down: list[str] = field(default_factory=list)
    lost_race: int = 0
    publish_failed: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    published: int = 0
    digests: int = 0
    collapsed: int = 0
    resolved_notices: int = 0


@dataclass(frozen=True)
class BrandView:
    name: str
    timezone: str


@dataclass(frozen=True)
class _Claim:
    turn: Turn
    levels: tuple[str, ...]  # oldest first; the last is the level the message announces
    following: tuple[str, datetime] | None
    lease_until: datetime
    waited: float
    held: bool
    audience: str

    @property
    def level(self) -> str:
        return self.levels[-1]


# A turn's ladder: each level with the instant it is due.
Steps = tuple[tuple[str, datetime], ...]


def ladder(turn: Turn, policy: PolicyBook) -> Steps:
    """The turn's ladder from its policy, moved by its snoozes; a turn whose deadline was pulled
    in (Meta's messaging window) has no level later than its deadline."""
    window = paused_window(
        policy.named(turn.policy, turn.brand),
        turn.kind,
        turn.opened_at,
        turn.priority,
        turn.all_pauses(),
    )
    if turn.due_at < window.due_at:
        return tuple((name, min(at, turn.due_at)) for name, at in window.levels)
    return window.levels


def level_audience(turn: Turn, steps: Steps, levels: Sequence[str]) -> str:
    """Who a level of the turn's ladder (`steps`) is for: the team while the message is still
    within its window (a level due before the deadline, like a warning at 75 %), managers once
    it has exceeded it (the breach and every level after). Of several levels, the latest
    decides; a level the ladder no longer has goes to managers."""
    at = dict(steps)
    return TEAM if all(name in at and at[name] < turn.due_at for name in levels) else MANAGERS


def waited_for(turn: Turn, policy: PolicyBook, end: datetime) -> float:
    """The customer's wait until `end` in the policy's clock, snoozed time left out."""
    clock = policy.named(turn.policy, turn.brand)
    running = [(a, min(b, end)) for a, b in turn.all_pauses() if a < end]
    return waited_seconds(clock, turn.opened_at, end, running)


def plan_levels(
    turn: Turn, steps: Steps, now: datetime, alert_hours: AlertHours | None
) -> tuple[tuple[str, ...], tuple[str, datetime] | None, datetime | None]:
    """(levels to fire now, the level after them, hold-until when quiet hours hold them all),
    from the turn's ladder `steps`."""
    done = {name for name in turn.levels_fired if name not in turn.claimed_levels}
    due = [name for name, at in steps if name not in done and at <= now]
    if not due and turn.next_level and turn.next_level not in done:
        due = [turn.next_level]  # the index says it is due (a policy edited since)
    if not due:
        return (), None, None
    fire = due
    if alert_hours is not None:
        allowed = [
            i
            for i, name in enumerate(due)
            if alert_hours.hold_until(name, turn.priority, now) is None
        ]
        if not allowed:
            return (), None, alert_hours.hold_until(due[-1], turn.priority, now)
        fire = due[: allowed[-1] + 1]
    fired = set(done) | set(fire)
    following = next(((name, at) for name, at in steps if name not in fired), None)
    return tuple(fire), following, None


def check_sla(
    store: LadderStore,
    notifier: Notifier,
    policy: PolicyBook,
    brand_of: Callable[[str], BrandView],
    now: datetime,
    alert_hours: AlertHours | None = None,
    *,
    digests: bool = True,
    actions: ActionLinks | None = None,
    lease: timedelta = DEFAULT_LEASE,
    max_body_bytes: int = DIGEST_BODY_BYTES,
) -> CheckReport:
    """Read the due index and fire what is due (see the module's docstring)."""
    report = CheckReport()
    claims: list[_Claim] = []
    resolved: list[Turn] = []
    for turn in store.due_turns(now):
        report.due += 1
        if turn.status is not TurnStatus.OPEN:
            resolved.append(turn)
            continue
        steps = ladder(turn, policy)
        levels, following, hold = plan_levels(turn, steps, now, alert_hours)
        if hold is not None and turn.next_level is not None:
            # Quiet hours: the level waits in the due index until the next opening.
            if store.defer_level(turn, turn.next_level, hold):
                report.held += 1
            continue
        if not levels:
            continue
        lease_until = now + lease
        if not store.claim_levels(turn, levels, now, lease_until):
            report.lost_race += 1
            continue
        waited = waited_for(turn, policy, now)
        held = turn.held_until is not None
        audience = level_audience(turn, steps, levels[-1:])
        claims.append(_Claim(turn, levels, following, lease_until, waited, held, audience))

    for group in _groups(claims, digests):
        _publish_group(group, store, notifier, brand_of, now, actions, max_body_bytes, report)
    for turn in resolved:
        _resolve(turn, store, notifier, policy, brand_of, now, report)
    return report


def _groups(claims: list[_Claim], digests: bool) -> list[list[_Claim]]:
    if not digests:
        return [[claim] for claim in claims]
    grouped: dict[tuple[str, str, str], list[_Claim]] = {}
    for claim in claims:
        grouped.setdefault((claim.turn.brand, claim.level, claim.audience), []).append(claim)
    return list(grouped.values())


def _attributes(claims: Sequence[_Claim]) -> dict[str, AttributeValue]:
    def values(pick: Callable[[_Claim], str]) -> AttributeValue:
        distinct = sorted({pick(c) for c in claims})
        return distinct[0] if len(distinct) == 1 else distinct

    return {
        "brand": claims[0].turn.brand,
        "channel": values(lambda c: c.turn.channel),
        "account": values(lambda c: c.turn.account_id),
        "level": claims[0].level,
        "audience": claims[0].audience,
        "priority": values(lambda c: c.turn.priority.value),
        "policy": values(lambda c: c.turn.policy),
        "kind": "escalation" if len(claims) == 1 else "digest",
    }


def _publish_group(
    group: list[_Claim],
    store: LadderStore,
    notifier: Notifier,
    brand_of: Callable[[str], BrandView],
    now: datetime,
    actions: ActionLinks | None,
    max_body_bytes: int,
    report: CheckReport,
) -> None:
    brand = brand_of(group[0].turn.brand)
    links = {c.turn.key: tuple(actions(c.turn, now)) if actions else () for c in group}
    if len(group) == 1:
        claim = group[0]
        messages = [
            (
                escalation_subject(claim.turn, claim.waited, brand.name),
                escalation_body(
                    claim.turn,
                    claim.level,
                    claim.waited,
                    now,
                    brand_name=brand.name,
                    timezone=brand.timezone,
                    next_level=claim.following,
                    collapsed=claim.levels[:-1],
                    actions=links[claim.turn.key],
                ),
                [claim.turn.key],
            )
        ]
    else:
        entries = [
            DigestEntry(c.turn, c.level, c.waited, c.levels[:-1], c.following, links[c.turn.key])
            for c in group
        ]
        messages = digest_messages(
            entries,
            now,
            brand_name=brand.name,
            timezone=brand.timezone,
            held=any(c.held for c in group),
            max_body_bytes=max_body_bytes,
        )
    attributes = _attributes(group)
    by_key = {c.turn.key: c for c in group}
    for subject, body, keys in messages:
        part = [by_key[key] for key in keys]
        try:
            message_id = notifier.publish(subject, body, attributes)
        except ReplySlaError:
            # Release what this message carried; parts already sent stay sent.
            for claim in part:
                store.release_claim(claim.turn, claim.levels, claim.lease_until, now)
            report.publish_failed += 1
            continue
        report.published += 1
        if len(group) > 1:
            report.digests += 1
        for claim in part:
            _confirm(claim, store, now, message_id, report)


def _confirm(
    claim: _Claim, store: LadderStore, now: datetime, message_ids: str, report: CheckReport
) -> None:
    turn = claim.turn
    events = [
        SlaEvent.of_turn(
            turn,
            _LEVEL_EVENT.get(level, EventType.ESCALATED),
            now,
            level,
            detail={
                "notification_id": message_ids,
                "due_at": turn.due_at.isoformat(),
                **({"collapsed_into": claim.level} if level != claim.level else {}),
            },
        )
        for level in claim.levels
    ]
    store.confirm_levels(turn, claim.lease_until, claim.following, events)
    report.fired += len(claim.levels)
    report.collapsed += len(claim.levels) - 1
    for level in claim.levels:
        report.by_level[level] = report.by_level.get(level, 0) + 1


def _resolve(
    turn: Turn,
    store: LadderStore,
    notifier: Notifier,
    policy: PolicyBook,
    brand_of: Callable[[str], BrandView],
    now: datetime,
    report: CheckReport,
) -> None:
    """A turn answered after managers were alerted: tell the levels that were alerted."""
    if turn.claim_until is not None and turn.claim_until > now:
        return  # a checker may still be publishing a level of it: resolve after its lease
    if not store.take_resolved(turn):
        return
    alerted = turn.sent_levels()
    if not alerted:
        return  # answered before any level went out: nothing to withdraw
    brand = brand_of(turn.brand)
    replied = turn.replied_at or now
    waited = waited_for(turn, policy, replied)
    try:
        notifier.publish(
            resolved_subject(turn, waited, brand.name),
            resolved_body(turn, waited, brand_name=brand.name, timezone=brand.timezone),
            {
                "brand": turn.brand,
                "channel": turn.channel,
                "account": turn.account_id,
                "level": alerted if len(alerted) > 1 else alerted[0],
                # Whoever was alerted hears it was answered: managers if any level was theirs.
                "audience": level_audience(turn, ladder(turn, policy), alerted),
                "priority": turn.priority.value,
                "policy": turn.policy,
                "kind": "resolved",
            },
        )
    except ReplySlaError:
        store.restore_resolved(turn, now)
        report.publish_failed += 1
        return
    report.published += 1
    report.resolved_notices += 1

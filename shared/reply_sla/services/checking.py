"""Check SLAs: fire every due ladder level of every due turn, exactly once each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from reply_sla.domain.alerts import AlertHours
from reply_sla.domain.models import EventType, SlaEvent, Turn
from reply_sla.domain.notices import escalation_body, escalation_subject
from reply_sla.domain.policy import PolicyBook
from reply_sla.errors import ReplySlaError
from reply_sla.ports import Notifier, ThreadStore

_LEVEL_EVENT = {"warning": EventType.WARNING, "breach": EventType.BREACHED}


@dataclass
class CheckReport:
    due: int = 0
    fired: int = 0
    held: int = 0
    channels_down: list[str] = field(default_factory=list)
    lost_race: int = 0
    publish_failed: int = 0
    by_level: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BrandView:
    name: str
    timezone: str


def check_sla(
    store: ThreadStore,
    notifier: Notifier,
    policy: PolicyBook,
    brand_of: Callable[[str], BrandView],
    now: datetime,
    alert_hours: AlertHours | None = None,
) -> CheckReport:
    """Read the due index and fire what is due.

    A level is claimed with a conditional write before it is published, so two checkers running
    at once publish it once; a publish that fails releases the claim for the next run.
    """
    report = CheckReport()
    for turn in store.due_turns(now):
        report.due += 1
        level = turn.next_level
        hold = alert_hours.hold_until(level, turn.priority, now) if level and alert_hours else None
        if hold is not None and level is not None:
            # Quiet hours: the level waits in the due index until the next opening.
            if store.defer_level(turn, level, hold):
                report.held += 1
            continue
        _fire(turn, store, notifier, policy, brand_of, now, report)
    return report


def _fire(
    turn: Turn,
    store: ThreadStore,
    notifier: Notifier,
    policy: PolicyBook,
    brand_of: Callable[[str], BrandView],
    now: datetime,
    report: CheckReport,
) -> None:
    level = turn.next_level
    if level is None:
        return
    turn_policy = policy.named(turn.policy, turn.brand)
    window = turn_policy.window(turn.kind, turn.opened_at, turn.priority)
    following = window.next_level([*turn.levels_fired, level])
    if not store.claim_level(turn, level, now, following):
        report.lost_race += 1
        return
    brand = brand_of(turn.brand)
    waited = turn_policy.elapsed_seconds(turn.opened_at, now)
    try:
        message_id = notifier.publish(
            escalation_subject(turn, waited, brand.name),
            escalation_body(
                turn,
                level,
                waited,
                now,
                brand_name=brand.name,
                timezone=brand.timezone,
                next_level=following,
            ),
            {
                "brand": turn.brand,
                "channel": turn.channel,
                "account": turn.account_id,
                "level": level,
                "priority": turn.priority.value,
                "policy": turn.policy,
            },
        )
    except ReplySlaError:
        store.release_level(turn, level, following)
        report.publish_failed += 1
        return
    store.record_event(
        SlaEvent(
            brand=turn.brand,
            account_id=turn.account_id,
            channel=turn.channel,
            thread_id=turn.thread_id,
            turn_seq=turn.seq,
            type=_LEVEL_EVENT.get(level, EventType.ESCALATED),
            at=now,
            level=level,
            detail={"notification_id": message_id, "due_at": turn.due_at.isoformat()},
        )
    )
    report.fired += 1
    report.by_level[level] = report.by_level.get(level, 0) + 1

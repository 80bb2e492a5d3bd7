"""Which accounts are not being polled: the signal behind the ChannelNotPolled alarm.

The health check (services/health.py) tells managers when an account has been down for three of
its intervals; this tells operators, earlier and with one number, that polling has stalled
somewhere: an account is overdue when its last successful poll is older than NOT_POLLED_SECONDS
(15 minutes), or than its own `poll_every` plus OVERDUE_GRACE_SECONDS when that is longer.
An account never polled counts from when the health check first saw it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reply_sla.config import AccountConfig, MonitorConfig
from reply_sla.domain.weeks import parse_iso
from reply_sla.ports import ThreadStore

NOT_POLLED_SECONDS = 15 * 60
#: A slow account (poll_every 30m) is overdue only this long after its interval.
OVERDUE_GRACE_SECONDS = 5 * 60
#: check_sla counts not-polled accounts at minutes divisible by this (the alarm's period is 5
#: minutes): one read of the accounts' health every 5 minutes instead of every minute.
COUNT_EVERY_MINUTES = 5


@dataclass(frozen=True)
class UnpolledAccount:
    account_id: str
    channel: str
    seconds: float
    never_polled: bool


def counting_minute(now: datetime) -> bool:
    """Whether the checker run scheduled at `now` counts the not-polled accounts."""
    return now.minute % COUNT_EVERY_MINUTES == 0


def overdue_after(account: AccountConfig) -> float:
    """Seconds without a successful poll after which the account counts as not polled."""
    return max(NOT_POLLED_SECONDS, account.poll_every + OVERDUE_GRACE_SECONDS)


def unpolled_accounts(
    config: MonitorConfig, health: Mapping[str, Mapping[str, Any]], now: datetime
) -> list[UnpolledAccount]:
    """Configured accounts whose last successful poll (`last_poll_at` in their health record, else
    `first_seen`) is older than `overdue_after`; accounts with neither are not counted yet."""
    found = []
    for account in config.accounts:
        record = health.get(account.id, {})
        since_text = record.get("last_poll_at") or record.get("first_seen")
        if not since_text:
            continue
        seconds = (now - parse_iso(str(since_text))).total_seconds()
        if seconds > overdue_after(account):
            found.append(
                UnpolledAccount(
                    account.id, account.channel, seconds, not record.get("last_poll_at")
                )
            )
    return found


def find_unpolled_accounts(
    config: MonitorConfig, store: ThreadStore, now: datetime
) -> list[UnpolledAccount]:
    """unpolled_accounts() of the configured accounts, reading their health in one batch."""
    if not config.accounts:
        return []
    return unpolled_accounts(config, store.account_health([a.id for a in config.accounts]), now)

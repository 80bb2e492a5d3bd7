"""Channel health: a monitor that silently stops seeing messages is the worst failure it can have.

An account is down when the channel refused its credentials after its last good poll, or when it
has not been polled successfully for three of its intervals. Going down sends one `channel_down`
notice to the brand's managers; coming back sends one `channel_up`. A conditional write on the
account's health record decides who sends, so two checkers send each notice once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reply_sla.config import AccountConfig, MonitorConfig
from reply_sla.domain.notices import (
    MANAGERS,
    TEAM,
    channel_name,
    human_duration,
    local_time,
    neutralize,
)
from reply_sla.domain.weeks import parse_iso
from reply_sla.errors import ReplySlaError
from reply_sla.ports import Notifier, ThreadStore

MISSED_INTERVALS = 3
AUTH_ERRORS = {"ChannelAuthError"}


@dataclass
class HealthReport:
    down: list[str] = field(default_factory=list)
    went_down: list[str] = field(default_factory=list)
    came_back: list[str] = field(default_factory=list)


def _at(record: dict[str, Any], key: str) -> datetime | None:
    value = record.get(key)
    return parse_iso(str(value)) if value else None


def diagnose(account: AccountConfig, record: dict[str, Any], now: datetime) -> str | None:
    """Why the account is down, in a manager's words, or None when it is healthy."""
    last_ok = _at(record, "last_poll_at")
    last_error = _at(record, "last_error_at")
    if (
        record.get("last_error_kind") in AUTH_ERRORS
        and last_error is not None
        and (last_ok is None or last_error > last_ok)
    ):
        detail = neutralize(str(record.get("last_error", "")), 300)
        return f"the channel refused the account's credentials ({detail})"
    since = last_ok or _at(record, "first_seen")
    limit = timedelta(seconds=MISSED_INTERVALS * account.poll_every)
    if since is not None and now - since > limit:
        what = "no successful poll" if last_ok else "never polled successfully"
        reason = f"{what} for {human_duration((now - since).total_seconds())}"
        if record.get("last_error"):
            reason += f"; last error: {neutralize(str(record['last_error']), 300)}"
        return reason
    return None


def check_channels(
    config: MonitorConfig, store: ThreadStore, notifier: Notifier, now: datetime
) -> HealthReport:
    """Send `channel_down` / `channel_up` once per change of each account's health."""
    report = HealthReport()
    records = store.account_health([a.id for a in config.accounts])
    for account in config.accounts:
        record = records.get(account.id, {})
        if "first_seen" not in record and "last_poll_at" not in record:
            store.set_health(account.id, "up", now, first_seen=True)
            continue
        reason = diagnose(account, record, now)
        brand = config.brands.get(account.brand)
        brand_name = brand.name if brand else account.brand
        timezone = brand.timezone if brand else "UTC"
        if reason is not None:
            report.down.append(account.id)
            if store.set_health(account.id, "down", now):
                if _notify(notifier, account, brand_name, timezone, reason, now, down=True):
                    report.went_down.append(account.id)
                else:  # let the next check try again
                    store.set_health(account.id, "up", now)
        elif record.get("state") == "down" and store.set_health(account.id, "up", now):
            _notify(notifier, account, brand_name, timezone, "", now, down=False)
            report.came_back.append(account.id)
    return report


def _notify(
    notifier: Notifier,
    account: AccountConfig,
    brand_name: str,
    timezone: str,
    reason: str,
    now: datetime,
    *,
    down: bool,
) -> bool:
    where = f"{channel_name(account.channel)} account {account.id}"
    if down:
        subject = f"[replysla] {where} is not being monitored ({brand_name})"
        body = (
            f"{brand_name}: replysla cannot see new messages on {where} since "
            f"{local_time(now, timezone)}: {reason}.\n\n"
            "Customers who write there now are not being watched, and no escalation will be sent "
            "for them until this is fixed.\n\n"
            "What to do: check the account's token"
            + (f" in the Secrets Manager secret {account.secret}" if account.secret else "")
            + f", then run `replysla channels poll-once --config <file> --account {account.id}` "
            "to confirm it answers. You will get one more e-mail when monitoring is back.\n"
        )
    else:
        subject = f"[replysla] {where} is monitored again ({brand_name})"
        body = (
            f"{brand_name}: {where} answered again at {local_time(now, timezone)}. Messages "
            "written while it was down are picked up from where polling stopped, and their "
            "waits are measured from the time the customers wrote them.\n"
        )
    try:
        notifier.publish(
            subject,
            body,
            {
                "brand": account.brand,
                "channel": account.channel,
                "account": account.id,
                "level": "channel_down" if down else "channel_up",
                # Both: the team cannot answer there, and managers' figures go quiet.
                "audience": [MANAGERS, TEAM],
                "priority": "urgent",
            },
        )
    except ReplySlaError:
        return False
    return True

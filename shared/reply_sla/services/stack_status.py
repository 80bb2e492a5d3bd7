"""What `replysla status` reports about a deployed stack: per account, its last successful
poll, its open and overdue turns and its health; per brand, the last weekly summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reply_sla.config import MonitorConfig
from reply_sla.domain.models import Turn
from reply_sla.domain.weeks import parse_iso
from reply_sla.services.poll_freshness import overdue_after


@dataclass(frozen=True)
class AccountStatus:
    account_id: str
    brand: str
    channel: str
    last_poll_at: datetime | None
    open_turns: int
    overdue_turns: int
    #: "ok", "not polled" (past overdue_after), "down" (the health check told managers) or
    #: "never polled".
    state: str
    last_error: str = ""


@dataclass(frozen=True)
class BrandStatus:
    brand: str
    last_summary_week: str | None
    last_summary_at: datetime | None
    last_summary_prefix: str | None


@dataclass
class StackStatus:
    stack: str
    at: datetime
    accounts: list[AccountStatus] = field(default_factory=list)
    brands: list[BrandStatus] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        return any(a.state != "ok" for a in self.accounts)


def _at(record: Mapping[str, Any], key: str) -> datetime | None:
    value = record.get(key)
    return parse_iso(str(value)) if value else None


def account_statuses(
    config: MonitorConfig,
    health: Mapping[str, Mapping[str, Any]],
    open_turns: Mapping[str, Sequence[Turn]],
    now: datetime,
) -> list[AccountStatus]:
    """One row per configured account; `open_turns` by brand (earliest deadline first)."""
    rows = []
    for account in config.accounts:
        record = health.get(account.id, {})
        last_poll = _at(record, "last_poll_at")
        turns = [t for t in open_turns.get(account.brand, ()) if t.account_id == account.id]
        overdue = sum(1 for t in turns if t.due_at < now)
        if record.get("state") == "down":
            state = "down"
        elif last_poll is None:
            state = "never polled"
        elif (now - last_poll).total_seconds() > overdue_after(account):
            state = "not polled"
        else:
            state = "ok"
        error = ""
        last_error_at = _at(record, "last_error_at")
        if last_error_at is not None and (last_poll is None or last_error_at > last_poll):
            error = f"{record.get('last_error_kind', 'error')}: {record.get('last_error', '')}"
        rows.append(
            AccountStatus(
                account.id,
                account.brand,
                account.channel,
                last_poll,
                len(turns),
                overdue,
                state,
                error[:300],
            )
        )
    return rows


def stack_status(
    stack: str,
    config: MonitorConfig,
    health: Mapping[str, Mapping[str, Any]],
    open_turns_of: Callable[[str], Sequence[Turn]],
    last_summary_of: Callable[[str], tuple[str, datetime, str] | None],
    now: datetime,
) -> StackStatus:
    """The whole report; the callables read one brand's open turns and last summary."""
    brands = sorted({a.brand for a in config.accounts} | set(config.brands))
    open_turns = {brand: open_turns_of(brand) for brand in brands}
    status = StackStatus(stack, now, account_statuses(config, health, open_turns, now))
    for brand in brands:
        found = last_summary_of(brand)
        status.brands.append(
            BrandStatus(
                brand,
                found[0] if found else None,
                found[1] if found else None,
                found[2] if found else None,
            )
        )
    return status

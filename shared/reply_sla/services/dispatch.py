"""Decide which accounts are due for a poll and queue one poll request each."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reply_sla.config import MonitorConfig

# A poll that ran a few seconds late still counts for its minute.
SLACK_SECONDS = 5


class PollQueue(Protocol):
    def send(self, requests: list[dict[str, str]]) -> None: ...


@dataclass
class DispatchReport:
    accounts: int
    queued: list[str]


def dispatch_polls(
    config: MonitorConfig,
    last_polls: Mapping[str, datetime],
    queue: PollQueue,
    now: datetime,
) -> DispatchReport:
    """Queue a poll for every account whose `poll_every` has passed since its last poll."""
    due = [
        account.id
        for account in config.accounts
        if account.id not in last_polls
        or (now - last_polls[account.id]).total_seconds() + SLACK_SECONDS >= account.poll_every
    ]
    if due:
        queue.send([{"account_id": a, "requested_at": now.isoformat()} for a in due])
    return DispatchReport(accounts=len(config.accounts), queued=due)

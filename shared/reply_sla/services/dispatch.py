"""Decide which accounts are due for a poll and queue one poll request each.

Many accounts on one channel must not hit its API at the same moment: at most
`channel_limits[channel]` (default DEFAULT_CHANNEL_LIMIT) polls of a channel start together; the
next ones are delayed by SQS (`DelaySeconds`) in even steps across the minute, so the queue, not
our code, does the waiting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from reply_sla.config import MonitorConfig
from reply_sla.ports import PollQueue, PollRequest

# A poll that ran a few seconds late still counts for its minute.
SLACK_SECONDS = 5
DEFAULT_CHANNEL_LIMIT = 5
SPREAD_SECONDS = 50  # the delayed waves all start within the dispatch minute


@dataclass
class DispatchReport:
    accounts: int
    queued: list[str]
    delayed: dict[str, int] = field(default_factory=dict)


def dispatch_polls(
    config: MonitorConfig,
    last_polls: Mapping[str, datetime],
    queue: PollQueue,
    now: datetime,
) -> DispatchReport:
    """Queue a poll for every account whose `poll_every` has passed since its last poll."""
    due_by_channel: dict[str, list[str]] = defaultdict(list)
    for account in config.accounts:
        last = last_polls.get(account.id)
        if last is None or (now - last).total_seconds() + SLACK_SECONDS >= account.poll_every:
            due_by_channel[account.channel].append(account.id)
    requests: list[PollRequest] = []
    for channel, accounts in due_by_channel.items():
        limit = max(1, config.channel_limits.get(channel, DEFAULT_CHANNEL_LIMIT))
        waves = -(-len(accounts) // limit)
        step = SPREAD_SECONDS // waves if waves > 1 else 0
        requests += [
            PollRequest(account_id, now.isoformat(), (index // limit) * step)
            for index, account_id in enumerate(accounts)
        ]
    if requests:
        queue.send(requests)
    return DispatchReport(
        accounts=len(config.accounts),
        queued=[r.account_id for r in requests],
        delayed={r.account_id: r.delay_seconds for r in requests if r.delay_seconds},
    )

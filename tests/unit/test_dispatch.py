"""dispatch_polls: which accounts are due, and the per-channel limit on polls starting together."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reply_sla.config import parse_config
from reply_sla.errors import ConfigError
from reply_sla.ports import PollRequest
from reply_sla.services.dispatch import dispatch_polls
from tests.factories import at


class ListQueue:
    def __init__(self) -> None:
        self.sent: list[PollRequest] = []

    def send(self, requests: list[PollRequest]) -> None:
        self.sent.extend(requests)


def config(x_accounts: int, limits: dict[str, int] | None = None):
    accounts = [
        {"id": f"x{i}", "brand": "acme", "channel": "x", "credentials": {"bearer_token": "t"}}
        for i in range(x_accounts)
    ] + [
        {
            "id": "m1",
            "brand": "acme",
            "channel": "mastodon",
            "credentials": {"t": "x"},
            "poll_every": "5m",
        }
    ]
    return parse_config(
        {"brands": {"acme": {"name": "ACME"}}, "accounts": accounts, "channel_limits": limits or {}}
    )


def test_accounts_are_due_after_their_poll_every():
    # Given m1 (every 5 min) polled 2 min ago and x0 (every minute) polled 1 min ago
    queue = ListQueue()
    report = dispatch_polls(config(1), {"m1": at(-2), "x0": at(-1)}, queue, at(0))
    # Then only x0 is queued, right away
    assert report.queued == ["x0"] and queue.sent[0].delay_seconds == 0


def test_polls_of_one_channel_are_spread_beyond_its_limit():
    # Given 7 X accounts and a limit of 3 X polls at a time
    queue = ListQueue()
    report = dispatch_polls(config(7, {"x": 3}), {}, queue, at(0))
    # Then 3 start now, 3 after 16 s and 1 after 32 s; Mastodon is not held back
    delays = [r.delay_seconds for r in queue.sent if r.account_id.startswith("x")]
    assert delays == [0, 0, 0, 16, 16, 16, 32]
    assert next(r for r in queue.sent if r.account_id == "m1").delay_seconds == 0
    assert len(report.queued) == 8 and report.delayed["x6"] == 32


def test_channel_limits_are_validated():
    with pytest.raises(ConfigError, match="channel_limits: unknown channel 'twitter'"):
        config(1, {"twitter": 2})
    with pytest.raises(ConfigError, match="expected at least 1 poll"):
        config(1, {"x": 0})


def test_nothing_due_sends_nothing():
    queue = ListQueue()
    report = dispatch_polls(
        config(1), {"x0": at(0), "m1": at(0)}, queue, at(0) + timedelta(seconds=30)
    )
    assert report.queued == [] and queue.sent == []

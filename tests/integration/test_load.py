"""Load: 500 accounts polled every minute through the real dispatch_polls and poll_account
handlers, with the poll queue, table and topic of template.yaml in moto.

Time is simulated, for the handlers and for SQS alike (moto's message delays and visibility
follow the simulated clock), so a minute of DelaySeconds waves plays in well under a second.
Lambda's SQS event source is played second by second: every message visible at that second is
received and handed to poll_account in batches of 10. Every account's channel has a new
customer message in the first minute, and a third of them in each later one.

Checked, minute after minute: every account polled exactly once and its message stored; no
more polls of a channel starting in one second than the channel's limit; every poll within the
minute it was queued for, so no account waits or is skipped.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from reply_sla.config import CHANNELS, AccountConfig
from reply_sla.domain.models import Direction, Message
from reply_sla.local.demo import LambdaContextStub, SimClock, _load_handler, _sqs_event
from reply_sla.local.provision import provision_local
from reply_sla.ports import FetchResult
from reply_sla.settings import Settings
from reply_sla.wiring import Container, use_container
from tests.conftest import local_session

ACCOUNTS = 500
MINUTES = 3
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
# Polls of a channel allowed to start together (the rest wait in SQS): tight for the platforms
# with per-app limits, looser for the others.
LIMITS = {"x": 3, "facebook": 4, "instagram": 4, "discourse": 6, "mastodon": 10, "bluesky": 8}


@dataclass
class Poll:
    account: str
    channel: str
    at: datetime


@dataclass
class MinuteChannel:
    """One account's channel: a new customer message each minute; every fetch is recorded."""

    account: AccountConfig
    clock: SimClock
    polls: list[Poll]
    messages: list[Message] = field(default_factory=list)

    @property
    def channel(self) -> str:
        return self.account.channel

    def own_ids(self) -> frozenset[str]:
        return frozenset({"brand"})

    def say(self, minute: int) -> str:
        """The customer writes, just before the minute's dispatch."""
        message_id = f"{self.account.id}-m{minute}"
        self.messages.append(
            Message(
                brand="acme",
                account_id=self.account.id,
                channel=self.account.channel,
                message_id=message_id,
                thread_id=message_id,
                author_id="customer",
                created_at=self.clock.now - timedelta(seconds=1),
                text=f"question {minute}",
                direction=Direction.INBOUND,
            )
        )
        return message_id

    def fetch_new(self, cursors: Mapping[str, str | None], now: datetime) -> FetchResult:
        self.polls.append(Poll(self.account.id, self.account.channel, self.clock.now))
        start = int(cursors.get("all") or 0)
        return FetchResult(
            messages=self.messages[start:], cursors={"all": str(len(self.messages))}, pages=1
        )

    def thread_root(self, message_id: str) -> str:
        return message_id


@dataclass
class Stack:
    clock: SimClock
    session: Any
    queue_url: str
    queue_arn: str
    channels: dict[str, MinuteChannel]
    polls: list[Poll]
    container: Container
    handlers: dict[str, Any] = field(default_factory=dict)

    def run(self, name: str, event: dict[str, Any]) -> Any:
        """Invoke a function, imported once as a warm Lambda container keeps it."""
        if name not in self.handlers:
            self.handlers[name] = _load_handler(name)
        return self.handlers[name](event, LambdaContextStub(name))

    def minute(self) -> None:
        """Dispatch at the minute, then play SQS's event source second by second."""
        start = self.clock.now
        self.run("dispatch_polls", {"scheduled_time": start.isoformat()})
        sqs = self.session.client("sqs")
        for second in range(60):
            self.clock.now = start + timedelta(seconds=second)
            while batch := sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", []):
                response = self.run("poll_account", _sqs_event(batch, self.queue_arn))
                assert response == {"batchItemFailures": []}
                sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(batch)
                    ],
                )
        self.clock.now = start + timedelta(minutes=1)


@pytest.fixture
def stack(
    moto_aws: None, dynamodb_local: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    # DynamoDB's endpoint alone goes to DynamoDB Local; moto answers the other services.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ReplySlaLoad")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    clock = SimClock(START)
    # SQS delays and visibility run on the simulated clock.
    monkeypatch.setattr("moto.sqs.models.unix_time", lambda: clock.now.timestamp())
    monkeypatch.setattr("moto.sqs.models.unix_time_millis", lambda: clock.now.timestamp() * 1000)
    session = local_session()
    resources = provision_local(session, None, name_prefix=f"load-{uuid.uuid4().hex[:8]}")
    queue_arn = session.client("sqs").get_queue_attributes(
        QueueUrl=resources.poll_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    accounts = [
        {
            "id": f"acme-{CHANNELS[i % len(CHANNELS)]}-{i:03d}",
            "brand": "acme",
            "channel": CHANNELS[i % len(CHANNELS)],
            "credentials": {"token": "inline"},
        }
        for i in range(ACCOUNTS)
    ]
    config = tmp_path / "replysla.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "brands": {"acme": {"name": "ACME", "timezone": "UTC"}},
                "accounts": accounts,
                "channel_limits": LIMITS,
            }
        ),
        encoding="utf-8",
    )
    polls: list[Poll] = []
    channels = {
        a["id"]: MinuteChannel(AccountConfig.model_validate(a), clock, polls) for a in accounts
    }
    env = {**resources.as_environment(), "REPLYSLA_CONFIG_FILE": str(config)}
    container = Container(
        Settings.from_env(env),
        clock=clock,
        channel_factory=lambda account, _credentials: channels[account.id],
    )
    use_container(container)
    try:
        yield Stack(clock, session, resources.poll_queue_url, queue_arn, channels, polls, container)
    finally:
        use_container(None)


def test_500_accounts_each_polled_once_a_minute_within_channel_limits(stack: Stack):
    # Given 500 accounts on six channels, all with a new customer message, then a third of them
    for minute in range(MINUTES):
        said = {
            account: channel.say(minute)
            for index, (account, channel) in enumerate(stack.channels.items())
            if minute == 0 or index % 3 == minute % 3
        }
        polled_before = len(stack.polls)
        # When the minute's dispatch runs and the queue delivers its poll requests
        stack.minute()
        polls = stack.polls[polled_before:]
        # Then every account was polled exactly once in the minute
        per_account = Counter(p.account for p in polls)
        assert set(per_account) == set(stack.channels), (
            f"minute {minute}: {len(set(stack.channels) - set(per_account))} accounts not "
            f"polled, e.g. {sorted(set(stack.channels) - set(per_account))[:3]}"
        )
        assert max(per_account.values()) == 1, per_account.most_common(3)
        # And no more polls of a channel started together than its limit
        together = Counter((p.channel, p.at) for p in polls)
        over = {key: n for key, n in together.items() if n > LIMITS[key[0]]}
        assert not over, f"minute {minute}: limits exceeded: {over}"
        # And every poll ran within its minute, so nothing waits for a later one
        assert max(p.at for p in polls) < stack.clock.now
        # And the minute's message of every account is stored
        stored = stack.container.store.messages_stored
        missing = [
            account for account, message_id in said.items() if not stored(account, [message_id])
        ]
        assert not missing, f"minute {minute}: not stored for {missing[:3]}"
    # And over the whole run no account was served later than others: each got MINUTES polls
    totals = Counter(p.account for p in stack.polls)
    assert set(totals.values()) == {MINUTES}

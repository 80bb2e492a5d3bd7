"""A snooze moves the whole ladder by the paused time, the checker fires each level at its moved
instant, and a customer writing again ends the snooze (SLA_SEMANTICS §4), on the DynamoDB store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.config import AccountConfig
from reply_sla.domain.models import EventType
from reply_sla.domain.policy import FixedWindowPolicy, LadderLevel, ReplyToEveryInbound
from reply_sla.local.provision import provision_table
from reply_sla.services.actions import TurnRef, snooze_turn
from reply_sla.services.checking import BrandView, check_sla
from reply_sla.services.polling import poll_account
from tests.conftest import TEMPLATE, local_session
from tests.factories import at, inbound
from tests.fakes import FakeChannel, RecordingNotifier

POLICY = FixedWindowPolicy(
    first_response_seconds=3600,
    ladder=(
        LadderLevel(level="warning", fraction=0.5),
        LadderLevel(level="breach", fraction=1.0),
        LadderLevel(level="manager", fraction=1.0, offset_seconds=3600),
    ),
)
ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "x"}
)


def brands(_brand: str) -> BrandView:
    return BrandView(name="ACME", timezone="UTC")


@pytest.fixture
def store(moto_aws: None) -> Iterator[DynamoThreadStore]:
    session = local_session()
    name = f"snooze-{uuid.uuid4().hex[:8]}"
    provision_table(session, None, TEMPLATE, name)
    yield DynamoThreadStore(session.client("dynamodb", region_name="us-east-1"), name)


def _levels_by_minute(store: DynamoThreadStore, notifier: RecordingNotifier, until: int) -> Any:
    fired = []
    for minute in range(until + 1):
        report = check_sla(store, notifier, POLICY, brands, at(minute))
        fired += [(minute, level) for level in sorted(report.by_level)]
    return fired


def test_a_snooze_moves_every_level_by_the_paused_time(store: DynamoThreadStore):
    # Given a question at minute 0 (warning at 30, breach at 60, manager at 120)
    channel = FakeChannel([inbound(0, thread_id="s")])
    poll_account(ACCOUNT, channel, store, POLICY, ReplyToEveryInbound(), at(1))
    # When a manager snoozes it at minute 10 for 2 hours
    snooze_turn(store, POLICY, TurnRef(ACCOUNT.id, "s", 1), at(130), "called", "ana", at(10))
    # Then each level fires once, 120 minutes later than planned
    notifier = RecordingNotifier()
    assert _levels_by_minute(store, notifier, 260) == [
        (150, "warning"),
        (180, "breach"),
        (240, "manager"),
    ]


def test_a_customer_writing_again_ends_the_snooze(store: DynamoThreadStore):
    channel = FakeChannel([inbound(0, thread_id="w")])
    poll_account(ACCOUNT, channel, store, POLICY, ReplyToEveryInbound(), at(1))
    snooze_turn(store, POLICY, TurnRef(ACCOUNT.id, "w", 1), at(130), "waiting", "ana", at(10))
    # When the customer writes again at minute 20 (polled at 21)
    channel.messages.append(inbound(20, thread_id="w"))
    poll_account(ACCOUNT, channel, store, POLICY, ReplyToEveryInbound(), at(21))
    # Then the snooze ended at their message: 10 minutes paused, the warning moves to 40
    _, _, events = store.week_items("acme", "2026-W47")
    [resumed] = [e for e in events if e.type is EventType.RESUMED]
    assert resumed.at == at(20) and resumed.detail["cause"] == "customer wrote"
    notifier = RecordingNotifier()
    assert _levels_by_minute(store, notifier, 45)[0] == (40, "warning")


def test_escalation_e_mails_carry_the_action_links(store: DynamoThreadStore):
    channel = FakeChannel([inbound(0, thread_id="l")])
    poll_account(ACCOUNT, channel, store, POLICY, ReplyToEveryInbound(), at(1))
    notifier = RecordingNotifier()

    def links(turn: Any, now: Any) -> list[tuple[str, str]]:
        return [("Snooze 1 hour", f"https://act.example/act?t={turn.key}")]

    check_sla(store, notifier, POLICY, brands, at(31), actions=links)
    [(_, body, _)] = notifier.published
    assert "Act on it (each link asks you to confirm):" in body
    assert "Snooze 1 hour: https://act.example/act?t=acme-mastodon:l:1" in body
    assert "replysla threads snooze acme-mastodon:l:1" in body

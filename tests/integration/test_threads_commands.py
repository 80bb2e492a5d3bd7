"""`replysla threads list|dismiss` on moto: see who waits, dismiss a wait with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.cli.main import main
from reply_sla.config import AccountConfig
from reply_sla.domain.models import TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.local.provision import provision_table
from reply_sla.services.polling import poll_account
from tests.conftest import TEMPLATE
from tests.factories import inbound
from tests.fakes import FakeChannel

ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"t": "x"}
)


@pytest.fixture
def store(moto_aws) -> DynamoThreadStore:
    provision_table(boto3.session.Session(), None, TEMPLATE, "threads-cli")
    store = DynamoThreadStore(boto3.client("dynamodb"), "threads-cli")
    now = datetime.now(UTC)
    recent = [
        inbound(0, thread_id="late", text="where is my order?").model_copy(
            update={"created_at": now - timedelta(hours=3)}
        ),
        inbound(0, thread_id="fresh", text="hello").model_copy(
            update={"created_at": now - timedelta(minutes=5)}
        ),
    ]
    poll_account(
        ACCOUNT, FakeChannel(recent), store, FixedWindowPolicy(), ReplyToEveryInbound(), now
    )
    return store


def test_list_shows_who_waits_and_overdue_filters(store, capsys):
    assert main(["threads", "list", "--brand", "acme", "--table", "threads-cli"]) == 0
    out = capsys.readouterr().out
    assert "acme-mastodon:late:1" in out and "acme-mastodon:fresh:1" in out and "overdue 2h" in out
    assert main(["threads", "list", "--brand", "acme", "--overdue", "--table", "threads-cli"]) == 0
    out = capsys.readouterr().out
    assert "acme-mastodon:late:1" in out and "fresh" not in out


def test_dismiss_closes_the_turn_with_an_event_and_stops_alerts(store, capsys):
    # When a person dismisses the overdue turn with a reason
    code = main(
        [
            "threads",
            "dismiss",
            "acme-mastodon:late:1",
            "--reason",
            "spam account",
            "--by",
            "ana",
            "--table",
            "threads-cli",
        ]
    )
    # Then it is dismissed, out of the due and open indexes, and the event keeps reason and person
    assert code == 0
    turn = store.get_turn("acme-mastodon", "late", 1)
    assert turn is not None and turn.status is TurnStatus.DISMISSED
    assert [t.thread_id for t in store.open_turns("acme")] == ["fresh"]
    assert all(
        t.thread_id != "late" for t in store.due_turns(datetime.now(UTC) + timedelta(days=1))
    )
    week = store.week_items("acme", datetime.now(UTC).strftime("%G-W%V"))[2]
    dismissed = [e for e in week if e.type.value == "dismissed"]
    assert dismissed and dismissed[0].detail == {"reason": "spam account", "by": "ana"}
    # And dismissing it again says it is not waiting any more
    assert (
        main(
            [
                "threads",
                "dismiss",
                "acme-mastodon:late:1",
                "--reason",
                "again",
                "--table",
                "threads-cli",
            ]
        )
        == 2
    )
    assert "not waiting any more" in capsys.readouterr().err


def test_dismiss_needs_a_turn_id_and_a_reason(store, capsys):
    assert main(["threads", "dismiss", "nonsense", "--reason", "x", "--table", "threads-cli"]) == 2
    assert "expected an id like" in capsys.readouterr().err
    assert (
        main(
            [
                "threads",
                "dismiss",
                "acme-mastodon:late:1",
                "--reason",
                " ",
                "--table",
                "threads-cli",
            ]
        )
        == 2
    )

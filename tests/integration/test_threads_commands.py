"""`replysla threads list|snooze|resume|dismiss` on moto, and the snooze service on moto and
DynamoDB Local: see who waits, pause a wait (its clock stops), dismiss one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
import yaml

from reply_sla.adapters.dynamodb_store import DynamoThreadStore
from reply_sla.cli.main import main
from reply_sla.config import AccountConfig, parse_config
from reply_sla.domain.engine import PolicyEngine
from reply_sla.domain.models import EventType, TurnStatus
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound
from reply_sla.local.provision import provision_table
from reply_sla.services.actions import (
    ActionRefused,
    TurnRef,
    dismiss_turn,
    resume_ended_snoozes,
    resume_on_customer_message,
    snooze_turn,
)
from reply_sla.services.checking import BrandView, check_sla
from reply_sla.services.polling import poll_account
from tests.conftest import TEMPLATE, local_session
from tests.factories import inbound
from tests.fakes import FakeChannel, RecordingNotifier

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


# -- snooze and resume ---------------------------------------------------------------------------

CONFIG = {
    "brands": {"acme": {"name": "ACME", "timezone": "Europe/Madrid"}},
    "policies": [
        {
            "name": "default",
            "first_response": "1h",
            "next_response": "2h",
            "clock": "calendar",
            "max_snooze": "4h",
        }
    ],
}


@pytest.fixture
def config_file(tmp_path) -> str:
    path = tmp_path / "replysla.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return str(path)


def cli(*args: str, table: str = "threads-cli", config: str | None = None) -> int:
    extra = ["--table", table] + (["--config", config] if config else [])
    return main(["threads", *args, *extra])


def events_of(store: DynamoThreadStore, kind: str) -> list:
    week = store.week_items("acme", datetime.now(UTC).strftime("%G-W%V"))[2]
    return [e for e in week if e.type.value == kind]


def test_snooze_takes_the_turn_off_the_due_index_and_moves_its_deadline(store, config_file, capsys):
    # Given the fresh turn (due in about 55 minutes)
    before = store.get_turn("acme-mastodon", "fresh", 1)
    until = (datetime.now(UTC) + timedelta(hours=2)).astimezone(timezone(timedelta(hours=1)))
    # When a person snoozes it for two hours with a reason
    code = cli(
        "snooze",
        "acme-mastodon:fresh:1",
        "--until",
        until.isoformat(),
        "--reason",
        "waiting for their photos",
        "--by",
        "ana",
        config=config_file,
    )
    # Then it is snoozed: an event with until, reason and who
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "snoozed acme-mastodon:fresh:1 until" in out and "no alerts until then" in out
    [snoozed] = events_of(store, "snoozed")
    assert snoozed.detail["reason"] == "waiting for their photos" and snoozed.detail["by"] == "ana"
    assert snoozed.detail["until"] == until.isoformat()
    # And its deadline moved by the snooze's length, so no level is due before it ends
    after = store.get_turn("acme-mastodon", "fresh", 1)
    assert after.due_at == before.due_at + (until - snoozed.at)
    assert after.next_level_at == after.due_at
    assert all(t.thread_id != "fresh" for t in store.due_turns(until - timedelta(seconds=1)))
    assert any(t.thread_id == "fresh" for t in store.due_turns(after.due_at))
    # And `threads list` says until when, by whom and why
    assert cli("list", "--brand", "acme", config=config_file) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "fresh" in x)
    assert "snoozed until" in line and "by ana (waiting for their photos)" in line


def test_snooze_is_capped_by_the_policy_and_says_so(store, config_file, capsys):
    until = datetime.now(UTC) + timedelta(days=2)
    code = cli(
        "snooze",
        "acme-mastodon:late:1",
        "--until",
        until.isoformat(),
        "--reason",
        "on holiday",
        config=config_file,
    )
    assert code == 0
    assert "capped at 4h, the max_snooze of policy 'default'" in capsys.readouterr().out
    [snoozed] = events_of(store, "snoozed")
    assert snoozed.detail["requested_until"] == until.isoformat()
    assert datetime.fromisoformat(snoozed.detail["until"]) == snoozed.at + timedelta(hours=4)
    # The overdue turn keeps its passed deadline (it had breached) but sends nothing meanwhile
    turn = store.get_turn("acme-mastodon", "late", 1)
    assert turn.due_at < snoozed.at
    assert turn.next_level_at == snoozed.at + timedelta(hours=4)


@pytest.mark.parametrize(
    ("until", "problem"),
    [
        ("2026-11-17T09:00", "has no time zone offset; add one"),
        ("tomorrow", "expected an ISO time like"),
        ("2020-01-01T09:00Z", "is not in the future"),
    ],
)
def test_snooze_refuses_a_time_without_offset_or_in_the_past(
    store, config_file, capsys, until, problem
):
    code = cli(
        "snooze", "acme-mastodon:fresh:1", "--until", until, "--reason", "x", config=config_file
    )
    assert code == 2 and problem in capsys.readouterr().err
    assert events_of(store, "snoozed") == []


def test_snooze_needs_the_configuration_and_an_open_turn(store, config_file, capsys):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert cli("snooze", "acme-mastodon:fresh:1", "--until", later, "--reason", "x") == 2
    assert "give --config FILE" in capsys.readouterr().err
    assert (
        cli("snooze", "acme-mastodon:nope:1", "--until", later, "--reason", "x", config=config_file)
        == 2
    )
    assert "no turn acme-mastodon:nope:1" in capsys.readouterr().err


def test_resume_by_a_person_ends_the_snooze_now(store, config_file, capsys):
    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    assert (
        cli(
            "snooze", "acme-mastodon:fresh:1", "--until", later, "--reason", "x", config=config_file
        )
        == 0
    )
    assert cli("resume", "acme-mastodon:fresh:1", "--by", "bo", config=config_file) == 0
    assert "resumed acme-mastodon:fresh:1" in capsys.readouterr().out
    [resumed] = events_of(store, "resumed")
    assert resumed.detail["cause"] == "resumed by a person" and resumed.detail["by"] == "bo"
    # Resuming a turn that is not snoozed says so
    assert cli("resume", "acme-mastodon:fresh:1", config=config_file) == 2
    assert "is not snoozed" in capsys.readouterr().err


def test_list_without_brand_lists_every_brand_of_the_configuration(store, config_file, capsys):
    assert cli("list", config=config_file) == 0
    out = capsys.readouterr().out
    assert "acme-mastodon:late:1" in out and "acme-mastodon:fresh:1" in out
    assert cli("list") == 2
    assert "give --brand NAME" in capsys.readouterr().err


# The service on both databases, with a fixed clock ---------------------------------------------

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
BOOK = PolicyEngine.from_config(parse_config(CONFIG)).book


@pytest.fixture(params=["moto", "dynamodb_local"])
def paused_store(request, aws_env) -> Iterator[DynamoThreadStore]:
    """A table on moto or DynamoDB Local with two turns: `late` (due 10:00, breached) and
    `fresh` (opened 11:55, due 12:55)."""
    name = f"snooze-{uuid.uuid4().hex[:8]}"
    session = local_session()
    if request.param == "moto":
        from moto import mock_aws

        with mock_aws():
            session = local_session()
            provision_table(session, None, TEMPLATE, name)
            yield _seeded(session.client("dynamodb", region_name="us-east-1"), name)
    else:
        endpoint = request.getfixturevalue("dynamodb_local")
        provision_table(session, endpoint, TEMPLATE, name)
        client = session.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        yield _seeded(client, name)


def _seeded(client, name: str) -> DynamoThreadStore:
    store = DynamoThreadStore(client, name, sleep=lambda _s: None)
    messages = [
        inbound(0, thread_id="late").model_copy(update={"created_at": NOW - timedelta(hours=3)}),
        inbound(0, thread_id="fresh").model_copy(update={"created_at": NOW - timedelta(minutes=5)}),
    ]
    poll_account(ACCOUNT, FakeChannel(messages), store, BOOK, ReplyToEveryInbound(), NOW)
    return store


FRESH = TurnRef("acme-mastodon", "fresh", 1)
VIEW = BrandView("ACME", "Europe/Madrid")


def test_a_snooze_that_runs_out_is_resumed_and_the_ladder_fires_at_the_moved_deadline(
    paused_store,
):
    store = paused_store
    # Given the fresh turn snoozed at 12:00 until 14:00 (due 12:55 → 14:55)
    result = snooze_turn(store, BOOK, FRESH, NOW + timedelta(hours=2), "photos", "ana", NOW)
    assert result.schedule.due_at == NOW + timedelta(hours=2, minutes=55)
    # When the snooze's end is swept (as before each SLA check) at 14:01
    assert resume_ended_snoozes(store, BOOK, NOW + timedelta(hours=2, minutes=1)) == 1
    # Then a `resumed` event records the end and the paused time, and the marker is gone
    _, state = store.get_turn_pauses("acme-mastodon", "fresh", 1)
    assert state.snooze is None and state.pauses == ((NOW, NOW + timedelta(hours=2)),)
    assert state.paused_seconds == 7200
    assert store.ended_snoozes(NOW + timedelta(days=1)) == []
    assert resume_ended_snoozes(store, BOOK, NOW + timedelta(hours=3)) == 0
    # And the checker sends nothing for it before 14:55 (only the late turn's breach goes out)
    key = "acme-mastodon:fresh:1"
    notifier = RecordingNotifier()
    check_sla(store, notifier, BOOK, lambda _b: VIEW, NOW + timedelta(hours=2, minutes=54))
    assert notifier.published and all(key not in body for _, body, _ in notifier.published)
    # And at 14:55 its breach
    notifier.published.clear()
    check_sla(store, notifier, BOOK, lambda _b: VIEW, NOW + timedelta(hours=2, minutes=55))
    assert [(a["level"], key in body) for _, body, a in notifier.published] == [("breach", True)]
    _, _, events = store.week_items("acme", "2026-W47")
    [resumed] = [e for e in events if e.type is EventType.RESUMED]
    assert resumed.at == NOW + timedelta(hours=2)
    assert resumed.detail["cause"] == "snooze ended" and resumed.detail["paused_seconds"] == "7200"


def test_the_customer_writing_again_ends_the_snooze_at_their_message(paused_store):
    store = paused_store
    snooze_turn(store, BOOK, FRESH, NOW + timedelta(hours=4), "photos", "ana", NOW)
    turn = store.get_turn("acme-mastodon", "fresh", 1)
    # When the customer writes at 13:00, during the snooze
    result = resume_on_customer_message(store, BOOK, turn, NOW + timedelta(hours=1), NOW)
    # Then the pause lasted one hour: due 13:55 instead of 12:55, and alerts come at 13:55
    assert result is not None and result.schedule.due_at == NOW + timedelta(hours=1, minutes=55)
    due = {t.thread_id for t in store.due_turns(NOW + timedelta(hours=1, minutes=55))}
    assert due == {"late", "fresh"}
    assert "fresh" not in {
        t.thread_id for t in store.due_turns(NOW + timedelta(hours=1, minutes=54))
    }
    _, _, events = store.week_items("acme", "2026-W47")
    [resumed] = [e for e in events if e.type is EventType.RESUMED]
    assert resumed.detail["cause"] == "customer wrote" and resumed.at == NOW + timedelta(hours=1)
    # And a message older than a snooze does not end it
    snooze_turn(
        store, BOOK, FRESH, NOW + timedelta(hours=3), "again", "ana", NOW + timedelta(hours=2)
    )
    assert resume_on_customer_message(store, BOOK, turn, NOW + timedelta(hours=1), NOW) is None


def test_snoozing_a_snoozed_turn_replaces_the_snooze(paused_store):
    store = paused_store
    snooze_turn(store, BOOK, FRESH, NOW + timedelta(hours=1), "first", "ana", NOW)
    later = NOW + timedelta(minutes=30)
    result = snooze_turn(store, BOOK, FRESH, later + timedelta(hours=2), "second", "bo", later)
    assert result.replaced is not None and result.replaced.reason == "first"
    _, state = store.get_turn_pauses("acme-mastodon", "fresh", 1)
    assert state.pauses == ((NOW, later),) and state.snooze.reason == "second"
    # 30 min paused, then 2 h more from 12:30: due 12:55 + 2h30
    assert result.schedule.due_at == NOW + timedelta(hours=3, minutes=25)
    _, _, events = store.week_items("acme", "2026-W47")
    kinds = [(e.type.value, e.detail.get("cause")) for e in sorted(events, key=lambda e: e.at)]
    assert kinds[-3:] == [("snoozed", None), ("resumed", "snoozed again"), ("snoozed", None)]


def test_a_dismissed_snoozed_turn_is_swept_without_a_resumed_event(paused_store):
    store = paused_store
    snooze_turn(store, BOOK, FRESH, NOW + timedelta(hours=1), "x", "ana", NOW)
    dismiss_turn(store, FRESH, "spam", "ana", NOW + timedelta(minutes=10))
    assert resume_ended_snoozes(store, BOOK, NOW + timedelta(hours=2)) == 0
    assert store.ended_snoozes(NOW + timedelta(hours=2)) == []
    _, _, events = store.week_items("acme", "2026-W47")
    assert not [e for e in events if e.type is EventType.RESUMED]


def test_a_turn_whose_alert_is_going_out_cannot_be_snoozed_meanwhile(paused_store):
    store = paused_store
    late = store.get_turn("acme-mastodon", "late", 1)
    # Given a checker that claimed the late turn's breach and has not confirmed it yet
    assert store.claim_levels(late, ["breach"], NOW, NOW + timedelta(minutes=10))
    # When a person snoozes it, Then the snooze is refused, saying why
    with pytest.raises(ActionRefused, match="kept changing"):
        snooze_turn(
            store,
            BOOK,
            TurnRef("acme-mastodon", "late", 1),
            NOW + timedelta(hours=1),
            "x",
            "a",
            NOW,
        )
    # And once the lease has run out it can be snoozed
    snooze_turn(
        store,
        BOOK,
        TurnRef("acme-mastodon", "late", 1),
        NOW + timedelta(hours=1),
        "x",
        "a",
        NOW + timedelta(minutes=11),
    )


def test_a_messenger_snooze_stops_where_metas_reply_window_closes(paused_store):
    store = paused_store
    # Given a Messenger DM at 11:00 and another from the same customer at 11:30
    page = AccountConfig(
        id="acme-fb", brand="acme", channel="facebook", credentials={"page_access_token": "x"}
    )
    dms = [
        inbound(0, thread_id="dm", private=True, account_id="acme-fb").model_copy(
            update={"channel": "facebook", "created_at": NOW - timedelta(minutes=60 - m)}
        )
        for m in (0, 30)
    ]
    poll_account(page, FakeChannel(dms), store, BOOK, ReplyToEveryInbound(), NOW)
    # When it is snoozed at 12:00 for 2 days (max_snooze is 4 h anyway)
    result = snooze_turn(
        store, BOOK, TurnRef("acme-fb", "dm", 1), NOW + timedelta(days=2), "x", "ana", NOW
    )
    # Then the policy's cap applies first: 4 h
    assert result.snooze.until == NOW + timedelta(hours=4)
    # And a snooze at 10:00 the next day ends where the window closes: 11:30 + 24 h - 1 h
    later = NOW + timedelta(hours=22)
    result = snooze_turn(
        store, BOOK, TurnRef("acme-fb", "dm", 1), later + timedelta(hours=3), "x", "a", later
    )
    assert result.snooze.until == NOW - timedelta(minutes=30) + timedelta(hours=23)
    assert result.capped is not None and "Meta's 24-hour reply window" in result.capped
    assert result.schedule.due_at <= result.snooze.until
    # And once the window has closed, a snooze is refused
    closed = NOW + timedelta(hours=23)
    with pytest.raises(ActionRefused, match="reply window for this private message has closed"):
        snooze_turn(
            store, BOOK, TurnRef("acme-fb", "dm", 1), closed + timedelta(hours=1), "x", "a", closed
        )

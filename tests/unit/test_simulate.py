"""`replysla simulate`: a scripted thread through triage, the clock, policies and the ladder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reply_sla.cli.main import main
from reply_sla.config import parse_config
from reply_sla.services.simulate import read_messages, simulate

CONFIG = {
    "calendars": {
        "office": {
            "timezone": "Europe/Madrid",
            "hours": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
        }
    },
    "brands": {"acme": {"name": "ACME", "calendar": "office", "timezone": "Europe/Madrid"}},
    "accounts": [
        {
            "id": "acme-x",
            "brand": "acme",
            "channel": "mastodon",
            "credentials": {"t": "x"},
            "own_ids": ["acme"],
        }
    ],
    "policies": [
        {
            "name": "default",
            "first_response": "4h",
            "next_response": "2h",
            "ladder": [
                {"level": "warning", "at": "75%"},
                {"level": "breach", "at": "100%"},
                {"level": "manager", "at": "+2h"},
            ],
        }
    ],
    "notifications": {"quiet_hours": {"calendar": "office"}},
}


def line(mid: str, author: str, at: str, text: str = "hello?", **extra) -> str:
    return json.dumps(
        {
            "channel": "mastodon",
            "account": "acme-x",
            "thread_id": "t1",
            "message_id": mid,
            "author_id": author,
            "created_at": at,
            "text": text,
            **extra,
        }
    )


def run(lines: list[str], until: str = "2026-11-20T00:00:00+01:00") -> dict:
    config = parse_config(CONFIG)
    from reply_sla.domain.weeks import parse_iso

    return simulate(config, read_messages(lines, config, "msgs.jsonl"), until=parse_iso(until))


def test_ladder_levels_fire_at_their_instants():
    # Given a question Monday 10:00 (4 business hours: warning 13:00, breach 14:00, manager 16:00)
    result = run([line("1", "ana", "2026-11-16T10:00:00+01:00")])
    [turn] = result["turns"]
    # Then each level fires at its instant, checked every minute
    assert [(e["level"], e["at"]) for e in turn["escalations"]] == [
        ("warning", "2026-11-16T13:00:00+01:00"),
        ("breach", "2026-11-16T14:00:00+01:00"),
        ("manager", "2026-11-16T16:00:00+01:00"),
    ]
    assert turn["breached"] is True and turn["due_at"] == "2026-11-16T14:00:00+01:00"


def test_level_falling_in_quiet_hours_waits_for_the_opening():
    # Given a question at 19:00 under a 1-hour calendar-time policy (due 20:00, office closed)
    config = {
        **CONFIG,
        "policies": [
            {
                **CONFIG["policies"][0],
                "clock": "calendar",
                "first_response": "1h",
                "ladder": [{"level": "breach", "at": "100%"}],
            }
        ],
    }
    parsed = parse_config(config)
    from reply_sla.domain.weeks import parse_iso

    messages = read_messages([line("1", "ana", "2026-11-16T19:00:00+01:00")], parsed, "m")
    # When replayed to Wednesday
    result = simulate(parsed, messages, until=parse_iso("2026-11-18T00:00:00+01:00"))
    [turn] = result["turns"]
    # Then the breach is held and goes out at Tuesday 09:00, the next opening
    assert turn["escalations"] == [{"level": "breach", "at": "2026-11-17T09:00:00+01:00"}]


def test_thanks_opens_nothing_and_a_follow_up_opens_a_next_turn():
    result = run(
        [
            line("1", "ana", "2026-11-16T10:00:00+01:00"),
            line("2", "acme", "2026-11-16T10:30:00+01:00", "here you go"),
            line("3", "ana", "2026-11-16T10:35:00+01:00", "thanks!"),
            line("4", "ana", "2026-11-16T12:00:00+01:00", "one more thing"),
            line("5", "acme", "2026-11-16T13:00:00+01:00", "sure"),
        ]
    )
    first, second = result["turns"]
    assert first["replied_at"] == "2026-11-16T10:30:00+01:00" and first["breached"] is False
    assert first["response_business_seconds"] == 1800
    assert second["turn"] == 2 and second["opened_at"] == "2026-11-16T12:00:00+01:00"
    assert second["replied_at"] == "2026-11-16T13:00:00+01:00"
    assert result["summary"]["turns_opened"] == 2 and result["summary"]["inbound_messages"] == 3


def test_bad_line_is_named(tmp_path: Path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    messages = tmp_path / "m.jsonl"
    messages.write_text(line("1", "ana", "2026-11-16T10:00:00+01:00") + "\n{not json}\n")
    code = main(["simulate", "--config", str(config), "--messages", str(messages)])
    assert code == 2 and "m.jsonl:2: not a JSON object" in capsys.readouterr().err


def test_unknown_account_is_named():
    config = parse_config(CONFIG)
    bad = line("1", "ana", "2026-11-16T10:00:00+01:00").replace("acme-x", "nope")
    with pytest.raises(Exception, match="unknown account 'nope'"):
        read_messages([bad], config, "m.jsonl")


def test_simulate_command_prints_one_json_document(tmp_path: Path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    messages = tmp_path / "m.jsonl"
    messages.write_text(line("1", "ana", "2026-11-16T10:00:00+01:00") + "\n")
    code = main(
        [
            "simulate",
            "--config",
            str(config),
            "--messages",
            str(messages),
            "--until",
            "2026-11-17T00:00:00+01:00",
            "--check-every",
            "300",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and set(document) == {"turns", "notifications", "summary"}
    assert set(document["turns"][0]) >= {
        "thread_id",
        "turn",
        "opened_at",
        "priority",
        "policy",
        "due_at",
        "replied_at",
        "breached",
        "response_business_seconds",
        "response_calendar_seconds",
        "triage_rules",
        "escalations",
    }

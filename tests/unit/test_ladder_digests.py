"""The ladder as check_sla runs it (through `simulate`'s in-memory store): collapsed levels,
quiet-hour holds, digests most urgent first, resolved notices, and SNS-sized digest parts."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

from reply_sla.config import parse_config
from reply_sla.domain.models import Priority
from reply_sla.domain.notices import DigestEntry, digest_messages
from reply_sla.domain.weeks import parse_iso
from reply_sla.services.simulate import read_messages, simulate
from tests.unit.builders import HOUR, MADRID, turn, utc
from tests.unit.test_simulate import CONFIG


def msg(mid: str, thread: str, author: str, at: str, text: str = "hello?") -> str:
    return json.dumps(
        {
            "channel": "mastodon",
            "account": "acme-x",
            "thread_id": thread,
            "message_id": mid,
            "author_id": author,
            "created_at": at,
            "text": text,
        }
    )


def run(lines, until="2026-11-20T00:00:00+01:00", config=CONFIG, **options) -> dict:
    parsed = parse_config(config)
    return simulate(
        parsed, read_messages(lines, parsed, "m.jsonl"), until=parse_iso(until), **options
    )


def test_a_turn_discovered_late_collapses_its_due_levels_into_one_message():
    # Given a policy with no quiet hours and checks only every 5 hours
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    lines = [msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00")]
    # When the first check after the question runs at 15:00, past warning (13:00) and breach (14:00)
    result = run(lines, "2026-11-16T15:00:00+01:00", config, check_every=5 * 3600)
    # Then one message announces the breach and says the warning is folded into it
    [note] = result["notifications"]
    assert note["attributes"]["level"] == "breach" and note["attributes"]["kind"] == "escalation"
    [turn] = result["turns"]
    assert [(e["level"], e.get("collapsed_into")) for e in turn["escalations"]] == [
        ("warning", "breach"),
        ("breach", None),
    ]


def test_collapsed_message_body_names_the_folded_levels():
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    parsed = parse_config(config)
    lines = [msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00")]
    from reply_sla.services import simulate as sim

    outbox_bodies: list[str] = []
    original = sim.Outbox.publish

    def spy(self, subject, body, attributes):
        outbox_bodies.append(body)
        return original(self, subject, body, attributes)

    sim.Outbox.publish = spy  # type: ignore[method-assign]
    try:
        simulate(
            parsed,
            read_messages(lines, parsed, "m.jsonl"),
            until=parse_iso("2026-11-16T15:00:00+01:00"),
            check_every=5 * 3600,
        )
    finally:
        sim.Outbox.publish = original  # type: ignore[method-assign]
    [body] = outbox_bodies
    assert "Level:      breach (also past warning: one message for all)" in body
    assert "Next level: manager at" in body


def test_levels_held_by_quiet_hours_go_out_at_the_opening_as_one_digest():
    # Given a 24/7 policy, alerts only in office hours (closed 18:00 Fri to 09:00 Mon),
    # and three questions on Friday evening whose whole ladder falls in the weekend
    config = copy.deepcopy(CONFIG)
    config["policies"][0]["clock"] = "calendar"
    lines = [
        msg(str(i), f"t{i}", f"user{i}", f"2026-11-20T20:{10 + i:02d}:00+01:00") for i in range(3)
    ]
    result = run(lines, "2026-11-23T12:00:00+01:00", config)
    # Then nothing goes out over the weekend, and on Monday 09:00 one digest lists all three,
    # each at its highest level (the lower ones folded in)
    [digest] = result["notifications"]
    assert digest["at"] == "2026-11-23T09:00:00+01:00"
    assert digest["attributes"]["kind"] == "digest" and len(digest["turns"]) == 3
    assert digest["attributes"]["level"] == "manager"
    for row in result["turns"]:
        assert [e["level"] for e in row["escalations"]] == ["warning", "breach", "manager"]
        assert {e["at"] for e in row["escalations"]} == {"2026-11-23T09:00:00+01:00"}


def test_digests_list_the_most_urgent_first_and_can_be_turned_off():
    # Given two turns that reach the breach level at the same check, one of high priority
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    lines = [
        msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00", "hello?"),
        msg("2", "t2", "bob", "2026-11-16T10:00:00+01:00", "this is urgent, refund now!"),
    ]
    result = run(lines, "2026-11-16T15:00:00+01:00", config, check_every=5 * 3600)
    digests = [n for n in result["notifications"] if n["attributes"]["kind"] == "digest"]
    assert len(digests) >= 1
    # When digests are off, each turn gets its own message
    alone = run(lines, "2026-11-16T15:00:00+01:00", config, check_every=5 * 3600, digests=False)
    assert all(n["attributes"]["kind"] == "escalation" for n in alone["notifications"])
    assert len(alone["notifications"]) > len(result["notifications"])


def test_a_reply_after_an_alert_sends_the_resolved_notice_to_the_levels_alerted():
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    # Given a question that reached the warning level, then a reply before the breach
    lines = [
        msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00"),
        msg("2", "t1", "acme", "2026-11-16T13:30:00+01:00", "Sorted, thanks!"),
    ]
    result = run(lines, "2026-11-16T18:00:00+01:00", config)
    kinds = [(n["attributes"]["kind"], n["attributes"]["level"]) for n in result["notifications"]]
    # Then the warning went out, then the resolved notice to the warning level, nothing after
    assert kinds == [("escalation", "warning"), ("resolved", "warning")]
    assert result["notifications"][1]["subject"].startswith("[replysla] Resolved: ")


def test_warnings_go_to_the_team_and_levels_past_the_deadline_to_managers():
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    # Given one question left unanswered through its whole ladder, and one answered after
    # its warning but before its breach
    lines = [
        msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00"),
        msg("2", "t2", "bob", "2026-11-16T10:30:00+01:00"),
        msg("3", "t2", "acme", "2026-11-16T14:00:00+01:00", "Sorted, thanks!"),
    ]
    result = run(lines, "2026-11-16T18:00:00+01:00", config, digests=False)
    sent = [
        (n["attributes"]["kind"], n["attributes"]["level"], n["attributes"]["audience"])
        for n in result["notifications"]
    ]
    # Then the warnings (before the deadline) and the resolved notice that only withdraws a
    # warning are the team's; the breach and the manager level, once the message exceeded its
    # window, are the managers'
    assert sorted(sent) == [
        ("escalation", "breach", "managers"),
        ("escalation", "manager", "managers"),
        ("escalation", "warning", "team"),
        ("escalation", "warning", "team"),
        ("resolved", "warning", "team"),
    ]


def test_a_resolved_notice_after_a_breach_goes_to_managers():
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    lines = [
        msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00"),
        msg("2", "t1", "acme", "2026-11-16T14:30:00+01:00", "Sorted, thanks!"),
    ]
    result = run(lines, "2026-11-16T18:00:00+01:00", config, digests=False)
    [resolved] = [n for n in result["notifications"] if n["attributes"]["kind"] == "resolved"]
    assert resolved["attributes"]["level"] == ["warning", "breach"]
    assert resolved["attributes"]["audience"] == "managers"


def test_a_reply_before_any_alert_sends_nothing():
    config = copy.deepcopy(CONFIG)
    del config["notifications"]
    lines = [
        msg("1", "t1", "ana", "2026-11-16T10:00:00+01:00"),
        msg("2", "t1", "acme", "2026-11-16T11:00:00+01:00", "Done"),
    ]
    assert run(lines, "2026-11-16T18:00:00+01:00", config)["notifications"] == []


def test_a_big_digest_is_split_into_numbered_parts_under_the_size_limit():
    # Given 40 turns with 500-character messages and a 5,000-byte limit
    entries = [
        DigestEntry(
            turn(utc(16, 9), thread_id=f"t{i}", text="x" * 500, priority=Priority.NORMAL),
            "breach",
            3 * HOUR,
        )
        for i in range(40)
    ]
    parts = digest_messages(
        entries, utc(16, 12), brand_name="ACME", timezone=MADRID, max_body_bytes=5_000
    )
    # Then every part fits, says it is part i of n, and every turn is listed exactly once
    assert len(parts) > 1
    for index, (subject, body, _) in enumerate(parts, start=1):
        assert len(body.encode()) <= 5_000
        assert f"part {index} of {len(parts)}" in body and f"({index}/{len(parts)})" in subject
        assert len(subject) < 100
    keys = [key for _, _, part in parts for key in part]
    assert sorted(keys) == sorted(e.turn.key for e in entries)


def test_digest_order_is_priority_then_longest_overdue():
    base = utc(16, 9)
    entries = [
        DigestEntry(turn(base, thread_id="late-normal"), "breach", 5 * HOUR),
        DigestEntry(
            turn(base + timedelta(hours=2), thread_id="urgent", priority=Priority.URGENT),
            "breach",
            HOUR,
        ),
        DigestEntry(turn(base + timedelta(hours=1), thread_id="normal"), "breach", 4 * HOUR),
    ]
    [(_, body, keys)] = digest_messages(entries, utc(16, 15), brand_name="A", timezone=MADRID)
    assert [k.split(":")[1] for k in keys] == ["urgent", "late-normal", "normal"]
    assert body.index("1. ") < body.index("2. ") < body.index("3. ")

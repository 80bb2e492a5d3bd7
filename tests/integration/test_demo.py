"""`replysla demo --out DIR`: the contract outside checks rely on (exit 0, the file names)."""

from __future__ import annotations

import email
import email.policy
import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    # Given a fresh output folder, When the demo runs as a user would run it
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reply_sla.cli.main",
            "demo",
            "--out",
            str(out),
            "--week",
            "2026-W46",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out, done.stdout


def test_demo_writes_the_summary_files_for_the_week(demo_out):
    out, stdout = demo_out
    folder = out / "summaries" / "acme" / "2026-W46"
    assert sorted(p.name for p in folder.iterdir()) == [
        "breaches.csv",
        "summary.csv",
        "summary.html",
        "summary.json",
    ]
    summary = json.loads((folder / "summary.json").read_text())
    metrics = summary["metrics"]
    # The scripted week has 8 never-answered threads and 10 answered late: they must show.
    assert metrics["turns_opened"] >= 50
    # Every channel with a fake server is played: at least three of them
    assert {"mastodon", "x", "facebook", "discourse", "bluesky"} <= set(summary["by_channel"])
    assert len(metrics["breaches"]) >= 18
    assert metrics["open_overdue"] >= 8
    assert 0 < metrics["response_rate"] < 1 and 0 < metrics["sla_attainment"] < 1
    html = (folder / "summary.html").read_text()
    assert "<script" not in html.lower() and "<svg" in html
    assert "Done in" in stdout and "e-mails a manager receives" in stdout


def test_demo_emails_are_mime_messages_a_manager_can_read(demo_out):
    out, _ = demo_out
    files = sorted((out / "emails").glob("*.eml"))
    escalations = [f for f in files if "escalation-" in f.name or "digest-" in f.name]
    notices = [f for f in files if f.name.endswith("-summary.eml")]
    # The weekly summary's link reaches the managers and the team, once each
    assert len(escalations) >= 18 and len(notices) == 1
    assert len([f for f in files if f.name.endswith("-summary-team.eml")]) == 1
    # The week has turns that breach at the same check (a digest) and late replies to turns
    # managers were alerted about (resolved notices)
    digests = [f for f in files if "digest-" in f.name]
    resolved = [f for f in files if f.name.endswith("-resolved.eml")]
    assert digests and resolved
    digest = email.message_from_bytes(digests[0].read_bytes(), policy=email.policy.default)
    assert digest.get_content().count("Turn id:") >= 2
    assert "customers waiting past" in digest["Subject"]
    done = email.message_from_bytes(resolved[0].read_bytes(), policy=email.policy.default)
    assert done["Subject"].startswith("[replysla] Resolved: ")
    assert "Alerted:" in done.get_content()
    # Managers are e-mailed about messages past their window; the team gets the warnings
    team = [f for f in files if f.name.endswith("-team.eml")]
    assert any("warning" in f.name for f in team)
    assert not any("warning" in f.name for f in files if f not in team)
    assert not any("breach" in f.name or "manager" in f.name for f in team)
    for path in files:
        mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        expected = "care-team@acme.example" if path in team else "care-lead@acme.example"
        assert mail["To"] == expected
        assert 0 < len(mail["Subject"]) < 100
        body = mail.get_content()
        assert "unsubscribe" in body
        # No customer line can pass for a header: customer text is quoted.
        assert "\u202e" not in body
    notice = email.message_from_bytes(notices[0].read_bytes(), policy=email.policy.default)
    assert "X-Amz-Expires=604800" in notice.get_content()


def test_demo_emails_pass_through_an_smtp_server_as_valid_mime(demo_out):
    """Each e-mail of the demo, sent to a local SMTP sink (aiosmtpd), arrives as a well-formed
    plain-text UTF-8 MIME message with the headers a mail client needs."""
    import smtplib
    import socket

    from aiosmtpd.controller import Controller

    out, _ = demo_out
    files = sorted((out / "emails").glob("*.eml"))
    received: list[bytes] = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.original_content or envelope.content)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            for path in files:
                # On disk an .eml ends its lines with LF; on the wire SMTP wants CRLF.
                wire = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                client.sendmail("no-reply@sns.amazonaws.com", ["care@acme.example"], wire)
    finally:
        controller.stop()
    assert len(received) == len(files) > 0
    for raw in received:
        mail = email.message_from_bytes(raw, policy=email.policy.default)
        assert mail["MIME-Version"] == "1.0"
        assert mail.get_content_type() == "text/plain"
        assert mail.get_content_charset() == "utf-8"
        assert mail["From"] == "AWS Notifications <no-reply@sns.amazonaws.com>"
        assert mail["Date"] is not None and mail["Subject"]
        assert not mail.defects, mail.defects
        body = mail.get_content()
        assert body.strip() and "unsubscribe" in body
        # Subjects are plain ASCII under 100 characters (SNS's rule for e-mail subjects)
        assert str(mail["Subject"]).isascii() and len(str(mail["Subject"])) < 100

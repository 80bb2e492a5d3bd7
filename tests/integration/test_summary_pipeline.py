"""A scripted week through the real handlers (moto, the fake Mastodon), then its summary: the
files in S3, the notice, a rebuild from the stored events, the `summaries` commands, the page in
Chromium, and the same week replayed by `replysla simulate --summary`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from reply_sla.cli.main import main
from reply_sla.local.demo import LambdaContextStub, SimClock, _load_handler, _sqs_event
from reply_sla.local.fake_mastodon import FakeMastodon
from reply_sla.local.provision import provision_local
from reply_sla.settings import Settings
from reply_sla.wiring import Container, use_container
from tests.conftest import local_session
from tests.integration.test_summary_html_chromium import (  # noqa: F401 (the fixture)
    browser,
    chart_sizes,
    load,
    scripts_from,
)

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
SUMMARY_AT = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 07:00 in Madrid
WEEK = "2026-W47"
FILES = ["breaches.csv", "summary.csv", "summary.html", "summary.json"]


@dataclass
class Week:
    clock: SimClock
    env: dict[str, str]
    session: Any
    config_path: Path
    brand_id: str
    posts: list[dict[str, Any]]
    notices: list[dict[str, Any]]

    def run(self, name: str, event: dict[str, Any]) -> Any:
        return _load_handler(name)(event, LambdaContextStub(name))

    def tick(self) -> None:
        event = {"scheduled_time": self.clock.now.isoformat()}
        self.run("dispatch_polls", event)
        sqs = self.session.client("sqs")
        got = sqs.receive_message(QueueUrl=self.env["POLL_QUEUE_URL"], MaxNumberOfMessages=10)
        messages = got.get("Messages", [])
        if messages:
            assert self.run("poll_account", _sqs_event(messages, "arn:aws:sqs:poll")) == {
                "batchItemFailures": []
            }
            for m in messages:
                sqs.delete_message(
                    QueueUrl=self.env["POLL_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"]
                )
        self.run("check_sla", event)

    def published(self) -> list[dict[str, Any]]:
        sqs = self.session.client("sqs")
        url = sqs.get_queue_url(QueueName="mailbox")["QueueUrl"]
        out = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    def s3(self) -> Any:
        return self.session.client("s3")

    def object(self, key: str) -> bytes:
        return bytes(self.s3().get_object(Bucket=self.env["BUCKET_NAME"], Key=key)["Body"].read())


SCRIPT = [
    # (customer, minutes after Monday 09:00 UTC, text, minutes until the brand answers or None)
    ("dana", 0, "@acme where is my order?", 10),
    ("eli", 120, "@acme is the shop open on Sunday?", 150),
    ("dana", 300, "@acme I want a refund, this is broken", None),
    ("fox", 1500, "@acme do you ship to Portugal?", 30),
    ("gil", 7320, "@acme hello? nobody answers on Saturdays", None),
    ("eli", 7400, "@acme still waiting for my answer from Monday", 40),
]


@pytest.fixture(autouse=True)
def no_metrics_left_behind() -> Iterator[None]:
    """With POWERTOOLS_METRICS_DISABLED, flushing keeps the metrics, in a set every Metrics
    object shares: clear it, so the handlers run here leave nothing to the next tests."""
    from aws_lambda_powertools import Metrics

    yield
    Metrics().clear_metrics()


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    from moto import mock_aws

    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_METRICS_DISABLED": "true",
        # Set too, so a Metrics object another test created earlier can still flush.
        "POWERTOOLS_METRICS_NAMESPACE": "ReplySla",
    }.items():
        patch.setenv(name, value)
    patch.delenv("AWS_PROFILE", raising=False)
    patch.delenv("AWS_ENDPOINT_URL", raising=False)
    folder = tmp_path_factory.mktemp("summary-week")
    with mock_aws():
        session = local_session()
        resources = provision_local(session, None, name_prefix="summaryweek")
        sqs, sns = session.client("sqs"), session.client("sns")
        mailbox = sqs.create_queue(QueueName="mailbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=mailbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=resources.topic_arn, Protocol="sqs", Endpoint=arn)
        clock = SimClock(MONDAY)
        with FakeMastodon(clock=clock) as fake:
            brand = fake.add_account("acme", "ACME")["id"]
            customers = {
                name: fake.add_account(name, name.title())["id"]
                for name in ["dana", "eli", "fox", "gil"]
            }
            config_path = folder / "replysla.yaml"
            config_path.write_text(
                yaml.safe_dump(
                    {
                        "brands": {"acme": {"name": "ACME", "timezone": "Europe/Madrid"}},
                        "accounts": [
                            {
                                "id": "acme-mastodon",
                                "brand": "acme",
                                "channel": "mastodon",
                                "api_base_url": fake.base_url,
                                "credentials": {"access_token": fake.issue_token(brand)},
                                "own_ids": [brand],
                            }
                        ],
                    }
                )
            )
            env = {**resources.as_environment(), "REPLYSLA_CONFIG_FILE": str(config_path)}
            use_container(Container(Settings.from_env(env), clock=clock))
            posts: list[dict[str, Any]] = []
            # One broadcast by the brand on Wednesday (a top-level post mentioning nobody)
            broadcast_at = MONDAY + timedelta(days=2, hours=3)
            ticks = {broadcast_at + timedelta(minutes=1)}
            for who, minutes, text, answer in SCRIPT:
                asked = MONDAY + timedelta(minutes=minutes)
                status = fake.post(customers[who], text, asked)
                posts.append({**status, "_author": customers[who]})
                ticks |= {asked + timedelta(minutes=m) for m in (1, 61, 181, 1441)}
                if answer is not None:
                    replied = asked + timedelta(minutes=answer)
                    reply = fake.post(
                        brand, f"@{who} thanks, on it", replied, in_reply_to=status["id"]
                    )
                    posts.append({**reply, "_author": brand})
                    ticks.add(replied + timedelta(minutes=1))
            news = fake.post(brand, "Our winter opening hours are online", broadcast_at)
            posts.append({**news, "_author": brand})
            week = Week(clock, env, session, config_path, brand, posts, [])
            try:
                for moment in sorted(t for t in ticks if t < SUMMARY_AT):
                    clock.now = moment
                    week.tick()
                week.published()
                clock.now = SUMMARY_AT
                result = week.run("weekly_summary", {"scheduled_time": SUMMARY_AT.isoformat()})
                assert result == {"summaries": [f"summaries/acme/{WEEK}/"]}
                week.notices = [
                    n
                    for n in week.published()
                    if n["MessageAttributes"]["level"]["Value"] == "summary"
                ]
                yield week
            finally:
                use_container(None)
                from aws_lambda_powertools import Metrics

                Metrics().clear_metrics()
    patch.undo()


def test_the_week_writes_four_files_and_a_latest_copy(week: Week):
    keys = sorted(
        o["Key"] for o in week.s3().list_objects_v2(Bucket=week.env["BUCKET_NAME"])["Contents"]
    )
    assert keys == sorted(
        [f"summaries/acme/{WEEK}/{name}" for name in FILES]
        + [f"summaries/acme/latest/{name}" for name in FILES]
    )
    for name in FILES:
        assert week.object(f"summaries/acme/latest/{name}") == week.object(
            f"summaries/acme/{WEEK}/{name}"
        )


def test_the_summary_counts_the_scripted_week(week: Week):
    summary = json.loads(week.object(f"summaries/acme/{WEEK}/summary.json"))
    m = summary["metrics"]
    assert (m["turns_opened"], m["turns_answered"]) == (6, 4)
    assert m["inbound_messages"] == 6
    # late: eli Monday (2 h 30 m) and the two never answered (dana's refund, gil's Saturday)
    assert len(m["breaches"]) == 3 and m["open_overdue"] == 2
    assert (m["turns_due"], m["turns_on_time"]) == (6, 3)
    # one broadcast, four replies: the conversation ratio
    assert (m["broadcasts"], m["brand_replies"], m["conversation_ratio"]) == (1, 4, 4.0)
    # dana complained (refund) and waited past the deadline: at risk
    assert [p["customer"] for p in m["customers_at_risk"]] == ["@dana"]
    assert m["reputation_score"] is not None and summary["findings"]
    assert m["escalations_sent"].get("breach") == 3


def test_the_notice_has_the_headline_and_a_link_that_says_how_long_it_works(week: Week):
    [notice] = week.notices
    body = notice["Message"]
    assert notice["Subject"].startswith("[replysla] ACME week 2026-W47: 50% on time, 3 breaches")
    assert "Reputation score:" in body and "Answered on time:       50% (3 of 6 due" in body
    assert f"summaries/acme/{WEEK}/summary.html" in body and "X-Amz-Expires=604800" in body
    # moto's credentials carry a session token and no expiry: the notice says so
    assert "temporary AWS credentials" in body
    assert f"replysla summaries download --brand acme --week {WEEK}" in body
    assert "What stood out:" in body


def test_the_week_rebuilt_from_stored_events_gives_identical_files(week: Week, capsys):
    before = {name: week.object(f"summaries/acme/{WEEK}/{name}") for name in FILES}
    # When the week is rebuilt from the table, as of the Monday run
    code = main(
        [
            "summaries",
            "build",
            "--brand",
            "acme",
            "--week",
            WEEK,
            "--as-of",
            SUMMARY_AT.isoformat(),
            "--config",
            str(week.config_path),
            "--table",
            week.env["TABLE_NAME"],
            "--bucket",
            week.env["BUCKET_NAME"],
        ]
    )
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"rebuilt summaries/acme/{WEEK}/" in out and "no notice sent" in out
    # Then every file is byte for byte the Monday one
    after = {name: week.object(f"summaries/acme/{WEEK}/{name}") for name in FILES}
    assert after == before


def test_summaries_list_download_and_open(week: Week, tmp_path: Path, capsys, monkeypatch):
    bucket = ["--bucket", week.env["BUCKET_NAME"]]
    assert main(["summaries", "list", *bucket]) == 0
    listing = capsys.readouterr().out
    assert f"acme  {WEEK}" in listing and "acme  latest" in listing
    out = ["--out", str(tmp_path)]
    assert main(["summaries", "download", *bucket, "--brand", "acme", "--week", WEEK, *out]) == 0
    printed = capsys.readouterr()
    folder = tmp_path / "acme" / WEEK
    assert sorted(p.name for p in folder.iterdir()) == FILES
    for name in FILES:
        assert (folder / name).read_bytes() == week.object(f"summaries/acme/{WEEK}/{name}")
    assert "summary.html" in printed.err  # the progress line, on stderr
    opened: list[str] = []

    class Browser:
        def open(self, url: str) -> bool:
            opened.append(url)
            return True

    monkeypatch.setattr("webbrowser.get", lambda *a: Browser())
    assert main(["summaries", "open", *bucket, "--out", str(tmp_path / "open")]) == 0
    assert opened == [(tmp_path / "open" / "acme" / "latest" / "summary.html").resolve().as_uri()]


def test_the_weeks_page_renders_in_chromium(week: Week, browser, tmp_path: Path):  # noqa: F811
    html = week.object(f"summaries/acme/{WEEK}/summary.html")
    load(browser, html, tmp_path)
    assert scripts_from(browser) == []
    sizes = chart_sizes(browser)
    assert len(sizes) >= 13 and all(w > 0 and h > 0 for w, h in sizes)
    assert "How ACME answered its customers" in browser.evaluate("document.body.innerText")


def _jsonl(week: Week) -> str:
    lines = []
    for post in week.posts:
        root = post.get("in_reply_to_id") or post["id"]
        lines.append(
            json.dumps(
                {
                    "channel": "mastodon",
                    "account": "acme-mastodon",
                    "thread_id": root,
                    "message_id": post["id"],
                    "author_id": post["_author"],
                    "created_at": post["created_at"],
                    "text": post["content"],
                }
            )
        )
    return "\n".join(lines) + "\n"


def test_simulate_summary_of_the_same_messages_gives_the_same_figures(
    week: Week, tmp_path: Path, capsys
):
    # Given the week's messages as a replay file
    messages = tmp_path / "week.jsonl"
    messages.write_text(_jsonl(week))
    # When they are replayed under the same configuration up to the Monday run
    code = main(
        [
            "simulate",
            "--config",
            str(week.config_path),
            "--messages",
            str(messages),
            "--until",
            SUMMARY_AT.isoformat(),
            "--summary",
            "--week",
            WEEK,
            "--summary-out",
            str(tmp_path / "files"),
        ]
    )
    assert code == 0
    replayed = json.loads(capsys.readouterr().out)
    stored = json.loads(week.object(f"summaries/acme/{WEEK}/summary.json"))
    # Then the replay's summary is the Monday summary's, figure for figure
    same = [
        "inbound_messages",
        "turns_opened",
        "turns_answered",
        "response_rate",
        "turns_due",
        "turns_on_time",
        "sla_attainment",
        "first_response_seconds",
        "next_response_seconds",
        "open_overdue",
        "brand_replies",
        "broadcasts",
        "conversation_ratio",
        "reputation_score",
    ]
    for name in same:
        assert replayed["metrics"][name] == stored["metrics"][name], name
    assert [b["turn"] for b in replayed["metrics"]["breaches"]] == [
        b["turn"] for b in stored["metrics"]["breaches"]
    ]
    # (the replay knows customers by id, without links to the conversations)
    assert [p["author_id"] for p in replayed["metrics"]["customers_at_risk"]] == [
        p["author_id"] for p in stored["metrics"]["customers_at_risk"]
    ]
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == FILES


def test_the_demo_week_gives_the_files_the_notice_and_a_page_that_renders(
    browser,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    # The demo signs with its own long-lived keys (no session token in the environment)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    from email import message_from_bytes
    from email.policy import default

    from reply_sla.local.demo import run_demo

    # Given the demo's scripted week (fewer Mastodon conversations, for time)
    result = run_demo(tmp_path / "demo", week="2026-W46", threads=12, say=lambda _line: None)
    # Then its summary files came down through their presigned links, and the notice went out
    folder = tmp_path / "demo" / "summaries" / "acme" / "2026-W46"
    assert {"summary.json", "summary.csv", "summary.html"} <= {p.name for p in folder.iterdir()}
    [notice] = sorted((tmp_path / "demo" / "emails").glob("*-summary.eml"))
    body = message_from_bytes(notice.read_bytes(), policy=default).get_content()
    assert "summary.html" in body and "The link works for 7 days" in body
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["breaches"] and result.headline["breaches"]
    # And the page renders every chart in Chromium and runs nothing
    load(browser, (folder / "summary.html").read_bytes(), tmp_path)
    assert scripts_from(browser) == []
    sizes = chart_sizes(browser)
    assert len(sizes) >= 13 and all(w > 0 and h > 0 for w, h in sizes)

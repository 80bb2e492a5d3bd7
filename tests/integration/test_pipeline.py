"""The four real handlers end to end: moto resources from template.yaml, the real Mastodon
adapter against the fake server, a simulated clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from reply_sla.local.demo import LambdaContextStub, SimClock, _load_handler, _sqs_event
from reply_sla.local.fake_mastodon import FakeMastodon
from reply_sla.local.provision import provision_local
from reply_sla.settings import Settings
from reply_sla.wiring import Container, use_container
from tests.conftest import local_session

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@dataclass
class Stack:
    clock: SimClock
    fake: FakeMastodon
    brand: str
    customer: str
    session: Any
    env: dict[str, str]

    def run(self, name: str, event: dict[str, Any]) -> Any:
        return _load_handler(name)(event, LambdaContextStub(name))

    def tick(self) -> dict[str, Any]:
        """One scheduled minute: dispatch, deliver the queued polls, check."""
        event = {"scheduled_time": self.clock.now.isoformat()}
        self.run("dispatch_polls", event)
        sqs = self.session.client("sqs")
        received = sqs.receive_message(QueueUrl=self.env["POLL_QUEUE_URL"], MaxNumberOfMessages=10)
        messages = received.get("Messages", [])
        if messages:
            response = self.run("poll_account", _sqs_event(messages, "arn:aws:sqs:poll"))
            assert response == {"batchItemFailures": []}
            for m in messages:
                sqs.delete_message(
                    QueueUrl=self.env["POLL_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"]
                )
        result: dict[str, Any] = self.run("check_sla", event)
        return result

    def published(self) -> list[dict[str, Any]]:
        sqs = self.session.client("sqs")
        url = sqs.get_queue_url(QueueName="mailbox")["QueueUrl"]
        out = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for m in batch:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out


@pytest.fixture
def stack(moto_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    session = local_session()
    resources = provision_local(session, None, name_prefix="pipeline")
    sqs, sns = session.client("sqs"), session.client("sns")
    mailbox = sqs.create_queue(QueueName="mailbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=mailbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=resources.topic_arn, Protocol="sqs", Endpoint=arn)
    clock = SimClock(MONDAY)
    with FakeMastodon(clock=clock) as fake:
        brand = fake.add_account("acme", "ACME")["id"]
        customer = fake.add_account("dana", "Dana")["id"]
        config = tmp_path / "replysla.yaml"
        config.write_text(
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
                        }
                    ],
                }
            )
        )
        env = {**resources.as_environment(), "REPLYSLA_CONFIG_FILE": str(config)}
        use_container(Container(Settings.from_env(env), clock=clock))
        try:
            yield Stack(clock, fake, brand, customer, session, env)
        finally:
            use_container(None)


def test_unanswered_mention_becomes_one_readable_escalation(stack: Stack):
    # Given a customer's mention at 09:05 that nobody answers
    stack.fake.post(
        stack.customer, "@acme my order 1234 never arrived", MONDAY + timedelta(minutes=5)
    )
    # When the schedules run every 10 minutes for three hours
    fired = 0
    for _ in range(18):
        stack.clock.now += timedelta(minutes=10)
        fired += stack.tick()["fired"]
    # Then exactly one breach escalation was published, readable and filterable
    notes = stack.published()
    assert fired == 1 and len(notes) == 1
    note = notes[0]
    attributes = {k: v["Value"] for k, v in note["MessageAttributes"].items()}
    assert attributes["brand"] == "acme" and attributes["channel"] == "mastodon"
    assert attributes["level"] == "breach" and attributes["priority"] == "normal"
    assert note["Subject"] == "[replysla] @dana waited 1h 5m on Mastodon (ACME)"
    assert "my order 1234 never arrived" in note["Message"]
    assert "https://social.example/@dana/" in note["Message"]


def test_reply_in_time_sends_nothing_and_repolling_stores_nothing(stack: Stack):
    # Given a mention answered by the brand 20 minutes later
    status = stack.fake.post(
        stack.customer, "@acme is the shop open?", MONDAY + timedelta(minutes=1)
    )
    stack.fake.post(
        stack.brand,
        "@dana yes, until 20:00",
        MONDAY + timedelta(minutes=21),
        in_reply_to=status["id"],
    )
    # When the schedules run past the deadline
    for _ in range(12):
        stack.clock.now += timedelta(minutes=10)
        stack.tick()
    # Then nothing was published
    assert stack.published() == []
    # And when the cursors are lost and the same pages are polled again, nothing new is stored
    table = stack.session.client("dynamodb")
    before = table.scan(TableName=stack.env["TABLE_NAME"], Select="COUNT")["Count"]
    table.delete_item(
        TableName=stack.env["TABLE_NAME"],
        Key={"pk": {"S": "ACCOUNT#acme-mastodon"}, "sk": {"S": "CURSOR"}},
    )
    stack.clock.now += timedelta(minutes=10)
    stack.tick()
    after = table.scan(TableName=stack.env["TABLE_NAME"], Select="COUNT")["Count"]
    assert after == before
    assert stack.published() == []


def test_weekly_summary_writes_four_files_and_a_notice_with_a_link(stack: Stack):
    # Given a week with one fast and one late answer
    for minutes, delay in ((0, 10), (120, 150)):
        asked = MONDAY + timedelta(minutes=minutes)
        status = stack.fake.post(stack.customer, "@acme question", asked)
        stack.fake.post(
            stack.brand, "@dana answer", asked + timedelta(minutes=delay), in_reply_to=status["id"]
        )
    for _ in range(40):
        stack.clock.now += timedelta(minutes=10)
        stack.tick()
    stack.published()
    # When the Monday 07:00 schedule runs
    stack.clock.now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    result = stack.run("weekly_summary", {"scheduled_time": "2026-11-23T06:00:00Z"})
    # Then the four files are in S3 under the week's prefix and in latest/, and the notice
    # links to the HTML
    assert result == {"summaries": ["summaries/acme/2026-W47/"]}
    s3 = stack.session.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=stack.env["BUCKET_NAME"])["Contents"])
    names = ["breaches.csv", "summary.csv", "summary.html", "summary.json"]
    assert keys == [
        f"summaries/acme/{folder}/{name}" for folder in ("2026-W47", "latest") for name in names
    ]
    summary = json.loads(
        s3.get_object(Bucket=stack.env["BUCKET_NAME"], Key="summaries/acme/2026-W47/summary.json")[
            "Body"
        ].read()
    )
    metrics = summary["metrics"]
    assert metrics["turns_opened"] == 2 and metrics["turns_answered"] == 2
    assert metrics["response_rate"] == 1.0 and metrics["sla_attainment"] == 0.5
    assert len(metrics["breaches"]) == 1
    [notice] = stack.published()
    assert notice["MessageAttributes"]["level"]["Value"] == "summary"
    assert "summary.html" in notice["Message"] and "X-Amz-Expires=604800" in notice["Message"]


def test_refused_token_fails_the_poll_and_loses_nothing(stack: Stack):
    # Given a mention, and the server refusing the token once (expired, then renewed)
    stack.fake.post(stack.customer, "@acme hello?", MONDAY + timedelta(minutes=1))
    stack.fake.fail_next(401, body={"error": "The access token is invalid"})
    stack.clock.now += timedelta(minutes=2)
    event = {"scheduled_time": stack.clock.now.isoformat()}
    stack.run("dispatch_polls", event)
    sqs = stack.session.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.env["POLL_QUEUE_URL"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    # When the poll runs
    # Then the invocation fails (every record of the batch failed, so Powertools fails it
    # whole and SQS redelivers it), naming the account's problem, and nothing was stored
    with pytest.raises(BatchProcessingError, match="credentials refused"):
        stack.run("poll_account", _sqs_event(messages, "arn:aws:sqs:poll"))
    table = stack.session.client("dynamodb")
    items = table.scan(TableName=stack.env["TABLE_NAME"])["Items"]
    # only the account's health record (the reason, for the channel_down notice)
    assert [i["sk"]["S"] for i in items] == ["HEALTH"]
    assert items[0]["last_error_kind"]["S"] == "ChannelAuthError"
    # And the next poll stores the mention and opens its turn
    stack.clock.now += timedelta(minutes=1)
    stack.tick()
    open_turns = Container(Settings.from_env(stack.env)).store.open_turns("acme")
    assert [t.text for t in open_turns] == ["@acme hello?"]


def test_dead_token_sends_channel_down_once_and_channel_up_once(stack: Stack):
    # Given the server refuses the token for three polls in a row
    stack.fake.fail_next(401, times=3, body={"error": "The access token is invalid"})
    sqs = stack.session.client("sqs")
    for _ in range(3):
        stack.clock.now += timedelta(minutes=1)
        event = {"scheduled_time": stack.clock.now.isoformat()}
        stack.run("dispatch_polls", event)
        messages = sqs.receive_message(QueueUrl=stack.env["POLL_QUEUE_URL"])["Messages"]
        with pytest.raises(BatchProcessingError):
            stack.run("poll_account", _sqs_event(messages, "arn:aws:sqs:poll"))
        for m in messages:
            sqs.delete_message(
                QueueUrl=stack.env["POLL_QUEUE_URL"], ReceiptHandle=m["ReceiptHandle"]
            )
        stack.run("check_sla", event)
    # Then managers got exactly one channel_down notice, saying what to do
    notes = stack.published()
    assert [n["MessageAttributes"]["level"]["Value"] for n in notes] == ["channel_down"]
    assert "credentials" in notes[0]["Message"] and "poll-once" in notes[0]["Message"]
    # When the token works again
    stack.clock.now += timedelta(minutes=1)
    stack.tick()
    stack.clock.now += timedelta(minutes=1)
    stack.tick()
    # Then exactly one channel_up notice follows
    assert [n["MessageAttributes"]["level"]["Value"] for n in stack.published()] == ["channel_up"]


def test_account_not_polled_for_three_intervals_is_reported_down(stack: Stack):
    # Given an account that was polled once, then its polls stop arriving (e.g. a stuck queue)
    stack.clock.now += timedelta(minutes=1)
    stack.tick()
    # When the checker runs alone for four minutes
    for _ in range(4):
        stack.clock.now += timedelta(minutes=1)
        stack.run("check_sla", {"scheduled_time": stack.clock.now.isoformat()})
    # Then one channel_down says since when
    notes = stack.published()
    assert [n["MessageAttributes"]["level"]["Value"] for n in notes] == ["channel_down"]
    assert "no successful poll for" in notes[0]["Message"]


def test_malformed_item_is_logged_and_the_rest_of_the_page_stored(stack: Stack, capsys):
    # Given two mentions, the first page of mentions has one broken item
    stack.fake.post(stack.customer, "@acme first", MONDAY + timedelta(minutes=1))
    stack.fake.post(stack.customer, "@acme second", MONDAY + timedelta(minutes=2))
    stack.clock.now += timedelta(minutes=3)
    stack.tick()  # resolves the brand's identity and stores both
    stack.fake.post(stack.customer, "@acme third", MONDAY + timedelta(minutes=4))
    stack.fake.post(stack.customer, "@acme fourth", MONDAY + timedelta(minutes=5))
    stack.clock.now += timedelta(minutes=3)
    stack.fake.malformed_next(kind="item")
    # The functions' Powertools logger keeps the stream it was created with: point it here.
    import io
    import logging

    stream = io.StringIO()
    handlers = logging.getLogger("service_undefined").handlers
    previous = [h.setStream(stream) for h in handlers if isinstance(h, logging.StreamHandler)]
    # When polled
    try:
        stack.tick()
    finally:
        for handler, old in zip(handlers, previous, strict=False):
            if isinstance(handler, logging.StreamHandler) and old is not None:
                handler.setStream(old)
    # Then one item is reported as skipped in the logs and the other is stored
    logged = stream.getvalue() + capsys.readouterr().out
    assert '"message":"item skipped"' in logged and "created_at" in logged
    open_texts = {t.text for t in Container(Settings.from_env(stack.env)).store.open_turns("acme")}
    assert len(open_texts & {"@acme third", "@acme fourth"}) == 1

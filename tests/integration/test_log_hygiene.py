"""What the functions log never carries a channel token or a customer's whole message.

The real handlers run on moto against the fake Mastodon server through a poll that works, an
escalation, a malformed item, a refused token and a server that echoes the token in its error;
everything they write (Powertools logs, metrics, prints, Python logging records) is captured
and searched.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
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
SERVICE = "replysla-hygiene"
#: A customer's long message; its distinctive parts must not all reach the logs together.
LONG_MESSAGE = (
    "@acme I ordered a replacement router on the 3rd, order 77-1234, paid with my card ending "
    "4242, and my address is 12 Calle Mayor, Madrid. Nobody answers the phone, the chat closes "
    "on me, and the tracking page has said 'label created' for nine days. I want a refund or "
    "the router today, otherwise I cancel the contract and tell everyone. zebra-marker-end"
)


@dataclass
class Captured:
    clock: SimClock
    fake: FakeMastodon
    customer: str
    token: str
    session: Any
    env: dict[str, str]
    stream: io.StringIO

    def run(self, name: str, event: dict[str, Any]) -> Any:
        handler = _load_handler(name)
        # Powertools loggers keep the stream they were made with: point them here.
        for each in logging.getLogger(SERVICE).handlers:
            if isinstance(each, logging.StreamHandler):
                each.setStream(self.stream)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return handler(event, LambdaContextStub(name))

    def tick(self) -> None:
        event = {"scheduled_time": self.clock.now.isoformat()}
        self.run("dispatch_polls", event)
        sqs = self.session.client("sqs")
        received = sqs.receive_message(QueueUrl=self.env["POLL_QUEUE_URL"], MaxNumberOfMessages=10)
        for message in received.get("Messages", []):
            # A batch whose every record failed raises; its failure is logged, the subject here.
            with contextlib.suppress(BatchProcessingError):
                self.run("poll_account", _sqs_event([message], "arn:aws:sqs:poll"))
            sqs.delete_message(
                QueueUrl=self.env["POLL_QUEUE_URL"], ReceiptHandle=message["ReceiptHandle"]
            )
        self.run("check_sla", event)


@pytest.fixture
def captured(moto_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Captured]:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "ReplySla")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    session = local_session()
    resources = provision_local(session, None, name_prefix="hygiene")
    clock = SimClock(MONDAY)
    with FakeMastodon(clock=clock) as fake:
        brand = fake.add_account("acme", "ACME")["id"]
        customer = fake.add_account("dana", "Dana")["id"]
        token = fake.issue_token(brand)
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
                            "credentials": {"access_token": token},
                        }
                    ],
                }
            )
        )
        env = {**resources.as_environment(), "REPLYSLA_CONFIG_FILE": str(config)}
        use_container(Container(Settings.from_env(env), clock=clock))
        try:
            yield Captured(clock, fake, customer, token, session, env, io.StringIO())
        finally:
            use_container(None)


def test_logs_carry_neither_the_token_nor_a_whole_customer_message(
    captured: Captured, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # As in Lambda: the root logger at WARNING, the functions' own at the most verbose level.
    caplog.set_level(logging.WARNING)
    caplog.set_level(logging.DEBUG, logger=SERVICE)
    stack = captured
    # Given a long complaint that nobody answers, polled and escalated
    stack.fake.post(stack.customer, LONG_MESSAGE, MONDAY + timedelta(minutes=1))
    stack.clock.now = MONDAY + timedelta(minutes=2)
    stack.tick()
    stack.clock.now = MONDAY + timedelta(hours=1, minutes=5)
    stack.tick()
    # And a page with a malformed item, a refused token, and a server echoing the token
    stack.fake.post(stack.customer, "@acme " + LONG_MESSAGE, MONDAY + timedelta(hours=1, minutes=6))
    stack.fake.malformed_next(kind="item")
    stack.clock.now = MONDAY + timedelta(hours=1, minutes=7)
    stack.tick()
    stack.fake.fail_next(401, body={"error": "The access token is invalid"})
    stack.clock.now += timedelta(minutes=1)
    stack.tick()
    stack.fake.fail_next(400, body={"error": f"bad request for token {stack.token}"})
    stack.clock.now += timedelta(minutes=1)
    stack.tick()
    # When everything the functions wrote is gathered
    logged = "\n".join(
        [
            stack.stream.getvalue(),
            capsys.readouterr().out,
            *(
                record.getMessage() + json.dumps(record.__dict__, default=str)
                for record in caplog.records
            ),
        ]
    )
    # Then the functions did log (the run is not vacuous)
    assert '"message":"account polled"' in logged
    assert '"message":"account poll failed"' in logged
    assert "Escalations" in logged  # the metric line
    # And the token appears nowhere
    assert stack.token not in logged
    # And no customer message appears whole (its end never follows its beginning)
    assert "zebra-marker-end" not in logged
    assert LONG_MESSAGE[:120] not in logged

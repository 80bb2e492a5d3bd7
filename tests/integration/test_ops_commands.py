"""`replysla config push` and `replysla status` against a stack moto's CloudFormation deployed
from the translated template."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools.utilities import parameters

from reply_sla.cli.main import main
from reply_sla.cli.ops_commands import status_report
from reply_sla.local.demo import LambdaContextStub, SimClock, _load_handler, _sqs_event
from reply_sla.local.fake_mastodon import FakeMastodon
from reply_sla.settings import Settings
from reply_sla.wiring import Container, use_container
from tests.conftest import local_session
from tests.integration.test_deploy_moto import stack_body

CONFIG = {
    "brands": {"acme": {"name": "ACME", "timezone": "Europe/Madrid"}},
    "accounts": [
        {
            "id": "acme-mastodon",
            "brand": "acme",
            "channel": "mastodon",
            "api_base_url": "https://social.example",
            "secret": "replysla/acme-mastodon",
        }
    ],
}


@pytest.fixture
def stack(moto_aws: None) -> dict[str, str]:
    """A stack named `replysla` with the outputs the commands read."""
    body = stack_body()
    body["Outputs"]["ChannelSecretsPrefix"] = {"Value": {"Ref": "ChannelSecretsPrefix"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        local_session().client("cloudformation").create_stack(
            StackName="replysla", TemplateBody=json.dumps(body)
        )
    described = local_session().client("cloudformation").describe_stacks(StackName="replysla")
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}


def _write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "replysla.yaml"
    path.write_text("# ACME's channels\n" + yaml.safe_dump(document), encoding="utf-8")
    return path


def _parameter(name: str) -> str:
    return str(local_session().client("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def test_push_validates_and_writes_the_file_to_the_stacks_parameter(
    stack: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, CONFIG)
    # When the configuration is pushed to the stack
    code = main(["config", "push", "--config", str(path), "--stack", "replysla"])
    # Then the parameter holds the file as written (comments too) and the output says where
    assert code == 0
    assert _parameter(stack["ConfigParameterName"]) == path.read_text(encoding="utf-8")
    out = capsys.readouterr().out
    assert f"to SSM parameter {stack['ConfigParameterName']}, version" in out
    assert "1 brand(s), 1 account(s)" in out


def test_push_dry_run_writes_nothing(stack: dict[str, str], tmp_path: Path) -> None:
    before = _parameter(stack["ConfigParameterName"])
    path = _write(tmp_path, CONFIG)
    assert main(["config", "push", "--config", str(path), "--stack", "replysla", "--dry-run"]) == 0
    assert _parameter(stack["ConfigParameterName"]) == before


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"channel": "mastodn"}, "accounts[0].channel: unknown channel 'mastodn'"),
        ({"secret": "elsewhere/acme"}, "outside 'replysla/'"),
        ({"secret": None, "credentials": {"access_token": "tok-123"}}, "inline `credentials`"),
    ],
    ids=["invalid", "secret-outside-prefix", "inline-credentials"],
)
def test_push_refuses_what_must_not_reach_the_parameter(
    stack: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
    error: str,
) -> None:
    account = {k: v for k, v in {**CONFIG["accounts"][0], **change}.items() if v is not None}
    before = _parameter(stack["ConfigParameterName"])
    path = _write(tmp_path, {**CONFIG, "accounts": [account]})
    # When the push is refused, Then it exits 2, names the problem and writes nothing
    assert main(["config", "push", "--config", str(path), "--stack", "replysla"]) == 2
    err = capsys.readouterr().err
    assert error in err and "tok-123" not in err
    assert _parameter(stack["ConfigParameterName"]) == before


def test_push_to_a_stack_that_does_not_exist_says_so(
    moto_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, CONFIG)
    assert main(["config", "push", "--config", str(path), "--stack", "nope"]) == 2
    assert "no stack named nope in us-east-1" in capsys.readouterr().err


@pytest.fixture
def polled(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[dict[str, str], datetime]]:
    """The stack after one poll that stored a customer's mention and one weekly summary."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    # Powertools keeps parameters for 5 minutes per process; each test pushes its own.
    parameters.clear_caches()
    started = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    clock = SimClock(started)
    session = local_session()
    with FakeMastodon(clock=clock) as fake:
        brand = fake.add_account("acme", "ACME")["id"]
        customer = fake.add_account("dana", "Dana")["id"]
        account = {**CONFIG["accounts"][0], "api_base_url": fake.base_url}
        session.client("secretsmanager").create_secret(
            Name="replysla/acme-mastodon",
            SecretString=json.dumps({"access_token": fake.issue_token(brand)}),
        )
        path = _write(tmp_path, {**CONFIG, "accounts": [account]})
        assert main(["config", "push", "--config", str(path), "--stack", "replysla"]) == 0
        env = {
            "TABLE_NAME": stack["TableName"],
            "TOPIC_ARN": stack["TopicArn"],
            "POLL_QUEUE_URL": stack["PollQueueUrl"],
            "BUCKET_NAME": stack["BucketName"],
            "CONFIG_PARAMETER": stack["ConfigParameterName"],
        }
        use_container(Container(Settings.from_env(env), clock=clock))
        try:
            fake.post(customer, "@acme where is my order?", started)
            clock.now = started + timedelta(minutes=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                _load_handler("dispatch_polls")(
                    {"scheduled_time": clock.now.isoformat()}, LambdaContextStub("d")
                )
                received = session.client("sqs").receive_message(QueueUrl=stack["PollQueueUrl"])
                _load_handler("poll_account")(
                    _sqs_event(received["Messages"], "arn:aws:sqs:poll"), LambdaContextStub("p")
                )
                clock.now = started + timedelta(days=7, hours=-1)
                _load_handler("weekly_summary")(
                    {"scheduled_time": clock.now.isoformat()}, LambdaContextStub("w")
                )
            yield stack, started
        finally:
            use_container(None)


def test_status_shows_last_poll_open_and_overdue_turns_and_the_last_summary(
    polled: tuple[dict[str, str], datetime],
) -> None:
    _, started = polled
    # When the status is taken two hours after the mention
    status = status_report("replysla", started + timedelta(hours=2))
    # Then the account was polled at minute 1, and its one open turn is past its hour
    (account,) = status.accounts
    assert account.account_id == "acme-mastodon" and account.channel == "mastodon"
    assert account.last_poll_at == started + timedelta(minutes=1)
    assert (account.open_turns, account.overdue_turns) == (1, 1)
    assert account.state == "not polled"  # nothing polled it for 119 minutes
    # And the brand's last summary is that week's
    (brand,) = status.brands
    assert brand.last_summary_week == "2026-W47"
    assert brand.last_summary_prefix == f"s3://{polled[0]['BucketName']}/summaries/acme/2026-W47/"


def test_status_command_prints_a_row_per_account_and_json_on_request(
    polled: tuple[dict[str, str], datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--stack", "replysla"]) == 0
    out = capsys.readouterr().out
    assert "acme-mastodon" in out and "mastodon" in out and "last summary 2026-W47" in out
    assert main(["status", "--stack", "replysla", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accounts"][0]["open_turns"] == 1
    assert report["brands"][0]["last_summary_week"] == "2026-W47"

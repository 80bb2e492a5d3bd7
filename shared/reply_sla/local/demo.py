"""`replysla demo`: the whole pipeline on one machine, no AWS account, a week in seconds.

moto runs on 127.0.0.1 and holds the table, topic, queues and bucket, created from template.yaml
itself; a fake Mastodon server plays a scripted week; the real Lambda handlers run on a simulated
clock; what managers would receive is written as e-mail files, and the weekly summary is
downloaded through its presigned link.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import yaml

from reply_sla.domain.weeks import previous_week, week_bounds
from reply_sla.local.fake_mastodon import FakeMastodon
from reply_sla.local.mail import sns_email
from reply_sla.local.provision import DEFAULT_TEMPLATE_PATH, LocalResources, provision_local
from reply_sla.local.scenario import Scenario, script_week

BRAND = "acme"
# The other channels' fake servers (module:Class) and the options of their scripted week.
OTHER_CHANNELS: list[tuple[str, str, dict[str, Any]]] = [
    ("x", "reply_sla.local.fake_x:FakeX", {}),
    ("facebook", "reply_sla.local.fake_meta:FakeGraph", {"channel": "facebook"}),
    ("discourse", "reply_sla.local.fake_discourse:FakeDiscourse", {}),
    ("bluesky", "reply_sla.local.fake_bluesky:FakeBluesky", {}),
]
OTHER_THREADS = 6
TIMEZONE = "Europe/Madrid"
MANAGER = "care-lead@acme.example"
TEAM = "care-team@acme.example"


class SimClock:
    """The simulated time every component reads."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class LambdaContextStub:
    """What Powertools reads from a Lambda context."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set these environment variables for the block, then put back what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _load_handler(name: str, log: Any = None) -> Callable[[dict[str, Any], Any], Any]:
    """Import functions/<name>/handler.py as the Lambda runtime would; what it prints (logs and
    EMF metrics, which CloudWatch would keep) goes to `log`."""
    import importlib.util

    root = DEFAULT_TEMPLATE_PATH.parent
    path = root / "functions" / name / "handler.py"
    spec = importlib.util.spec_from_file_location(f"replysla_fn_{name}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.handler
    if log is None:
        return handler

    def invoke(event: dict[str, Any], context: Any) -> Any:
        with contextlib.redirect_stdout(log), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no metrics to publish" on idle runs
            return handler(event, context)

    return invoke


@dataclass
class DemoResult:
    out: Path
    week: str
    emails: int
    escalations: int
    summary_files: list[Path]
    polls: int
    seconds: float
    headline: dict[str, Any]


def _sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source sends."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def run_demo(
    out: Path,
    *,
    week: str | None = None,
    tick_minutes: int = 180,
    threads: int = 50,
    seed: int = 7,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Play one scripted week through the real handlers and write what managers receive."""
    from reply_sla.settings import Settings
    from reply_sla.wiring import Container, use_container

    started = time.monotonic()
    week = week or previous_week(datetime.now(UTC), TIMEZONE)
    week_start, week_end = week_bounds(week, TIMEZONE)
    clock = SimClock(week_start)
    out.mkdir(parents=True, exist_ok=True)
    (out / "emails").mkdir(exist_ok=True)
    for old in (out / "emails").glob("*.eml"):
        old.unlink()

    server, endpoint = _start_moto()
    fake = FakeMastodon(clock=clock)
    fakes: list[Any] = [fake]
    workdir = Path(tempfile.mkdtemp(prefix="replysla-demo-"))
    try:
        base_url = fake.start()
        scenario = script_week(fake, week_start, timezone=TIMEZONE, threads=threads, seed=seed)
        accounts = [_mastodon_account(base_url, scenario)]
        for index, (channel, target, options) in enumerate(OTHER_CHANNELS):
            other = _start_fake(target, clock)
            if other is None:
                continue
            fakes.append(other)
            fields = other.script_module.script_conversations(
                other, week_start, threads=OTHER_THREADS, seed=seed + index + 1, **options
            )
            accounts.append(
                {
                    "id": f"acme-{channel}",
                    "brand": BRAND,
                    "channel": channel,
                    "api_base_url": other.base_url,
                    "poll_every": "1m",
                    **fields,
                }
            )
        env = {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
            "POWERTOOLS_SERVICE_NAME": "replysla",
            "POWERTOOLS_METRICS_NAMESPACE": "ReplySla",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "DUE_SHARDS": "1",
        }
        with environment(env):
            session = boto3.session.Session()
            resources = provision_local(
                session,
                endpoint,
                parameters={"ManagerEmails": MANAGER, "TeamEmails": TEAM},
                name_prefix="replysla-demo",
            )
            config_path = workdir / "replysla.yaml"
            config_path.write_text(yaml.safe_dump(_demo_config(accounts)), encoding="utf-8")
            mailbox = _mailbox(session, endpoint, resources)
            settings = Settings.from_env(
                {**resources.as_environment(), **env, "REPLYSLA_CONFIG_FILE": str(config_path)}
            )
            use_container(Container(settings, clock=clock))
            try:
                channels = ", ".join(a["channel"] for a in accounts)
                say(
                    f"Playing week {week} ({TIMEZONE}) for brand ACME on {len(accounts)} local "
                    f"channel servers ({channels}): {len(scenario.threads)} scripted conversations "
                    f"on Mastodon, {OTHER_THREADS} on each other channel"
                )
                result = _play(
                    session,
                    endpoint,
                    resources,
                    clock,
                    fakes,
                    week_end,
                    tick_minutes,
                    mailbox,
                    out,
                    say,
                )
                summary_files, headline = _summarize(
                    session, endpoint, resources, clock, week_end, week, mailbox, out
                )
            finally:
                use_container(None)
    finally:
        for running in fakes:
            running.stop()
        server.terminate()
        server.wait(timeout=10)
    seconds = time.monotonic() - started
    emails = len(list((out / "emails").glob("*.eml")))
    to_team = len(list((out / "emails").glob("*-team.eml")))
    say(
        f"Ran the schedules at {result['runs']} simulated minutes (idle minutes skipped): "
        f"polled {result['polls']} times, {result['stored']} customer messages, "
        f"{result['turns']} waits (turns); {result['escalations']} escalations published."
    )
    say(
        f"Week {week}: response rate {_pct(headline.get('response_rate'))}, "
        f"on time {_pct(headline.get('sla_attainment'))}, {headline.get('breaches')} breaches, "
        f"{headline.get('open_overdue')} still overdue."
    )
    say(
        f"{emails - to_team} e-mails a manager receives (past the window), {to_team} the team "
        f"receives (warnings, *-team.eml): {out / 'emails'}"
    )
    say(f"Weekly summary (JSON, CSV, breaches CSV, HTML): {summary_files[0].parent}")
    say(f"Done in {seconds:.1f} s.")
    return DemoResult(
        out=out,
        week=week,
        emails=emails,
        escalations=int(result["escalations"]),
        summary_files=summary_files,
        polls=int(result["polls"]),
        seconds=seconds,
        headline=headline,
    )


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.0f}%"


_MOTO_MAIN = (
    "import logging, sys\n"
    "from reply_sla.local import moto_speedups\n"
    "moto_speedups.install()\n"
    "logging.getLogger('werkzeug').setLevel(logging.ERROR)\n"
    "from moto.server import main\n"
    "main(['-H', '127.0.0.1', '-p', sys.argv[1]])\n"
)


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server on 127.0.0.1, in its own process so it works on the other core."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(
        [sys.executable, "-c", _MOTO_MAIN, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto's server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
                return process, endpoint
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto's server did not start within 30 s")


def _mastodon_account(base_url: str, scenario: Scenario) -> dict[str, Any]:
    return {
        "id": "acme-mastodon",
        "brand": BRAND,
        "channel": "mastodon",
        "api_base_url": base_url,
        # The fake servers' throwaway tokens; deployed accounts use `secret:`.
        "credentials": {"access_token": scenario.brand_token},
        "poll_every": "1m",
    }


def _start_fake(target: str, clock: SimClock) -> Any | None:
    """Start one channel's fake server (module:Class); None if that channel has no fake yet."""
    import importlib

    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    fake = getattr(module, class_name)(clock=clock)
    fake.script_module = module
    fake.start()
    return fake


def _demo_config(accounts: list[dict[str, Any]]) -> dict[str, Any]:
    # The default targets (1 h, then 2 h, 24/7) with a warning for the team at 75 %.
    policy = {
        "name": "default",
        "first_response": "1h",
        "next_response": "2h",
        "clock": "calendar",
        "ladder": [{"level": "warning", "at": "75%"}, {"level": "breach", "at": "100%"}],
    }
    return {
        "brands": {BRAND: {"name": "ACME", "timezone": TIMEZONE}},
        "accounts": accounts,
        "policies": [policy],
    }


@dataclass
class _Mailbox:
    """One SQS queue per e-mail subscriber of the topic, subscribed with that subscriber's
    filter policy: each queue receives exactly what SNS e-mails that address."""

    client: Any
    recipients: list[tuple[str, str, str]]  # (address, its subscription ARN, its queue URL)
    count: int = 0


def _mailbox(session: boto3.session.Session, endpoint: str, resources: LocalResources) -> _Mailbox:
    sqs = session.client("sqs", endpoint_url=endpoint)
    sns = session.client("sns", endpoint_url=endpoint)
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=resources.topic_arn)["Subscriptions"]
    emails = [
        (s["Endpoint"], s["SubscriptionArn"]) for s in subscriptions if s["Protocol"] == "email"
    ]
    recipients = []
    for index, (address, subscription) in enumerate(emails or [(MANAGER, "")]):
        attributes: dict[str, str] = {}
        if subscription:
            own = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
            attributes = {k: str(own[k]) for k in ("FilterPolicy", "FilterPolicyScope") if k in own}
        url = sqs.create_queue(QueueName=f"replysla-demo-mailbox-{index}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(
            TopicArn=resources.topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes
        )
        recipients.append((address, subscription, url))
    return _Mailbox(sqs, recipients)


def _deliver(mailbox: _Mailbox, out: Path, sent_at: datetime, region: str = "us-east-1") -> int:
    """Write every notification waiting in each recipient's queue as the e-mail it gets."""
    delivered = 0
    for address, subscription, url in mailbox.recipients:
        suffix = "-team" if address == TEAM else ""
        while True:
            batch = mailbox.client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                break
            for message in messages:
                notification = json.loads(message["Body"])
                mailbox.count += 1
                name = f"{mailbox.count:04d}-{_mail_name(notification)}{suffix}.eml"
                path = out / "emails" / name
                path.write_bytes(sns_email(notification, address, subscription, region, sent_at))
                delivered += 1
                mailbox.client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return delivered


def _play(
    session: boto3.session.Session,
    endpoint: str,
    resources: LocalResources,
    clock: SimClock,
    fakes: list[Any],
    until: datetime,
    tick_minutes: int,
    mailbox: _Mailbox,
    out: Path,
    say: Callable[[str], None],
) -> dict[str, int]:
    log = (out / "lambda-output.log").open("w", encoding="utf-8")
    dispatch = _load_handler("dispatch_polls", log)
    poll = _load_handler("poll_account", log)
    check = _load_handler("check_sla", log)
    sqs = session.client("sqs", endpoint_url=endpoint)
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=resources.poll_queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    totals = {"runs": 0, "polls": 0, "stored": 0, "turns": 0, "escalations": 0}
    from reply_sla.wiring import container

    store = container().store
    day = clock.now.date()
    while clock.now < until:
        event = {"scheduled_time": clock.now.isoformat()}
        dispatch(event, LambdaContextStub("dispatch_polls"))
        received = sqs.receive_message(QueueUrl=resources.poll_queue_url, MaxNumberOfMessages=10)
        totals["runs"] += 1
        messages = received.get("Messages", [])
        if messages:
            response = poll(_sqs_event(messages, queue_arn), LambdaContextStub("poll_account"))
            failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:  # as Lambda's SQS event source does: one batch delete of the successes
                sqs.delete_message_batch(
                    QueueUrl=resources.poll_queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
            totals["polls"] += len(messages) - len(failed)
        report = check(event, LambdaContextStub("check_sla"))
        totals["escalations"] += int(report.get("fired", 0))
        _deliver(mailbox, out, clock.now)
        clock.now = _next_run(clock.now, tick_minutes, fakes, store)
        local_day = clock.now.astimezone(ZoneInfo(TIMEZONE)).date()
        if local_day != day and clock.now < until:
            day = local_day
            open_now = len(store.open_turns(BRAND))
            say(
                f"  {local_day:%a %d %b}: {totals['escalations']} escalations so far, "
                f"{open_now} open turns"
            )
    log.close()
    week_label = previous_week(until, TIMEZONE)
    inbound, turns, _ = store.week_items(BRAND, week_label)
    totals["stored"] = len(inbound)
    totals["turns"] = len(turns)
    return totals


def _next_run(now: datetime, max_gap_minutes: int, fakes: list[Any], store: Any) -> datetime:
    """The next minute at which a run every minute would do anything.

    The schedules fire every minute; minutes in which no customer or brand posts and no ladder
    level falls due change nothing, so the simulation skips them. A run still happens at least
    every `max_gap_minutes`, as polls and checks would.
    """
    candidates = [now + timedelta(minutes=max_gap_minutes)]
    events = [f.next_post_after(now) for f in fakes if hasattr(f, "next_post_after")]
    for event in (*events, store.next_due_at()):
        if event is not None and event > now:
            candidates.append(event)
    nxt = min(candidates)
    # Round up to the minute boundary the schedule fires on, and always move forward.
    rounded = nxt.replace(second=0, microsecond=0)
    if rounded < nxt:
        rounded += timedelta(minutes=1)
    return max(rounded, now + timedelta(minutes=1))


def _summarize(
    session: boto3.session.Session,
    endpoint: str,
    resources: LocalResources,
    clock: SimClock,
    week_end: datetime,
    week: str,
    mailbox: _Mailbox,
    out: Path,
) -> tuple[list[Path], dict[str, Any]]:
    """Run the Monday 07:00 schedule, then download the files through presigned links."""
    clock.now = week_end + timedelta(hours=7)
    with (out / "lambda-output.log").open("a", encoding="utf-8") as log:
        summary = _load_handler("weekly_summary", log)
        summary({"scheduled_time": clock.now.isoformat()}, LambdaContextStub("weekly_summary"))
    _deliver(mailbox, out, clock.now)
    from reply_sla.adapters.aws import client

    s3 = client("s3", endpoint, session)
    target = out / "summaries" / BRAND / week
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("summary.json", "summary.csv", "breaches.csv", "summary.html"):
        link = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": resources.bucket_name, "Key": f"summaries/{BRAND}/{week}/{name}"},
            ExpiresIn=7 * 86400,
        )
        with urllib.request.urlopen(link, timeout=10) as response:
            (target / name).write_bytes(response.read())
        files.append(target / name)
    metrics = json.loads((target / "summary.json").read_text(encoding="utf-8"))["metrics"]
    headline = {
        "response_rate": metrics["response_rate"],
        "sla_attainment": metrics["sla_attainment"],
        "breaches": len(metrics["breaches"]),
        "open_overdue": metrics["open_overdue"],
        "turns_opened": metrics["turns_opened"],
    }
    return files, headline


def main(out: str, week: str | None, tick_minutes: int) -> int:
    try:
        run_demo(Path(out), week=week, tick_minutes=tick_minutes)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _mail_name(notification: dict[str, Any]) -> str:
    """escalation-breach, digest-warning, resolved, summary: what the file holds, by its name."""
    attributes = notification.get("MessageAttributes", {})
    level = str(attributes.get("level", {}).get("Value", "notice"))
    kind = str(attributes.get("kind", {}).get("Value", ""))
    if level.startswith("["):
        level = "-".join(json.loads(level))
    if kind == "resolved":
        return "resolved"
    if kind in {"escalation", "digest"}:
        return f"{kind}-{level}"
    return level

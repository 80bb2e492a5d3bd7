"""The operator-side models: which accounts are not being polled, what `replysla status` shows,
what `config push` refuses, and how the cost estimate turns counts into dollars."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from reply_sla.cli.ops_commands import check_pushable
from reply_sla.config import parse_config
from reply_sla.domain.models import Turn, TurnKind
from reply_sla.errors import ConfigError
from reply_sla.services.cost import (
    PRICES,
    DayCounts,
    FunctionDay,
    StackFacts,
    UsageLine,
    Workload,
    estimate,
    monthly_usage,
    price,
)
from reply_sla.services.poll_freshness import (
    NOT_POLLED_SECONDS,
    counting_minute,
    unpolled_accounts,
)
from reply_sla.services.stack_status import account_statuses
from tests.factories import T0, at


def _config(*accounts: dict[str, Any]) -> Any:
    return parse_config(
        {
            "brands": {"acme": {"name": "ACME"}},
            "accounts": [
                {"brand": "acme", "channel": "x", "secret": "replysla/a", **a} for a in accounts
            ],
        }
    )


def _iso(minutes: float) -> str:
    return at(minutes).isoformat()


# ----------------------------------------------------------------------------- poll freshness


def test_an_account_not_polled_for_15_minutes_is_reported_with_its_channel() -> None:
    # Given two accounts polled every minute, one last polled 16 minutes ago, one just now
    config = _config({"id": "stale"}, {"id": "fresh", "channel": "mastodon"})
    health = {"stale": {"last_poll_at": _iso(0)}, "fresh": {"last_poll_at": _iso(15.5)}}
    # When checked at minute 16
    found = unpolled_accounts(config, health, at(16))
    # Then only the stale one is reported, with its channel and how long
    assert [(u.account_id, u.channel, u.seconds) for u in found] == [("stale", "x", 960.0)]


def test_not_polled_accounts_are_counted_every_fifth_minute() -> None:
    assert [m for m in range(12) if counting_minute(at(m))] == [0, 5, 10]


def test_exactly_15_minutes_is_not_yet_not_polled() -> None:
    config = _config({"id": "a"})
    health = {"a": {"last_poll_at": _iso(0)}}
    assert unpolled_accounts(config, health, T0 + timedelta(seconds=NOT_POLLED_SECONDS)) == []


def test_a_slow_account_gets_its_own_interval_plus_grace() -> None:
    # Given an account polled every 30 minutes, last polled 32 minutes ago
    config = _config({"id": "slow", "poll_every": "30m"})
    health = {"slow": {"last_poll_at": _iso(0)}}
    # Then it is not overdue at 32 minutes, and is at 36
    assert unpolled_accounts(config, health, at(32)) == []
    assert [u.account_id for u in unpolled_accounts(config, health, at(36))] == ["slow"]


def test_a_never_polled_account_counts_from_when_it_was_first_seen() -> None:
    config = _config({"id": "new"}, {"id": "unknown"})
    health = {"new": {"first_seen": _iso(0)}}
    found = unpolled_accounts(config, health, at(20))
    # The account seen 20 minutes ago is overdue and flagged as never polled; the one never
    # seen at all is not counted yet
    assert [(u.account_id, u.never_polled) for u in found] == [("new", True)]


# ----------------------------------------------------------------------------- status


def _turn(account: str, due_minutes: float, seq: int = 1) -> Turn:
    return Turn(
        brand="acme",
        account_id=account,
        channel="x",
        thread_id=f"t{seq}",
        seq=seq,
        kind=TurnKind.FIRST,
        opened_at=T0,
        opened_by=f"m{seq}",
        author_id="cust",
        policy="default",
        target_seconds=3600,
        due_at=at(due_minutes),
    )


def test_status_counts_open_and_overdue_turns_per_account_and_names_the_state() -> None:
    # Given three accounts: healthy, stale, and one the health check reported down
    config = _config({"id": "a"}, {"id": "b"}, {"id": "c"})
    health = {
        "a": {"last_poll_at": _iso(59)},
        "b": {
            "last_poll_at": _iso(10),
            "last_error_at": _iso(50),
            "last_error_kind": "Timeout",
            "last_error": "read timed out",
        },
        "c": {"last_poll_at": _iso(59), "state": "down"},
    }
    turns = {"acme": [_turn("a", 30, 1), _turn("a", 90, 2), _turn("b", 120, 3)]}
    # When the status is taken at minute 60
    rows = {r.account_id: r for r in account_statuses(config, health, turns, at(60))}
    # Then each row says what an operator needs
    assert (rows["a"].open_turns, rows["a"].overdue_turns, rows["a"].state) == (2, 1, "ok")
    assert (rows["b"].open_turns, rows["b"].overdue_turns, rows["b"].state) == (1, 0, "not polled")
    assert rows["b"].last_error == "Timeout: read timed out"
    assert rows["c"].state == "down" and rows["c"].last_error == ""


def test_status_of_an_account_never_polled() -> None:
    rows = account_statuses(_config({"id": "a"}), {}, {}, at(0))
    assert (rows[0].state, rows[0].last_poll_at, rows[0].open_turns) == ("never polled", None, 0)


# ----------------------------------------------------------------------------- config push


def test_push_refuses_inline_credentials_and_names_the_account() -> None:
    config = parse_config(
        {
            "brands": {"acme": {"name": "ACME"}},
            "accounts": [
                {"id": "ok", "brand": "acme", "channel": "x", "secret": "replysla/ok"},
                {"id": "leak", "brand": "acme", "channel": "x", "credentials": {"t": "s3cr3t"}},
            ],
        }
    )
    with pytest.raises(ConfigError, match=r"accounts\[1\] \(leak\): inline `credentials`") as err:
        check_pushable(config, "replysla.yaml", "replysla/")
    assert "s3cr3t" not in str(err.value)


def test_push_refuses_a_secret_the_functions_may_not_read() -> None:
    config = _config({"id": "a", "secret": "other/a"})
    with pytest.raises(ConfigError, match=r"secret 'other/a' is outside 'replysla/'"):
        check_pushable(config, "replysla.yaml", "replysla/")
    check_pushable(_config({"id": "a", "secret": "replysla/a"}), "replysla.yaml", "replysla/")


# ----------------------------------------------------------------------------- cost


def test_price_applies_the_unit_the_free_tier_and_never_goes_negative() -> None:
    lines = price(
        [
            UsageLine("lambda_requests", 3_000_000, "counted"),
            UsageLine("sqs_requests", 200_000, "counted"),
            UsageLine("secrets", 11, "declared"),
        ]
    )
    by_key = {line.key: line for line in lines}
    assert by_key["lambda_requests"].list_usd == pytest.approx(0.60)
    assert by_key["lambda_requests"].free_tier_usd == pytest.approx(0.40)
    assert by_key["sqs_requests"].free_tier_usd == 0.0
    assert by_key["secrets"].list_usd == by_key["secrets"].free_tier_usd == pytest.approx(4.40)


def test_every_price_cites_its_aws_page() -> None:
    for key, p in PRICES.items():
        assert p.source.startswith("https://aws.amazon.com/"), key
        assert p.usd > 0 and p.per > 0, key


def _day() -> DayCounts:
    return DayCounts(
        functions={
            "PollAccountFunction": FunctionDay(512, invocations=14_400, billed_ms=7_200_000)
        },
        requests={"sqs.ReceiveMessage": 1440, "s3.PutObject": 1},
        dynamodb_rru=10_000,
        dynamodb_wru=20_000,
        dynamodb_bytes_added=10_000_000,
        dynamodb_bytes_expiring=4_000_000,
        sns_publishes=100,
        metric_hours={"a": 24.0, "b": 12.0},
        log_bytes=1_000_000,
    )


def _stack() -> StackFacts:
    return StackFacts(
        alarms=9,
        dashboards=1,
        kms_keys=1,
        schedules_per_day=2880,
        environments={"PollAccountFunction": 5, "CheckSlaFunction": 1},
    )


def test_a_day_becomes_a_month_of_the_counted_quantities() -> None:
    usage = {line.key: line.quantity for line in monthly_usage(_day(), Workload(), _stack())}
    month = 730 / 24
    assert usage["lambda_requests"] == pytest.approx(14_400 * month)
    assert usage["dynamodb_wru"] == pytest.approx(20_000 * month)
    # 1.5 metric-months: one series all day, one half the day
    assert usage["cw_metrics"] == pytest.approx(1.5)
    # Each publish is e-mailed to each of the brand's managers
    assert usage["sns_email"] == pytest.approx(100 * 2 * month)
    # Messages expire after 400 days, so after a year all of a day's bytes are still stored
    assert usage["dynamodb_storage"] == pytest.approx(10_000_000 * 365 / 1024**3)
    # One secret shared by every account (what `replysla channels add` makes) and the signing key
    assert usage["secrets"] == 2 and usage["cw_alarms"] == 9 and usage["kms_keys"] == 1
    # Each of the 5 poll environments reads the channel secret once in its 2-hour life (12 a
    # day); the check re-reads the signing key every 5 minutes while it publishes (100 a day)
    assert usage["secrets_api"] == pytest.approx((5 * 12 + 100) * month)


def test_secret_reads_grow_with_the_channel_secrets_and_the_signing() -> None:
    day = _day()
    day.sns_publishes = 5000
    month = 730 / 24

    def reads(secrets: int) -> float:
        usage = monthly_usage(day, Workload(secrets=secrets), _stack())
        return next(line.quantity for line in usage if line.key == "secrets_api") / month

    # One channel secret: 5 environments x 12 lives a day, and the check's 288 periods of the
    # signing key (5,000 publishes a day need it in every one)
    assert reads(2) == pytest.approx(5 * 12 + 288)
    # One secret per account (10): each environment reads each once per life
    assert reads(11) == pytest.approx(5 * 10 * 12 + 288)
    # More secrets than accounts cannot be read: the accounts bound it
    assert reads(101) == pytest.approx(5 * 10 * 12 + 288)


def test_estimate_totals_are_the_sum_of_their_lines() -> None:
    result = estimate(_day(), Workload(secrets=3), _stack())
    assert result.list_total == pytest.approx(sum(line.list_usd for line in result.lines))
    assert result.free_tier_total <= result.list_total
    assert {line.key for line in result.lines} == set(PRICES)
    api = next(line for line in result.lines if line.key == "secrets_api")
    assert result.by_service()["Secrets Manager"][0] == pytest.approx(3 * 0.40 + api.list_usd)


def test_e_mails_follow_the_audience_of_each_publish() -> None:
    day = _day()
    month = 730 / 24
    # 100 publishes: 60 past the window for the managers, 40 warnings for the team
    day.sns_audience_publishes = {"managers": 60, "team": 40}
    usage = {line.key: line.quantity for line in monthly_usage(day, Workload(), _stack())}
    assert usage["sns_email"] == pytest.approx((60 * 2 + 40 * 1) * month)
    # A team that reads its warnings in chat gets no e-mail
    chat = Workload(team_emails_per_brand=0)
    usage = {line.key: line.quantity for line in monthly_usage(day, chat, _stack())}
    assert usage["sns_email"] == pytest.approx(60 * 2 * month)


def test_clicked_actions_scale_with_the_day_not_the_counted_stretch() -> None:
    day = _day()
    day.facts = {"escalations": 29, "escalations_per_day": 1392}
    usage = {line.key: line.quantity for line in monthly_usage(day, Workload(), _stack())}
    assert usage["http_api"] == pytest.approx(1392 * 0.1 * 2 * 730 / 24)

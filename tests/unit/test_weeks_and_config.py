"""ISO weeks in a brand's time zone, sortable timestamps, and the configuration document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from reply_sla.config import parse_config, parse_duration
from reply_sla.domain.weeks import (
    iso_utc,
    parse_iso,
    previous_week,
    shift_week,
    week_bounds,
    week_of,
)
from reply_sla.errors import ConfigError

MADRID = "Europe/Madrid"


def _utc(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# weeks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "week"),
    [
        (_utc(2026, 12, 28), "2026-W53"),
        (_utc(2026, 12, 31), "2026-W53"),
        (_utc(2027, 1, 1), "2026-W53"),
        (_utc(2027, 1, 3), "2026-W53"),
        (_utc(2027, 1, 4), "2027-W01"),
    ],
)
def test_week_of_follows_iso_weeks_across_the_year_boundary(instant, week):
    # Given an instant around New Year 2027 (2026 has an ISO week 53)
    # When its week is named, Then it is the ISO week, whose year may differ from the date's
    assert week_of(instant, "UTC") == week


def test_week_of_reads_the_instant_in_the_brands_time_zone():
    # Given Sunday 3 Jan 2027 23:30 UTC, which is already Monday 00:30 in Madrid
    instant = _utc(2027, 1, 3, 23, 30)
    # When its week is named in each zone
    # Then UTC still says 2026-W53 and Madrid says 2027-W01
    assert week_of(instant, "UTC") == "2026-W53"
    assert week_of(instant, MADRID) == "2027-W01"


def test_week_bounds_are_local_mondays_at_midnight():
    # Given ISO week 2026-W53 in Madrid
    # When its bounds are taken
    start, end = week_bounds("2026-W53", MADRID)
    # Then it runs from Monday 28 Dec to Monday 4 Jan, local midnight (23:00 UTC the day before)
    assert start == _utc(2026, 12, 27, 23, 0)
    assert end == _utc(2027, 1, 3, 23, 0)
    assert start.astimezone(ZoneInfo(MADRID)).strftime("%a %H:%M") == "Mon 00:00"


def test_week_bounds_of_the_autumn_dst_week_last_seven_days_and_an_hour():
    # Given 2026-W43, whose Sunday 25 Oct is the day Madrid leaves summer time
    assert week_of(_utc(2026, 10, 25), MADRID) == "2026-W43"
    # When its bounds are taken
    start, end = week_bounds("2026-W43", MADRID)
    # Then it starts at 00:00 CEST and ends at 00:00 CET: 7 days and 1 hour of real time
    assert start == _utc(2026, 10, 18, 22, 0)
    assert end == _utc(2026, 10, 25, 23, 0)
    assert end.timestamp() - start.timestamp() == timedelta(days=7, hours=1).total_seconds()


def test_week_bounds_of_the_week_after_the_dst_change_last_seven_days():
    # Given 2026-W44 (26 Oct to 2 Nov), all in winter time
    start, end = week_bounds("2026-W44", MADRID)
    # When its real length is measured, Then it is exactly 7 days
    assert end.timestamp() - start.timestamp() == timedelta(days=7).total_seconds()


@pytest.mark.parametrize("label", ["2026-47", "2026-W54", "2027-W53", "W47"])
def test_week_bounds_refuse_a_label_that_is_not_an_iso_week(label):
    # Given a malformed label or a week its year does not have (2027 has 52 weeks)
    # When its bounds are asked for, Then the error says what was expected
    with pytest.raises(ValueError, match="expected an ISO week like 2026-W47"):
        week_bounds(label, MADRID)


@pytest.mark.parametrize(
    ("instant", "week"),
    [
        (_utc(2026, 11, 15, 23, 30), "2026-W46"),  # Monday 00:30 in Madrid, in W47
        (_utc(2026, 11, 15, 22, 30), "2026-W45"),  # Sunday 23:30 in Madrid, in W46
        (_utc(2027, 1, 5), "2026-W53"),
    ],
)
def test_previous_week_is_the_last_complete_week_in_local_time(instant, week):
    # Given an instant early in a local week, When the previous week is asked for
    # Then it is the week before the local week that contains the instant
    assert previous_week(instant, MADRID) == week


@pytest.mark.parametrize(
    ("week", "weeks", "expected"),
    [
        ("2026-W52", 1, "2026-W53"),
        ("2026-W53", 1, "2027-W01"),
        ("2027-W01", -1, "2026-W53"),
        ("2026-W47", -8, "2026-W39"),
        ("2026-W47", 0, "2026-W47"),
    ],
)
def test_shift_week(week, weeks, expected):
    # Given a week, When it is shifted, Then ISO years with 53 weeks are respected
    assert shift_week(week, weeks) == expected


def test_iso_utc_is_fixed_width_utc():
    # Given instants with and without microseconds, one in Madrid time
    instants = [
        _utc(2026, 1, 2, 3, 4),
        datetime(2026, 11, 16, 0, 30, tzinfo=ZoneInfo(MADRID)),
        _utc(2026, 12, 31, 23, 59) + timedelta(microseconds=7),
    ]
    # When they are formatted
    texts = [iso_utc(i) for i in instants]
    # Then each is UTC, with microseconds and a Z, and all have the same width
    assert texts[1] == "2026-11-15T23:30:00.000000Z"
    assert {len(t) for t in texts} == {len("2026-01-02T03:04:00.000000Z")}


def test_iso_utc_sorts_as_text_the_way_it_sorts_in_time():
    # Given instants whose local wall times sort differently from their real order
    madrid = ZoneInfo(MADRID)
    instants = [
        datetime(2026, 11, 16, 0, 30, tzinfo=madrid),  # 23:30 UTC the day before
        _utc(2026, 11, 15, 23, 45),
        _utc(2026, 11, 15, 23, 30) + timedelta(microseconds=1),
        datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=madrid),  # the second 02:30 (01:30 UTC)
        datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=madrid),  # the first 02:30 (00:30 UTC)
    ]
    # When they are formatted
    # Then sorting the text gives their real order (by timestamp: Python compares two datetimes
    # of one zone by wall time, ignoring fold)
    in_time = sorted(instants, key=lambda i: i.timestamp())
    assert sorted(iso_utc(i) for i in instants) == [iso_utc(i) for i in in_time]


def test_parse_iso_reads_back_iso_utc_and_refuses_naive_text():
    # Given an instant formatted for a sort key
    instant = _utc(2026, 11, 16, 9) + timedelta(microseconds=5)
    # When it is parsed back, Then it is the same instant; text with no zone is refused
    assert parse_iso(iso_utc(instant)) == instant
    with pytest.raises(ValueError, match="no time zone"):
        parse_iso("2026-11-16T09:00:00")


# configuration -------------------------------------------------------------------------------


def _account(**fields: object) -> dict[str, object]:
    return {"id": "acme-mastodon", "brand": "acme", "channel": "mastodon", "secret": "s", **fields}


def _config(*accounts: dict[str, object], **brand: object) -> dict[str, object]:
    return {
        "brands": {"acme": {"name": "Acme", "timezone": MADRID, **brand}},
        "accounts": list(accounts) or [_account()],
    }


def _error(document: object) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, "replysla.yaml")
    return str(caught.value)


def test_a_valid_config_parses():
    # Given a brand and one account polled every 5 minutes
    # When the document is parsed
    config = parse_config(_config(_account(poll_every="5m")))
    # Then the account is there with its interval in seconds
    assert config.account("acme-mastodon").poll_every == 300
    assert config.brands["acme"].timezone == MADRID


def test_an_unknown_channel_is_named_with_its_path():
    # Given an account on a channel the monitor does not know
    # When the document is parsed, Then the error gives the file, the path and the value
    message = _error(_config(_account(channel="tiktok")))
    assert message.startswith("replysla.yaml is invalid")
    assert "accounts[0].channel: unknown channel 'tiktok'" in message


def test_an_unknown_brand_is_named_with_its_path():
    # Given an account that names a brand the document does not define
    # When the document is parsed, Then the error names the account's brand field
    assert "accounts[0].brand: unknown brand 'acme-es'" in _error(
        _config(_account(brand="acme-es"))
    )


def test_a_duplicate_account_id_is_named_with_its_path():
    # Given two accounts with the same id
    document = _config(_account(), _account(channel="x"))
    # When the document is parsed, Then the error names the second one
    assert "accounts[1].id: duplicate account id 'acme-mastodon'" in _error(document)


def test_an_account_without_secret_or_credentials_is_named():
    # Given an account with neither a secret name nor inline credentials
    document = _config({"id": "acme-mastodon", "brand": "acme", "channel": "mastodon"})
    # When the document is parsed, Then the error names the account and what it needs
    assert "accounts[0]: needs `secret`" in _error(document)


def test_inline_credentials_are_enough():
    # Given an account with inline credentials and no secret
    document = _config(_account(secret=None, credentials={"token": "t"}))
    # When the document is parsed, Then it is accepted
    assert parse_config(document).accounts[0].credentials == {"token": "t"}


def test_an_unknown_time_zone_is_named_with_its_path():
    # Given a brand in a zone that does not exist
    # When the document is parsed, Then the error names the brand's timezone field
    assert "brands.acme.timezone: unknown IANA time zone 'Europe/Atlantis'" in _error(
        _config(timezone="Europe/Atlantis")
    )


def test_a_bad_poll_interval_is_named_with_its_path():
    # Given an interval that is not a duration
    # When the document is parsed, Then the error names the field and the expected form
    assert "accounts[0].poll_every: expected a duration" in _error(
        _config(_account(poll_every="soon"))
    )


@pytest.mark.parametrize("value", [None, 1.5, ["5m"]], ids=["empty", "float", "list"])
def test_a_poll_interval_of_the_wrong_type_is_a_config_error(value):
    # Given YAML like `poll_every:` (null), `poll_every: 1.5` or a list
    # When the document is parsed
    # Then it is a ConfigError naming the field, not a crash
    assert "accounts[0].poll_every" in _error(_config(_account(poll_every=value)))


@pytest.mark.parametrize("document", [[], "brands: {}", None])
def test_a_document_that_is_not_a_mapping_is_refused(document):
    # Given a document whose top level is not a mapping
    # When it is parsed, Then the error names the source
    assert _error(document) == "replysla.yaml: expected a mapping at the top level"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), (" 5 m ", 300), (45, 45)],
)
def test_parse_duration(text, seconds):
    # Given a duration, When parsed, Then it is a number of seconds
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5", "1.5h", "-5m", "5w", "m", ""])
def test_parse_duration_refuses_other_forms(text):
    # Given text that is not <digits><s|m|h|d>, When parsed, Then the error shows the form
    with pytest.raises(ValueError, match="like 30s, 5m, 2h or 1d"):
        parse_duration(text)

"""The `replysla` command's argument handling and the file config source's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reply_sla.adapters.config_source import FileConfigSource
from reply_sla.cli.main import main
from reply_sla.errors import ConfigError


def test_demo_refuses_a_tick_below_one_minute(capsys: pytest.CaptureFixture[str]):
    # Given a tick of 0, When the demo is asked for, Then it exits 2 and says why on stderr
    assert main(["demo", "--tick", "0", "--out", "/nonexistent"]) == 2
    assert "--tick must be at least 1 minute" in capsys.readouterr().err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["nonsense"])
    assert exit_info.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("replysla ")


def test_missing_config_file_names_the_path(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"cannot read config .*nope\.yaml"):
        FileConfigSource(missing).load()


def test_broken_yaml_is_a_config_error(tmp_path: Path):
    path = tmp_path / "replysla.yaml"
    path.write_text("brands: {acme: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        FileConfigSource(path).load()


def test_invalid_config_names_the_key(tmp_path: Path):
    path = tmp_path / "replysla.yaml"
    path.write_text(
        "brands: {acme: {name: ACME}}\n"
        "accounts:\n  - {id: a1, brand: acme, channel: mastodn, credentials: {access_token: t}}\n"
    )
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.channel: unknown channel 'mastodn'"):
        FileConfigSource(path).load()


def test_valid_config_loads(tmp_path: Path):
    path = tmp_path / "replysla.yaml"
    path.write_text(
        "brands: {acme: {name: ACME, timezone: Europe/Madrid}}\n"
        "accounts:\n  - {id: a1, brand: acme, channel: mastodon, secret: replysla/a1, "
        "poll_every: 5m}\n"
    )
    config = FileConfigSource(path).load()
    assert config.account("a1").poll_every == 300
    assert config.brands["acme"].timezone == "Europe/Madrid"


CALENDAR = """
timezone: Europe/Madrid
hours: {mon: ["09:00-14:00", "15:00-18:00"], tue: ["09:00-18:00"], fri: ["09:00-15:00"]}
holidays: {country: ES, subdivision: MD, dates: ["2026-12-24"]}
"""


def test_calendar_deadline_prints_iso_with_offset(tmp_path: Path, capsys):
    path = tmp_path / "cal.yaml"
    path.write_text(CALENDAR)
    # Given Friday 14:30 with 1 business hour left, When asked for the deadline
    code = main(
        [
            "calendar",
            "deadline",
            "--calendar",
            str(path),
            "--start",
            "2026-11-20T14:30:00+01:00",
            "--seconds",
            "3600",
        ]
    )
    # Then 30 min on Friday and 30 min on Monday: Monday 09:30 Madrid
    assert code == 0
    assert capsys.readouterr().out.strip() == "2026-11-23T09:30:00+01:00"


def test_calendar_elapsed_from_a_whole_config_by_name(tmp_path: Path, capsys):
    path = tmp_path / "replysla.yaml"
    path.write_text(
        "calendars:\n  office:\n"
        + "".join(f"    {line}\n" for line in CALENDAR.strip().splitlines())
    )
    code = main(
        [
            "calendar",
            "elapsed",
            "--calendar",
            str(path),
            "--name",
            "office",
            "--start",
            "2026-11-16T13:00:00+01:00",
            "--end",
            "2026-11-16T16:00:00+01:00",
        ]
    )
    # Monday 13:00-16:00 with a lunch break 14:00-15:00: two business hours
    assert code == 0 and capsys.readouterr().out.strip() == "7200"


def test_calendar_commands_exit_2_on_bad_input(tmp_path: Path, capsys):
    path = tmp_path / "cal.yaml"
    path.write_text("timezone: Mars/Olympus\nhours: {mon: ['9-18']}\n")
    code = main(
        [
            "calendar",
            "deadline",
            "--calendar",
            str(path),
            "--start",
            "2026-11-20T14:30:00+01:00",
            "--seconds",
            "60",
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert "Mars/Olympus" in captured.err and "09:00-18:00" in captured.err


def test_config_validate_summarises_or_exits_2(tmp_path: Path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(
        "calendars:\n  office:\n"
        + "".join(f"    {line}\n" for line in CALENDAR.strip().splitlines())
        + "brands: {acme: {name: ACME, calendar: office}}\n"
        + "accounts: [{id: a1, brand: acme, channel: mastodon, secret: replysla/a1}]\n"
        + "policies: [{name: default, first_response: 4h, next_response: 8h}]\n"
    )
    assert main(["config", "validate", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "default: first response 4h" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("4h", "4 hours"))
    assert main(["config", "validate", "--config", str(bad)]) == 2
    assert "policies[0].first_response: expected a duration" in capsys.readouterr().err


def test_a_shared_secret_gives_each_account_its_own_entry():
    from reply_sla.adapters.config_source import credentials_from
    from reply_sla.errors import ConfigError

    text = '{"acme-x": {"bearer_token": "t1"}, "acme-mastodon": {"access_token": "t2"}}'
    # Given a brand's secret holding two accounts' credentials
    # When each account names its entry, Then it gets only its own
    assert credentials_from(text, "replysla/acme", "acme-x") == {"bearer_token": "t1"}
    assert credentials_from(text, "replysla/acme", "acme-mastodon") == {"access_token": "t2"}
    # And a missing entry is named, with the entries there are, and no value is shown
    with pytest.raises(
        ConfigError, match="has no entry 'acme-fb' \\(it has: acme-mastodon, acme-x\\)"
    ):
        credentials_from(text, "replysla/acme", "acme-fb")
    # And a one-account secret still works as before
    assert credentials_from('{"access_token": "t"}', "replysla/acme-mastodon") == {
        "access_token": "t"
    }

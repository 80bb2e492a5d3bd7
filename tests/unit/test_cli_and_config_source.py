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

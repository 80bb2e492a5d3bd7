"""`replysla channels poll-once`: the contract outside checks rely on (stdout JSON, exit codes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from reply_sla.cli.main import main
from reply_sla.local.fake_mastodon import FakeMastodon

NOW = datetime.now(UTC)


@pytest.fixture
def world(tmp_path: Path):
    clock = [NOW]
    with FakeMastodon(clock=lambda: clock[0]) as fake:
        brand = fake.add_account("acme", "ACME")["id"]
        customer = fake.add_account("dana", "Dana")["id"]
        config = tmp_path / "replysla.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "brands": {"acme": {"name": "ACME"}},
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
        yield fake, brand, customer, config


def run(capsys, *args: str) -> tuple[int, dict]:
    code = main(["channels", "poll-once", *args])
    return code, json.loads(capsys.readouterr().out)


def test_poll_once_prints_normalized_messages_and_a_cursor(world, capsys):
    fake, brand, customer, config = world
    # Given a question and the brand's reply an hour ago
    question = fake.post(customer, "@acme where is my order?", NOW - timedelta(hours=1))
    fake.post(brand, "@dana on its way", NOW - timedelta(minutes=50), in_reply_to=question["id"])
    # When polled once
    code, document = run(capsys, "--config", str(config), "--account", "acme-mastodon")
    # Then both messages come out normalized, in one thread, with a cursor
    assert code == 0 and document["errors"] == []
    first, second = document["messages"]
    assert set(first) == {
        "channel",
        "account",
        "thread_id",
        "message_id",
        "parent_id",
        "author_id",
        "author_name",
        "direction",
        "private",
        "created_at",
        "text",
        "url",
    }
    assert (first["direction"], second["direction"]) == ("inbound", "outbound")
    assert second["thread_id"] == first["message_id"] == question["id"]
    assert second["parent_id"] == question["id"]
    assert first["created_at"].endswith("Z") and first["text"] == "@acme where is my order?"
    assert document["rate_limit"]["remaining"] is not None
    # And polling again with that cursor returns nothing new
    code, again = run(
        capsys,
        "--config",
        str(config),
        "--account",
        "acme-mastodon",
        "--cursor",
        document["cursor"],
    )
    assert code == 0 and again["messages"] == []


def test_refused_token_is_reported_in_errors_with_exit_1(world, capsys):
    fake, _, _, config = world
    fake.fail_next(401, body={"error": "The access token is invalid"})
    code, document = run(capsys, "--config", str(config), "--account", "acme-mastodon")
    assert code == 1 and document["messages"] == []
    assert document["errors"][0]["kind"] == "ChannelAuthError"


def test_unknown_account_and_bad_cursor_exit_2(world, capsys):
    _, _, _, config = world
    assert main(["channels", "poll-once", "--config", str(config), "--account", "nope"]) == 2
    assert "no account 'nope'" in capsys.readouterr().err
    assert (
        main(
            [
                "channels",
                "poll-once",
                "--config",
                str(config),
                "--account",
                "acme-mastodon",
                "--cursor",
                "not-json",
            ]
        )
        == 2
    )
    assert "--cursor" in capsys.readouterr().err


def test_channels_add_stores_the_secret_and_appends_the_account(moto_aws, tmp_path: Path, capsys):
    import boto3

    config = tmp_path / "replysla.yaml"
    config.write_text("# our brands\nbrands: {acme: {name: ACME}}\naccounts: []\n# end\n")
    creds = tmp_path / "creds.json"
    creds.write_text('{"access_token": "s3cret-token"}')
    # When an account is added
    code = main(
        [
            "channels",
            "add",
            "--config",
            str(config),
            "--id",
            "acme-masto",
            "--brand",
            "acme",
            "--channel",
            "mastodon",
            "--api-base-url",
            "https://social.example",
            "--credentials-file",
            str(creds),
        ]
    )
    out = capsys.readouterr().out
    # Then the config keeps its comments and names the secret, never the token
    assert code == 0 and "s3cret" not in out
    text = config.read_text()
    assert text.startswith("# our brands") and "# end" in text
    assert 'secret: "replysla/channels#acme-masto"' in text and "s3cret" not in text
    # And the stack's one channel secret holds the credentials under the account's entry
    secret = boto3.client("secretsmanager").get_secret_value(SecretId="replysla/channels")
    assert json.loads(secret["SecretString"]) == {"acme-masto": {"access_token": "s3cret-token"}}


def _add(config: Path, creds: Path, account: str, *extra: str) -> int:
    return main(
        [
            "channels",
            "add",
            "--config",
            str(config),
            "--id",
            account,
            "--brand",
            "acme",
            "--channel",
            "mastodon",
            "--credentials-file",
            str(creds),
            *extra,
        ]
    )


def test_channels_add_shares_one_secret_and_keeps_the_other_entries(
    moto_aws, tmp_path: Path, capsys
):
    import boto3

    from reply_sla.adapters.config_source import credentials_from

    config = tmp_path / "replysla.yaml"
    config.write_text("brands: {acme: {name: ACME}}\naccounts: []\n")
    creds = tmp_path / "creds.json"
    creds.write_text('{"access_token": "first"}')
    assert _add(config, creds, "acme-one") == 0
    creds.write_text('{"access_token": "second"}')
    assert _add(config, creds, "acme-two") == 0
    # An account given a secret of its own gets one
    creds.write_text('{"access_token": "own"}')
    assert _add(config, creds, "acme-own", "--secret", "replysla/acme-own") == 0
    client = boto3.client("secretsmanager")
    names = sorted(s["Name"] for s in client.list_secrets()["SecretList"])
    assert names == ["replysla/acme-own", "replysla/channels"]
    shared = client.get_secret_value(SecretId="replysla/channels")["SecretString"]
    # Each account reads back its own entry, as the poll functions do
    assert credentials_from(shared, "replysla/channels", "acme-one") == {"access_token": "first"}
    assert credentials_from(shared, "replysla/channels", "acme-two") == {"access_token": "second"}
    own = client.get_secret_value(SecretId="replysla/acme-own")["SecretString"]
    assert json.loads(own) == {"access_token": "own"}


def test_channels_add_refuses_a_shared_secret_that_is_not_an_object(
    moto_aws, tmp_path: Path, capsys
):
    import boto3

    boto3.client("secretsmanager").create_secret(Name="replysla/channels", SecretString="[1]")
    config = tmp_path / "replysla.yaml"
    original = "brands: {acme: {name: ACME}}\naccounts: []\n"
    config.write_text(original)
    creds = tmp_path / "creds.json"
    creds.write_text('{"access_token": "t"}')
    # Then nothing is overwritten: the secret and the config stay as they were
    assert _add(config, creds, "acme-one") == 2
    assert "not a JSON object of account entries" in capsys.readouterr().err
    assert config.read_text() == original
    value = boto3.client("secretsmanager").get_secret_value(SecretId="replysla/channels")
    assert value["SecretString"] == "[1]"


def test_channels_add_refuses_missing_credential_keys(moto_aws, tmp_path: Path, capsys):
    config = tmp_path / "replysla.yaml"
    config.write_text("brands: {acme: {name: ACME}}\naccounts: []\n")
    creds = tmp_path / "creds.json"
    creds.write_text('{"api_key": "k"}')
    code = main(
        [
            "channels",
            "add",
            "--config",
            str(config),
            "--id",
            "forum",
            "--brand",
            "acme",
            "--channel",
            "discourse",
            "--credentials-file",
            str(creds),
        ]
    )
    assert code == 2 and "needs api_username" in capsys.readouterr().err
    assert config.read_text() == "brands: {acme: {name: ACME}}\naccounts: []\n"

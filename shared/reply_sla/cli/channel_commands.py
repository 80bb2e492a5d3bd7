"""`replysla channels poll-once`: poll one account once, store nothing, print one JSON document.

A contract for outside checks: stdout carries exactly one JSON document
`{"messages": [...], "cursor": "...", "rate_limit": {"remaining", "reset_at"}, "errors": [...]}`;
logs go to stderr. Exit 0 when the poll worked (items it had to skip are listed in `errors`),
1 when the channel refused or failed (the reason is in `errors`), 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reply_sla.config import AccountConfig
from reply_sla.domain.models import Message
from reply_sla.errors import ChannelError, ConfigError


def encode_cursor(cursors: dict[str, str | None]) -> str:
    """The feeds' positions as one string (compact JSON), to pass back with --cursor."""
    return json.dumps(
        {k: v for k, v in sorted(cursors.items()) if v is not None}, separators=(",", ":")
    )


def decode_cursor(text: str | None) -> dict[str, str | None]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            "--cursor: expected the `cursor` value printed by an earlier poll-once, "
            'like {"mentions":"123"}'
        ) from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError("--cursor: expected a JSON object of feed names to positions")
    return {str(k): str(v) for k, v in value.items()}


def normalized(message: Message) -> dict[str, Any]:
    return {
        "channel": message.channel,
        "account": message.account_id,
        "thread_id": message.thread_id,
        "message_id": message.message_id,
        "parent_id": message.parent_id,
        "author_id": message.author_id,
        "author_name": message.author_name or message.author_handle,
        "direction": message.direction.value,
        "private": message.private,
        "created_at": message.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "text": message.text,
        "url": message.url,
    }


def _credentials(account: AccountConfig) -> dict[str, str]:
    if account.credentials is not None:
        return dict(account.credentials)
    from reply_sla.adapters.config_source import SecretsManagerSource

    return SecretsManagerSource().credentials(account.secret or "")


def poll_once(
    account: AccountConfig, cursor: str | None, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Poll one account without a store; threads of replies to unknown parents are resolved."""
    from reply_sla.adapters.channels import build_channel_client

    cursors = decode_cursor(cursor)
    document: dict[str, Any] = {
        "messages": [],
        "cursor": encode_cursor(cursors),
        "rate_limit": {"remaining": None, "reset_at": None},
        "errors": [],
    }
    client = build_channel_client(account, _credentials(account))
    try:
        result = client.fetch_new(cursors, now)
        thread_of = {m.message_id: m.thread_id for m in result.messages if m.thread_id}
        messages = []
        for message in sorted(result.messages, key=lambda m: (m.created_at, m.message_id)):
            if message.thread_id is None:
                parent = message.parent_id
                thread = thread_of.get(parent) if parent else None
                thread = thread or (client.thread_root(message.message_id) if parent else None)
                message = message.model_copy(update={"thread_id": thread or message.message_id})
                thread_of[message.message_id] = message.thread_id or message.message_id
            messages.append(message)
    except ChannelError as exc:
        document["errors"].append({"kind": type(exc).__name__, "message": str(exc)})
        return 1, document
    document["messages"] = [normalized(m) for m in messages]
    merged = {**cursors, **result.cursors}
    document["cursor"] = encode_cursor(merged)
    reset = result.rate_limit_reset_at
    document["rate_limit"] = {
        "remaining": result.rate_limit_remaining,
        "reset_at": reset.astimezone(UTC).isoformat().replace("+00:00", "Z") if reset else None,
    }
    document["errors"] = [{"kind": "skipped_item", "message": e} for e in result.errors]
    return 0, document


def run_poll_once(args: argparse.Namespace) -> int:
    from reply_sla.cli.policy_commands import load_config

    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s"
    )
    config = load_config(args.config)
    account = config.account(args.account)
    code, document = poll_once(account, args.cursor, datetime.now(UTC))
    print(json.dumps(document, ensure_ascii=False, indent=2))
    return code


#: One secret holds every account's credentials, an entry per account: a secret costs 0.40 USD
#: a month, and the functions may read every secret under the stack's prefix anyway.
SHARED_CREDENTIALS_NAME = "replysla/channels"

REQUIRED_CREDENTIALS = {
    "x": ("bearer_token",),
    "facebook": ("page_access_token", "page_id"),
    "instagram": ("access_token", "ig_user_id"),
    "discourse": ("api_key", "api_username"),
    "mastodon": ("access_token",),
    "bluesky": ("identifier", "app_password"),
}


def _read_credentials(source: str, channel: str) -> dict[str, str]:
    """A JSON object from a file or `-` (stdin): never from the command line, which shells keep."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--credentials-file: cannot read {source}: {exc.strerror}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("--credentials-file: expected a JSON object of credential keys") from exc
    if not isinstance(value, dict):
        raise ConfigError("--credentials-file: expected a JSON object of credential keys")
    credentials = {str(k): str(v) for k, v in value.items()}
    missing = [k for k in REQUIRED_CREDENTIALS.get(channel, ()) if not credentials.get(k)]
    if missing:
        raise ConfigError(f"--credentials-file: channel {channel!r} needs {', '.join(missing)}")
    return credentials


def _insert_account(text: str, entry: str) -> str:
    """Add one flow-style entry to the `accounts:` list, keeping the rest of the file as is."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("accounts:"):
            rest = line[len("accounts:") :].strip()
            if rest in ("[]", ""):
                end = index + 1
                # The list's items are the indented (or `- `) lines that follow the key.
                while rest == "" and end < len(lines) and lines[end][:1] in (" ", "-", ""):
                    end += 1
                while end > index + 1 and not lines[end - 1].strip():
                    end -= 1
                head = [*lines[:index], "accounts:", *lines[index + 1 : end]]
                return "\n".join([*head, f"  - {entry}", *lines[end:]]) + "\n"
            raise ConfigError("`accounts:` is written inline; add the account by hand")
    return text.rstrip("\n") + f"\naccounts:\n  - {entry}\n"


def run_add(args: argparse.Namespace) -> int:
    from reply_sla.cli.policy_commands import load_config

    path = Path(args.config)
    original = path.read_text(encoding="utf-8")
    config = load_config(args.config)
    if any(a.id == args.id for a in config.accounts):
        raise ConfigError(f"account {args.id!r} is already in {args.config}")
    credentials = _read_credentials(args.credentials_file, args.channel)
    secret = args.secret or f"{SHARED_CREDENTIALS_NAME}#{args.id}"
    fields = {"id": args.id, "brand": args.brand, "channel": args.channel, "secret": secret}
    if args.api_base_url:
        fields["api_base_url"] = args.api_base_url
    if args.poll_every:
        fields["poll_every"] = args.poll_every
    AccountConfig.model_validate(fields)  # a bad id or channel fails before anything is written
    entry = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in fields.items()) + "}"
    updated = _insert_account(original, entry)
    path.write_text(updated, encoding="utf-8")
    try:
        load_config(args.config)
    except ConfigError:
        path.write_text(original, encoding="utf-8")
        raise
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.secrets_writer import store_credentials

    try:
        arn = store_credentials(client("secretsmanager"), secret, credentials)
    except ConfigError:
        path.write_text(original, encoding="utf-8")
        raise
    print(f"added account {args.id} ({args.channel}) to {args.config}; credentials in {arn}")
    print("push the config to the stack's parameter to start polling it (docs/deploy.md)")
    return 0


def add_channel_commands(commands: Any) -> None:
    channels = commands.add_parser("channels", help="work with the monitored accounts")
    sub = channels.add_subparsers(dest="channels_command", required=True)
    once = sub.add_parser(
        "poll-once", help="poll one account once, store nothing, print what it returned as JSON"
    )
    once.add_argument("--config", required=True, metavar="FILE")
    once.add_argument("--account", required=True, metavar="ID")
    once.add_argument("--cursor", metavar="C", help="the `cursor` printed by an earlier poll-once")
    once.set_defaults(run=run_poll_once)
    add = sub.add_parser(
        "add", help="add an account to a config file and store its credentials in Secrets Manager"
    )
    add.add_argument("--config", required=True, metavar="FILE")
    add.add_argument("--id", required=True)
    add.add_argument("--brand", required=True)
    add.add_argument("--channel", required=True, choices=sorted(REQUIRED_CREDENTIALS))
    add.add_argument("--api-base-url", metavar="URL")
    add.add_argument("--poll-every", metavar="DURATION", help="e.g. 1m, 5m")
    add.add_argument(
        "--secret",
        metavar="NAME",
        help=f"a secret of the account's own, or NAME#ENTRY for an entry of a shared one "
        f"(default: {SHARED_CREDENTIALS_NAME}#<id>, one secret for every account)",
    )
    add.add_argument(
        "--credentials-file",
        required=True,
        metavar="FILE",
        help="a JSON object with the channel's credential keys (see docs/channels.md); - for stdin",
    )
    add.set_defaults(run=run_add)

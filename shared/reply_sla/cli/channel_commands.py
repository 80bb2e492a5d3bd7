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

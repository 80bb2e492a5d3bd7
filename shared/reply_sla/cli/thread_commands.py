"""`replysla threads list|dismiss`: see who is waiting, and close a wait that needs no reply."""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime
from typing import Any

from reply_sla.domain.notices import channel_name, human_duration, one_line
from reply_sla.errors import ConfigError


def _store(args: argparse.Namespace) -> Any:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.dynamodb_store import DynamoThreadStore

    table = args.table
    if not table and args.stack:
        outputs = client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        table = next(
            (o["OutputValue"] for o in outputs.get("Outputs", []) if o["OutputKey"] == "TableName"),
            None,
        )
    if not table:
        raise ConfigError("give --stack NAME (a deployed replysla stack) or --table NAME")
    return DynamoThreadStore(client("dynamodb"), table)


def run_list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    turns = _store(args).open_turns(args.brand)
    if args.overdue:
        turns = [t for t in turns if t.due_at < now]
    if not turns:
        print("nobody is waiting" + (" past a deadline" if args.overdue else ""))
    for turn in turns:
        late = now - turn.due_at
        when = (
            f"overdue {human_duration(late.total_seconds())}"
            if late.total_seconds() > 0
            else f"due in {human_duration(-late.total_seconds())}"
        )
        who = one_line(turn.author_handle or turn.author_name or turn.author_id, 40)
        print(
            f"{turn.key}  {channel_name(turn.channel)}  {who}  {turn.priority.value}  "
            f"waiting {human_duration((now - turn.opened_at).total_seconds())}, {when}  {turn.url}"
        )
    return 0


def run_dismiss(args: argparse.Namespace) -> int:
    parts = args.turn.rsplit(":", 2)
    if len(parts) != 3 or not parts[2].isdigit():
        raise ConfigError(
            "TURN: expected an id like acme-x:1234567890:1 (from `threads list`), "
            f"got {args.turn!r}"
        )
    if not args.reason.strip():
        raise ConfigError("--reason: say why this wait needs no reply")
    store = _store(args)
    turn = store.get_turn(parts[0], parts[1], int(parts[2]))
    if turn is None:
        raise ConfigError(f"no turn {args.turn}")
    by = args.by or getpass.getuser()
    if not store.dismiss_turn(turn, args.reason.strip(), by, datetime.now(UTC)):
        raise ConfigError(f"turn {args.turn} is not waiting any more ({turn.status.value})")
    print(f"dismissed {args.turn}: no more alerts for it; recorded as needing no reply")
    return 0


def add_thread_commands(commands: Any) -> None:
    threads = commands.add_parser("threads", help="turns waiting for a reply")
    sub = threads.add_subparsers(dest="threads_command", required=True)
    listing = sub.add_parser("list", help="open turns of a brand, earliest deadline first")
    listing.add_argument("--brand", required=True)
    listing.add_argument("--overdue", action="store_true", help="only those past their deadline")
    dismiss = sub.add_parser("dismiss", help="close a turn that needs no reply (a reason is kept)")
    dismiss.add_argument("turn", metavar="TURN")
    dismiss.add_argument("--reason", required=True)
    dismiss.add_argument("--by", help="who dismissed it (default: your user name)")
    for cmd, run in ((listing, run_list), (dismiss, run_dismiss)):
        cmd.add_argument("--stack", help="a deployed replysla stack (reads its TableName output)")
        cmd.add_argument("--table", help="the table name, instead of --stack")
        cmd.set_defaults(run=run)

"""`replysla threads list|snooze|resume|dismiss`: see who is waiting, pause a wait, close one."""

from __future__ import annotations

import argparse
import getpass
from datetime import UTC, datetime
from typing import Any

from reply_sla.config import MonitorConfig
from reply_sla.domain.notices import channel_name, human_duration, local_time, one_line
from reply_sla.domain.policy import PolicyBook
from reply_sla.errors import ConfigError

UNTIL_EXAMPLE = "2026-11-17T09:00+01:00 or 2026-11-17T08:00Z"


def _stack_outputs(stack: str) -> dict[str, str]:
    from reply_sla.adapters.aws import client

    described = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def _store(args: argparse.Namespace) -> Any:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.dynamodb_store import DynamoThreadStore

    table = args.table
    if not table and args.stack:
        table = _stack_outputs(args.stack).get("TableName")
    if not table:
        raise ConfigError("give --stack NAME (a deployed replysla stack) or --table NAME")
    return DynamoThreadStore(client("dynamodb"), table)


def _config(args: argparse.Namespace) -> MonitorConfig | None:
    """The monitor's configuration: --config FILE, else the deployed stack's SSM parameter."""
    if args.config:
        from reply_sla.cli.policy_commands import load_config

        return load_config(args.config)
    if args.stack:
        from reply_sla.adapters.config_source import SsmConfigSource

        parameter = _stack_outputs(args.stack).get("ConfigParameterName")
        if parameter:
            return SsmConfigSource(parameter).load()
    return None


def _book(config: MonitorConfig | None) -> PolicyBook:
    if config is None:
        raise ConfigError(
            "give --config FILE (or --stack NAME): the turn's policy, its deadlines and its "
            "max_snooze come from the configuration"
        )
    from reply_sla.domain.engine import PolicyEngine

    return PolicyEngine.from_config(config).book


def _zone(config: MonitorConfig | None, brand: str) -> str:
    if config is not None and brand in config.brands:
        return config.brands[brand].timezone
    return "UTC"


def parse_until(text: str) -> datetime:
    """--until: an ISO time with an offset; a naive time is refused (whose 09:00?)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--until: expected an ISO time like {UNTIL_EXAMPLE}, got {text!r}"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigError(
            f"--until: {text!r} has no time zone offset; add one, like {UNTIL_EXAMPLE}, so the "
            "snooze ends when you mean"
        )
    return value


def run_list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    config = _config(args)
    brands = [args.brand] if args.brand else sorted(config.brands) if config else []
    if not brands:
        raise ConfigError("give --brand NAME (or --config FILE to list every brand)")
    store = _store(args)
    rows = [row for brand in brands for row in store.open_turns_paused(brand)]
    if args.overdue:
        rows = [(t, p) for t, p in rows if t.due_at < now]
    if not rows:
        print("nobody is waiting" + (" past a deadline" if args.overdue else ""))
    for turn, pauses in sorted(rows, key=lambda row: row[0].due_at):
        zone = _zone(config, turn.brand)
        late = (now - turn.due_at).total_seconds()
        when = f"overdue {human_duration(late)}" if late > 0 else f"due in {human_duration(-late)}"
        who = one_line(turn.author_handle or turn.author_name or turn.author_id, 40)
        line = (
            f"{turn.key}  {channel_name(turn.channel)}  {who}  {turn.priority.value}  "
            f"waiting {human_duration((now - turn.opened_at).total_seconds())}, {when}"
        )
        snooze = pauses.snooze
        if snooze is not None and pauses.snoozed_now(now):
            line += (
                f"  snoozed until {local_time(snooze.until, zone)} by {one_line(snooze.by, 40)}"
                f" ({one_line(snooze.reason, 60)})"
            )
        print(f"{line}  {turn.url}")
    return 0


def run_snooze(args: argparse.Namespace) -> int:
    from reply_sla.services.actions import parse_turn_key, snooze_turn

    ref = parse_turn_key(args.turn)
    until = parse_until(args.until)
    if not args.reason.strip():
        raise ConfigError("--reason: say why this wait can pause")
    config = _config(args)
    book = _book(config)
    store = _store(args)
    result = snooze_turn(
        store, book, ref, until, args.reason, args.by or getpass.getuser(), datetime.now(UTC)
    )
    zone = _zone(config, result.turn.brand)
    if result.replaced is not None:
        print(f"ended the snooze until {local_time(result.replaced.until, zone)} first")
    capped = f" ({result.capped})" if result.capped else ""
    print(f"snoozed {ref.key} until {local_time(result.snooze.until, zone)}{capped}")
    nxt = result.schedule
    print(
        f"no alerts until then; the paused time does not count, so it is now due "
        f"{local_time(nxt.due_at, zone)}"
        + (
            f" and its next alert ({nxt.next_level}) is {local_time(nxt.next_level_at, zone)}"
            if nxt.next_level and nxt.next_level_at
            else ""
        )
    )
    return 0


def run_resume(args: argparse.Namespace) -> int:
    from reply_sla.services.actions import parse_turn_key, resume_turn

    ref = parse_turn_key(args.turn)
    config = _config(args)
    book = _book(config)
    now = datetime.now(UTC)
    by = args.by or getpass.getuser()
    result = resume_turn(_store(args), book, ref, now, "resumed by a person", now, by=by)
    if result is None:
        raise ConfigError(f"turn {ref.key} is not snoozed (or not waiting any more)")
    zone = _zone(config, result.turn.brand)
    print(
        f"resumed {ref.key}: its clock runs again; due {local_time(result.schedule.due_at, zone)}"
    )
    return 0


def run_dismiss(args: argparse.Namespace) -> int:
    from reply_sla.services.actions import dismiss_turn, parse_turn_key

    ref = parse_turn_key(args.turn)
    if not args.reason.strip():
        raise ConfigError("--reason: say why this wait needs no reply")
    dismiss_turn(_store(args), ref, args.reason, args.by or getpass.getuser(), datetime.now(UTC))
    print(f"dismissed {ref.key}: no more alerts for it; recorded as needing no reply")
    return 0


def add_thread_commands(commands: Any) -> None:
    threads = commands.add_parser("threads", help="turns waiting for a reply")
    sub = threads.add_subparsers(dest="threads_command", required=True)
    listing = sub.add_parser("list", help="open turns, earliest deadline first")
    listing.add_argument("--brand", help="one brand (default: every brand of --config)")
    listing.add_argument("--overdue", action="store_true", help="only those past their deadline")
    snooze = sub.add_parser(
        "snooze", help="pause a turn until a time (a reason is kept; capped by max_snooze)"
    )
    snooze.add_argument("turn", metavar="TURN")
    snooze.add_argument(
        "--until", required=True, metavar="ISO", help=f"when it resumes, e.g. {UNTIL_EXAMPLE}"
    )
    snooze.add_argument("--reason", required=True)
    snooze.add_argument("--by", help="who snoozed it (default: your user name)")
    resume = sub.add_parser("resume", help="end a turn's snooze now")
    resume.add_argument("turn", metavar="TURN")
    resume.add_argument("--by", help="who resumed it (default: your user name)")
    dismiss = sub.add_parser("dismiss", help="close a turn that needs no reply (a reason is kept)")
    dismiss.add_argument("turn", metavar="TURN")
    dismiss.add_argument("--reason", required=True)
    dismiss.add_argument("--by", help="who dismissed it (default: your user name)")
    for cmd, run in (
        (listing, run_list),
        (snooze, run_snooze),
        (resume, run_resume),
        (dismiss, run_dismiss),
    ):
        cmd.add_argument("--stack", help="a deployed replysla stack (reads its outputs)")
        cmd.add_argument("--table", help="the table name, instead of --stack")
        cmd.add_argument(
            "--config", metavar="FILE", help="the configuration, instead of the stack's"
        )
        cmd.set_defaults(run=run)

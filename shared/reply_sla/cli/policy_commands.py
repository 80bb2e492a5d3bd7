"""`replysla config validate` and `replysla calendar deadline|elapsed`: ask the engine directly.

Output on stdout, errors on stderr, exit 2 on bad input (a contract for outside checks).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from reply_sla.config import MonitorConfig, parse_config
from reply_sla.domain.business_time import BusinessCalendar, CalendarConfig
from reply_sla.domain.notices import human_duration
from reply_sla.errors import ConfigError


def _load_yaml(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc


def load_config(path: str) -> MonitorConfig:
    return parse_config(_load_yaml(path), path)


def load_calendar(path: str, name: str | None) -> BusinessCalendar:
    """A file with one calendar (the mapping under a calendar's name), or a whole config."""
    document = _load_yaml(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a calendar or a configuration mapping")
    if "calendars" in document:
        calendars = document.get("calendars") or {}
        if name is None:
            if len(calendars) != 1:
                raise ConfigError(
                    f"{path} has {len(calendars)} calendars ({', '.join(calendars) or 'none'}): "
                    "pick one with --name"
                )
            name = next(iter(calendars))
        if name not in calendars:
            raise ConfigError(f"{path}: no calendar {name!r} (has: {', '.join(calendars)})")
        document, where = calendars[name], f"{path}: calendars.{name}"
    else:
        where = path
    try:
        return BusinessCalendar.from_config(CalendarConfig.model_validate(document))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"{where} is invalid: {problems}") from exc


def _instant(text: str, zone: ZoneInfo, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{flag}: expected an ISO 8601 time like 2026-11-16T09:30:00+01:00"
        ) from exc
    # A time without an offset is read in the calendar's own zone.
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def calendar_deadline(args: argparse.Namespace) -> int:
    calendar = load_calendar(args.calendar, args.name)
    if args.seconds < 0:
        raise ConfigError("--seconds: expected a number of business seconds, 0 or more")
    start = _instant(args.start, calendar.zone, "--start")
    print(calendar.deadline(start, args.seconds).isoformat())
    return 0


def calendar_elapsed(args: argparse.Namespace) -> int:
    calendar = load_calendar(args.calendar, args.name)
    start = _instant(args.start, calendar.zone, "--start")
    end = _instant(args.end, calendar.zone, "--end")
    print(int(calendar.elapsed(start, end)))
    return 0


def config_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    lines = [f"{args.config}: valid"]
    lines.append(f"calendars ({len(config.calendars)}):")
    for name, cal in config.calendars.items():
        days = ", ".join(f"{d} {' '.join(h)}" for d, h in cal.hours.items() if h) or "closed"
        extra = (
            f"; holidays {cal.holidays.country}" if cal.holidays and cal.holidays.country else ""
        )
        lines.append(f"  {name}: {cal.timezone}; {days}{extra}")
    lines.append(f"brands ({len(config.brands)}):")
    for name, brand in config.brands.items():
        lines.append(f"  {name}: {brand.name} ({brand.timezone}, calendar {brand.calendar or '-'})")
    lines.append(f"accounts ({len(config.accounts)}):")
    for account in config.accounts:
        lines.append(
            f"  {account.id}: {account.channel} for {account.brand}, "
            f"every {human_duration(account.poll_every)}"
        )
    lines.append(f"policies ({len(config.policies)}, first match wins):")
    for policy in config.policies:
        ladder = ", ".join(f"{s.level} {s.at}" for s in policy.ladder)
        cap = f", never later than {human_duration(policy.max_wait)}" if policy.max_wait else ""
        lines.append(
            f"  {policy.name}: first response {human_duration(policy.first_response)}, next "
            f"{human_duration(policy.next_response)} ({policy.clock} time{cap}); ladder {ladder}"
        )
    if not config.policies:
        lines.append("  (none: first response 1 h, next response 2 h, calendar time)")
    triage = "built-in rules" if config.triage_defaults else "no built-in rules"
    lines.append(f"triage: {triage} + {len(config.triage)} configured")
    print("\n".join(lines))
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    import json

    from reply_sla.services.simulate import parse_until, read_messages, simulate

    config = load_config(args.config)
    try:
        with open(args.messages, encoding="utf-8") as handle:
            messages = read_messages(handle, config, args.messages)
    except OSError as exc:
        raise ConfigError(f"cannot read {args.messages}: {exc.strerror}") from exc
    replayed: list[Any] = []
    result = simulate(
        config,
        messages,
        until=parse_until(args.until),
        check_every=args.check_every,
        digests=not args.no_digests,
        facts_out=replayed,
    )
    if args.summary:
        from reply_sla.cli.summary_commands import print_replayed_summary

        return print_replayed_summary(args, config, replayed)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def add_commands(commands: Any) -> None:
    """Register `config` and `calendar` on the top-level parser's subcommands."""
    config = commands.add_parser("config", help="check a configuration file")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    validate = config_sub.add_parser("validate", help="validate and summarise a config file")
    validate.add_argument("--config", required=True, metavar="FILE")
    validate.set_defaults(run=config_validate)

    sim = commands.add_parser(
        "simulate", help="replay messages through triage, policies and the ladder (no AWS)"
    )
    sim.add_argument("--config", required=True, metavar="FILE")
    sim.add_argument("--messages", required=True, metavar="FILE.jsonl")
    sim.add_argument("--until", metavar="ISO", help="default: the last message plus 7 days")
    sim.add_argument("--check-every", type=int, default=60, metavar="SECONDS")
    sim.add_argument(
        "--no-digests",
        action="store_true",
        help="one message per turn even when several reach a level at the same check",
    )
    from reply_sla.cli.summary_commands import add_simulate_summary_options

    add_simulate_summary_options(sim)
    sim.set_defaults(run=run_simulate)

    calendar = commands.add_parser("calendar", help="business time of a calendar")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    for name, run, help_text in (
        ("deadline", calendar_deadline, "the deadline for a business-time budget"),
        ("elapsed", calendar_elapsed, "business seconds between two instants"),
    ):
        sub = calendar_sub.add_parser(name, help=help_text)
        sub.add_argument("--calendar", required=True, metavar="FILE")
        sub.add_argument("--name", help="the calendar's name when FILE is a whole config")
        sub.add_argument("--start", required=True, metavar="ISO")
        if name == "deadline":
            sub.add_argument("--seconds", required=True, type=float, metavar="N")
        else:
            sub.add_argument("--end", required=True, metavar="ISO")
        sub.set_defaults(run=run)

"""`replysla managers add|list|remove`: who receives which escalations, by brand, channel, level."""

from __future__ import annotations

import argparse
import re
from typing import Any

from reply_sla.config import CHANNELS
from reply_sla.domain.notices import MANAGERS, TEAM
from reply_sla.errors import ConfigError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LEVELS_HELP = "ladder levels, e.g. breach manager summary channel_down (default: all)"


def _topic(args: argparse.Namespace) -> tuple[Any, str]:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.subscriptions import topic_arn_of_stack

    if not args.topic_arn and not args.stack:
        raise ConfigError("give --stack NAME (a deployed replysla stack) or --topic-arn ARN")
    arn = args.topic_arn or topic_arn_of_stack(client("cloudformation"), args.stack)
    return client("sns"), arn


def _split(values: list[str] | None) -> list[str]:
    return [v for value in values or [] for v in value.replace(",", " ").split() if v]


def run_add(args: argparse.Namespace) -> int:
    from reply_sla.adapters.subscriptions import filter_policy, subscribe

    if not _EMAIL.match(args.email):
        raise ConfigError(f"not an e-mail address: {args.email!r}")
    channels = _split(args.channels)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ConfigError(
            f"--channels: unknown {', '.join(unknown)}; expected {', '.join(CHANNELS)}"
        )
    sns, topic = _topic(args)
    levels = _split(args.levels)
    # Without levels, a manager hears what is for managers: messages past their window.
    audience = args.audience or ("all" if levels else MANAGERS)
    policy = filter_policy(args.brand, channels, levels, None if audience == "all" else [audience])
    subscribe(sns, topic, args.email, policy)
    print(f"subscribed {args.email} to {topic} for {policy}")
    print("AWS e-mails a confirmation link: nothing is delivered until the manager confirms it")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from reply_sla.adapters.subscriptions import list_managers

    sns, topic = _topic(args)
    managers = [
        m
        for m in list_managers(sns, topic)
        if not args.brand or args.brand in m.filter_policy.get("brand", [args.brand])
    ]
    if not managers:
        print("no manager subscriptions")
    for m in managers:
        state = "confirmed" if m.confirmed else "waiting for confirmation"
        routes = ", ".join(f"{k}={'|'.join(v)}" for k, v in sorted(m.filter_policy.items()))
        print(f"{m.email}  {state}  {routes or 'everything'}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from reply_sla.adapters.subscriptions import list_managers, unsubscribe

    sns, topic = _topic(args)
    matching = [
        m
        for m in list_managers(sns, topic)
        if m.email.lower() == args.email.lower()
        and (not args.brand or args.brand in m.filter_policy.get("brand", []))
    ]
    if not matching:
        raise ConfigError(f"{args.email} has no subscription on {topic}")
    removed = 0
    for manager in matching:
        if manager.confirmed:
            unsubscribe(sns, manager)
            removed += 1
    pending = len(matching) - removed
    print(f"removed {removed} subscription(s) of {args.email}")
    if pending:
        print(f"{pending} unconfirmed one(s) cannot be removed; AWS deletes them after 3 days")
    return 0


def add_manager_commands(commands: Any) -> None:
    managers = commands.add_parser("managers", help="who receives escalations and summaries")
    sub = managers.add_subparsers(dest="managers_command", required=True)
    for name, run, help_text in (
        ("add", run_add, "subscribe a manager's e-mail, filtered by brand, channels and levels"),
        ("list", run_list, "list the managers' subscriptions and what they receive"),
        ("remove", run_remove, "unsubscribe a manager"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        if name != "list":
            cmd.add_argument("email")
        cmd.add_argument("--brand", required=name == "add")
        cmd.add_argument("--stack", help="a deployed replysla stack (reads its TopicArn output)")
        cmd.add_argument("--topic-arn", help="the escalations topic, instead of --stack")
        if name == "add":
            cmd.add_argument("--channels", nargs="+", help="default: every channel")
            cmd.add_argument("--levels", nargs="+", help=LEVELS_HELP)
            cmd.add_argument(
                "--audience",
                choices=[MANAGERS, TEAM, "all"],
                help="managers: messages past their window, their resolved notices, summaries "
                "and outages; team: warnings before the deadline; all: both (default: managers, "
                "or all when --levels is given)",
            )
        cmd.set_defaults(run=run)

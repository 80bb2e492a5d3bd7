"""`replysla config push`, `replysla status` and `replysla cost`: operating a deployed stack.

Output on stdout, errors on stderr (exit 2), like the other commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from reply_sla.errors import ConfigError

#: What a stack's outputs must name for these commands (template.yaml's Outputs).
CONFIG_OUTPUT = "ConfigParameterName"
SECRETS_PREFIX_OUTPUT = "ChannelSecretsPrefix"


def _outputs(stack: str) -> dict[str, str]:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.stack import stack_outputs

    return stack_outputs(client("cloudformation"), stack)


# ----------------------------------------------------------------------------- config push


def check_pushable(config: Any, source: str, secrets_prefix: str | None) -> None:
    """Refuse what must not reach the parameter: inline credentials (secrets belong in Secrets
    Manager, the parameter is plain text) and secrets the functions may not read."""
    problems = []
    for index, account in enumerate(config.accounts):
        where = f"accounts[{index}] ({account.id})"
        if account.credentials:
            problems.append(
                f"{where}: inline `credentials` are for local runs only; store them in Secrets "
                f"Manager (`replysla channels add`) and give `secret:` instead"
            )
        elif secrets_prefix and account.secret and not account.secret.startswith(secrets_prefix):
            problems.append(
                f"{where}: secret {account.secret!r} is outside {secrets_prefix!r}, the only "
                "secrets the stack's functions may read"
            )
    if problems:
        raise ConfigError(f"{source} cannot be pushed:\n  " + "\n  ".join(problems))


def run_push(args: argparse.Namespace) -> int:
    from reply_sla.cli.policy_commands import load_config

    config = load_config(args.config)  # the same validation as `config validate`
    with open(args.config, encoding="utf-8") as handle:
        text = handle.read()
    prefix: str | None = None
    if args.stack:
        from reply_sla.adapters.stack import require_output

        outputs = _outputs(args.stack)
        parameter = args.parameter or require_output(outputs, CONFIG_OUTPUT, args.stack)
        prefix = outputs.get(SECRETS_PREFIX_OUTPUT)
    elif args.parameter:
        parameter = args.parameter
    else:
        raise ConfigError("give --stack NAME (a deployed replysla stack) or --parameter NAME")
    check_pushable(config, args.config, prefix)
    summary = (
        f"{len(config.brands)} brand(s), {len(config.accounts)} account(s), "
        f"{len(config.policies)} polic{'y' if len(config.policies) == 1 else 'ies'}"
    )
    if args.dry_run:
        print(f"{args.config}: valid ({summary}); would write SSM parameter {parameter}")
        return 0
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.stack import push_config_text

    pushed = push_config_text(client("ssm"), parameter, text)
    print(
        f"pushed {args.config} ({summary}, {pushed.size} bytes) to SSM parameter "
        f"{pushed.name}, version {pushed.version} ({pushed.tier} tier)"
    )
    print("the functions use it within 5 minutes; no redeploy is needed")
    return 0


# ----------------------------------------------------------------------------- status


def _yaml(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc


def _ago(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never"
    from reply_sla.domain.notices import human_duration

    seconds = max(0.0, (now - at).total_seconds())
    return f"{human_duration(seconds)} ago ({at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def status_report(stack: str, now: datetime) -> Any:
    """Read the deployed stack and build its StackStatus."""
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.dynamodb_store import DynamoThreadStore
    from reply_sla.adapters.stack import last_summary, read_config_text, require_output
    from reply_sla.config import parse_config
    from reply_sla.services.stack_status import stack_status

    outputs = _outputs(stack)
    table = require_output(outputs, "TableName", stack)
    parameter = require_output(outputs, CONFIG_OUTPUT, stack)
    bucket = require_output(outputs, "BucketName", stack)
    source = f"SSM {parameter}"
    config = parse_config(_yaml(read_config_text(client("ssm"), parameter), source), source)
    store = DynamoThreadStore(client("dynamodb"), table)
    health = store.account_health([a.id for a in config.accounts]) if config.accounts else {}
    s3 = client("s3")

    def summary_of(brand: str) -> tuple[str, datetime, str] | None:
        found = last_summary(s3, bucket, brand)
        return (found.week, found.written_at, f"s3://{bucket}/{found.prefix}") if found else None

    return stack_status(stack, config, health, store.open_turns, summary_of, now)


def run_status(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    status = status_report(args.stack, now)
    if args.json:
        print(json.dumps(_status_json(status), indent=2))
        return 0
    print(f"stack {status.stack} at {now:%Y-%m-%d %H:%M} UTC")
    if not status.accounts:
        print("no accounts configured: push a configuration with `replysla config push`")
    rows = [("ACCOUNT", "CHANNEL", "STATE", "OPEN", "OVERDUE", "LAST SUCCESSFUL POLL")]
    for a in status.accounts:
        rows.append(
            (
                a.account_id,
                a.channel,
                a.state,
                str(a.open_turns),
                str(a.overdue_turns),
                _ago(a.last_poll_at, now),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), end=""
        )
        print("  " + row[-1])
    for a in status.accounts:
        if a.last_error:
            print(f"  {a.account_id}: last error {a.last_error}")
    for b in status.brands:
        if b.last_summary_week:
            print(
                f"brand {b.brand}: last summary {b.last_summary_week}, written "
                f"{_ago(b.last_summary_at, now)}, {b.last_summary_prefix}"
            )
        else:
            print(f"brand {b.brand}: no weekly summary yet")
    return 0


def _status_json(status: Any) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat() if value else None

    return {
        "stack": status.stack,
        "at": iso(status.at),
        "accounts": [
            {
                "account": a.account_id,
                "brand": a.brand,
                "channel": a.channel,
                "state": a.state,
                "open_turns": a.open_turns,
                "overdue_turns": a.overdue_turns,
                "last_poll_at": iso(a.last_poll_at),
                "last_error": a.last_error or None,
            }
            for a in status.accounts
        ],
        "brands": [
            {
                "brand": b.brand,
                "last_summary_week": b.last_summary_week,
                "last_summary_at": iso(b.last_summary_at),
                "location": b.last_summary_prefix,
            }
            for b in status.brands
        ],
    }


# ----------------------------------------------------------------------------- cost


def run_cost(args: argparse.Namespace) -> int:
    try:
        from reply_sla.local.cost_day import run_day
    except ImportError as exc:  # moto is a development dependency
        raise ConfigError(
            f"replysla cost runs the handlers on moto ({exc.name} is missing): "
            "pip install -e '.[dev]'"
        ) from exc
    from reply_sla.services.cost import PRICES, PRICES_AS_OF, REGION, TARGET_USD, Workload
    from reply_sla.services.cost import estimate as make_estimate

    for name in ("accounts", "messages_per_day", "brands", "minutes"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: at least 1")
    workload = Workload(
        accounts=args.accounts,
        inbound_per_day=args.messages_per_day,
        brands=min(args.brands, args.accounts),
        managers_per_brand=args.managers_per_brand,
        team_emails_per_brand=args.team_emails_per_brand,
        secrets=args.secrets,
    )

    def say(line: str) -> None:
        if not args.json:
            print(line, file=sys.stderr)

    say(
        f"counting {args.minutes} minutes of the real handlers on moto after a 3-hour warm-up "
        "(a minute or two) ..."
    )
    result = run_day(workload, minutes=args.minutes, say=say)
    estimate = make_estimate(result.counts, workload, result.stack)
    total = estimate.free_tier_total if args.free_tier else estimate.list_total
    missed = total >= TARGET_USD
    if args.json:
        print(json.dumps(_cost_json(estimate, result, args.free_tier), indent=2))
        return 1 if missed else 0
    counts = result.counts
    print(f"inputs ({REGION} list prices as of {PRICES_AS_OF}):")
    print(
        f"  {workload.accounts} accounts in {workload.brands} brands, polled every minute; "
        f"{workload.inbound_per_day:,} inbound messages a day; "
        f"{workload.managers_per_brand} manager e-mails per escalation past its window and "
        f"{workload.team_emails_per_brand} team e-mail per warning; "
        f"{workload.secret_count} secrets"
    )
    print(
        f"  counted {result.window_minutes} minutes on moto after a warm-up "
        f"({result.seconds:.0f} s): {counts.facts.get('inbound', 0):.0f} inbound and "
        f"{counts.facts.get('outbound', 0):.0f} brand messages, "
        f"{counts.facts.get('escalations', 0):.0f} escalations; scaled to a day"
    )
    print("counted per day:")
    for name, function in sorted(counts.functions.items()):
        print(
            f"  {name}: {function.invocations:,.1f} invocations, "
            f"{function.gb_seconds:,.0f} GB-s ({function.memory_mb} MB)"
        )
    print(
        f"  DynamoDB: {counts.dynamodb_wru:,.0f} WRU, {counts.dynamodb_rru:,.0f} RRU, "
        f"{counts.dynamodb_bytes_added / 1e6:.1f} MB added"
    )
    requests = ", ".join(
        f"{name} {count:,}" for name, count in sorted(counts.requests.items()) if count
    )
    print(f"  requests: {requests}")
    print(
        f"  SNS publishes {counts.sns_publishes:,}; metric series {len(counts.metric_hours)}; "
        f"logs {counts.log_bytes / 1e6:.1f} MB"
    )
    print("per month:")
    print(f"  {'service':22} {'item':28} {'quantity':>16} {'list USD':>9} {'free tier':>9}")
    for line in estimate.lines:
        print(
            f"  {line.service:22} {line.item:28} {line.quantity:>16,.2f} "
            f"{line.list_usd:>9.2f} {line.free_tier_usd:>9.2f}  {line.unit}: {line.how}"
        )
    print(f"total: {estimate.list_total:.2f} USD a month at list prices")
    print(
        f"       {estimate.free_tier_total:.2f} USD a month after the AWS always-free tier "
        "(if no other workload in the account uses it)"
    )
    print(f"target: < {TARGET_USD:.0f} USD ({'free-tier' if args.free_tier else 'list'} total)")
    if missed:
        biggest = sorted(estimate.by_service().items(), key=lambda kv: -kv[1][0])[:3]
        print(
            "missed: the largest items are "
            + ", ".join(f"{service} {usd[0]:.2f}" for service, usd in biggest)
        )
    print("prices: " + ", ".join(sorted({p.source for p in PRICES.values()})))
    return 1 if missed else 0


def _cost_json(estimate: Any, result: Any, free_tier: bool) -> dict[str, Any]:
    from dataclasses import asdict

    from reply_sla.services.cost import PRICES_AS_OF, REGION, TARGET_USD

    return {
        "region": REGION,
        "prices_as_of": PRICES_AS_OF,
        "inputs": asdict(estimate.workload),
        "counted_minutes": result.window_minutes,
        "day": {
            "facts": result.counts.facts,
            "functions": {k: asdict(v) for k, v in result.counts.functions.items()},
            "requests": result.counts.requests,
            "dynamodb_wru": result.counts.dynamodb_wru,
            "dynamodb_rru": result.counts.dynamodb_rru,
            "sns_publishes": result.counts.sns_publishes,
            "sns_audience_publishes": result.counts.sns_audience_publishes,
            "metric_hours": result.counts.metric_hours,
            "log_bytes": result.counts.log_bytes,
        },
        "month": [asdict(line) for line in estimate.lines],
        "total_list_usd": round(estimate.list_total, 4),
        "total_free_tier_usd": round(estimate.free_tier_total, 4),
        "target_usd": TARGET_USD,
        "target_applies_to": "free_tier" if free_tier else "list",
    }


# ----------------------------------------------------------------------------- registration


def _subcommands_of(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError(f"{parser.prog} has no subcommands")


def add_ops_commands(commands: Any) -> None:
    """Register `config push` (beside `config validate`), `status` and `cost`."""
    config = commands.choices.get("config")
    if config is None:
        config = commands.add_parser("config", help="check and push a configuration file")
        config.add_subparsers(dest="config_command", required=True)
    push = _subcommands_of(config).add_parser(
        "push", help="validate a config file and write it to the stack's SSM parameter"
    )
    push.add_argument("--config", required=True, metavar="FILE")
    push.add_argument("--stack", help="a deployed replysla stack (reads its outputs)")
    push.add_argument("--parameter", help="the SSM parameter name, instead of --stack")
    push.add_argument("--dry-run", action="store_true", help="validate and check only")
    push.set_defaults(run=run_push)

    status = commands.add_parser(
        "status", help="a deployed stack: last polls, open and overdue turns, last summaries"
    )
    status.add_argument("--stack", required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=run_status)

    cost = commands.add_parser(
        "cost",
        help="estimate the monthly AWS cost from requests counted on moto (prices us-east-1)",
    )
    cost.add_argument("--accounts", type=int, default=10)
    cost.add_argument("--messages-per-day", type=int, default=5000, help="inbound messages")
    cost.add_argument("--brands", type=int, default=2)
    cost.add_argument(
        "--managers-per-brand",
        type=int,
        default=2,
        help="managers' e-mail addresses per brand, each e-mailed every message past its "
        "window (default: 2)",
    )
    cost.add_argument(
        "--team-emails-per-brand",
        type=int,
        default=1,
        help="the team's e-mail addresses per brand, each e-mailed every warning (default: 1)",
    )
    cost.add_argument(
        "--secrets",
        type=int,
        help="Secrets Manager secrets (default: 2, the secret every account shares and the "
        "signing key)",
    )
    cost.add_argument(
        "--minutes",
        type=int,
        default=30,
        help="minutes counted on moto after the warm-up; more gives a steadier figure "
        "(default: %(default)s)",
    )
    cost.add_argument(
        "--free-tier",
        action="store_true",
        help="compare the total after the always-free tier with the target",
    )
    cost.add_argument("--json", action="store_true")
    cost.set_defaults(run=run_cost)

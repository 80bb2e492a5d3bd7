"""`replysla`: run the local demo and operate the monitor."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reply_sla import __version__
from reply_sla.errors import ReplySlaError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="replysla", description="Reply-SLA monitor for a brand's social channels."
    )
    parser.add_argument("--version", action="version", version=f"replysla {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="play a scripted week locally (moto, a fake Mastodon) and write e-mails and a summary",
    )
    demo.add_argument("--out", default="demo-output", help="output folder (default: %(default)s)")
    demo.add_argument("--week", help="ISO week to play, like 2026-W47 (default: last week)")
    demo.add_argument(
        "--tick",
        type=int,
        default=180,
        metavar="MINUTES",
        help="longest simulated gap between scheduled runs; minutes in which nothing can "
        "happen are skipped (default: %(default)s)",
    )
    from reply_sla.cli.channel_commands import add_channel_commands
    from reply_sla.cli.policy_commands import add_commands

    add_commands(commands)
    add_channel_commands(commands)
    from reply_sla.cli.manager_commands import add_manager_commands

    add_manager_commands(commands)
    from reply_sla.cli.thread_commands import add_thread_commands

    add_thread_commands(commands)
    from reply_sla.cli.commitments_command import add_commitments_command

    add_commitments_command(commands)
    from reply_sla.cli.ops_commands import add_ops_commands

    add_ops_commands(commands)
    from reply_sla.cli.summary_commands import add_summary_commands

    add_summary_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from reply_sla.local.demo import main as demo_main

            if args.tick < 1:
                print("replysla: --tick must be at least 1 minute", file=sys.stderr)
                return 2
            return demo_main(args.out, args.week, args.tick)
        if hasattr(args, "run"):
            code: int = args.run(args)
            return code
    except ReplySlaError as exc:
        print(f"replysla: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())

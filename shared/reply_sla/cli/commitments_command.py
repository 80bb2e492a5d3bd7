"""`replysla commitments`: the brand's public response promise, from the policies it is held to.

Output on stdout (Markdown or an HTML fragment), errors on stderr, exit 2 on bad input.
"""

from __future__ import annotations

import argparse
from typing import Any

from reply_sla.cli.policy_commands import load_config
from reply_sla.domain.commitments import FORMATS, LANGUAGES, commitments


def run_commitments(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(commitments(config, args.brand, args.lang, args.format), end="")
    return 0


def add_commitments_command(commands: Any) -> None:
    """Register `commitments` on the top-level parser's subcommands."""
    parser = commands.add_parser(
        "commitments",
        help="write a brand's public response promise, derived from its policies and calendars",
    )
    parser.add_argument("--config", required=True, metavar="FILE")
    parser.add_argument("--brand", required=True, metavar="B", help="the brand's key in `brands`")
    # Checked by `commitments` itself, so a wrong value is a ConfigError (stderr, exit 2).
    parser.add_argument(
        "--lang", default="en", help=f"{' or '.join(LANGUAGES)} (default: %(default)s)"
    )
    parser.add_argument(
        "--format", default="md", help=f"{' or '.join(FORMATS)} (default: %(default)s)"
    )
    parser.set_defaults(run=run_commitments)

"""`replysla summaries list|download|open|build`: the weekly summaries a manager reads.

`list`, `download` and `open` read the summaries bucket with your own AWS credentials (so a
link that expired is no obstacle); `build` rebuilds any week from the stored events.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from reply_sla.errors import ConfigError

FORMATS = {
    "html": ["summary.html"],
    "csv": ["summary.csv", "breaches.csv"],
    "json": ["summary.json"],
}
ALL_FILES = ["summary.json", "summary.csv", "breaches.csv", "summary.html"]
_WEEK_HELP = "an ISO week like 2026-W47"


def _week(text: str) -> str:
    from reply_sla.domain.weeks import week_bounds

    try:
        week_bounds(text, "UTC")
    except ValueError as exc:
        raise ConfigError(f"--week: expected {_WEEK_HELP}, got {text!r}") from exc
    return text


def _safe_name(text: str, flag: str) -> str:
    """A brand id used in a path: no separators, no parent references."""
    if not text or "/" in text or "\\" in text or text in {".", ".."} or text.startswith("."):
        raise ConfigError(f"{flag}: {text!r} is not a brand id")
    return text


def _outputs(args: argparse.Namespace) -> dict[str, str]:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.stack import stack_outputs

    if not getattr(args, "stack", None):
        return {}
    return stack_outputs(client("cloudformation"), args.stack)


def _bucket(args: argparse.Namespace, outputs: dict[str, str]) -> str:
    from reply_sla.adapters.stack import require_output

    if args.bucket:
        return str(args.bucket)
    if args.stack:
        return require_output(outputs, "BucketName", args.stack)
    raise ConfigError("give --stack NAME (a deployed replysla stack) or --bucket NAME")


def _reports(args: argparse.Namespace, outputs: dict[str, str] | None = None) -> Any:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.s3_reports import S3ReportStore

    bucket = _bucket(args, outputs if outputs is not None else _outputs(args))
    return S3ReportStore(client("s3"), bucket)


class Progress:
    """A progress bar on a terminal (one line, redrawn); on a pipe, one line when done."""

    def __init__(self, label: str, stream: IO[str], clock: Callable[[], float] = time.monotonic):
        self._label = label
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._tty = stream.isatty()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self._tty:
            return
        now = self._clock()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 24
        share = done / total if total else 1.0
        bar = "#" * int(share * width)
        rate = done / max(now - self._started, 1e-6)
        self._stream.write(
            f"\r  {self._label:<14} [{bar:<{width}}] {share * 100:3.0f}% "
            f"{_size(done)} of {_size(total)}, {_size(int(rate))}/s"
        )
        self._stream.flush()

    def finish(self, done: int) -> None:
        seconds = self._clock() - self._started
        if self._tty:
            self._stream.write("\r" + " " * 78 + "\r")
        self._stream.write(f"  {self._label:<14} {_size(done)} in {seconds:.1f} s\n")
        self._stream.flush()


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"


def _download(reports: Any, key: str, target: Path, stream: IO[str]) -> int:
    """Download one file next to its final name, then move it in place (never half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    progress = Progress(target.name, stream)
    try:
        with partial.open("wb") as sink:
            size = int(reports.download(key, sink, progress))
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    progress.finish(size)
    return size


def run_list(args: argparse.Namespace) -> int:
    reports = _reports(args)
    prefix = f"summaries/{_safe_name(args.brand, '--brand')}/" if args.brand else "summaries/"
    weeks: dict[tuple[str, str], dict[str, Any]] = {}
    for item in reports.list(prefix):
        parts = item.key.split("/")
        if len(parts) != 4 or parts[3] not in ALL_FILES:
            continue
        entry = weeks.setdefault((parts[1], parts[2]), {"files": {}, "at": item.last_modified})
        entry["files"][parts[3]] = item.size
        entry["at"] = max(entry["at"], item.last_modified)
    if not weeks:
        print("no summaries" + (f" for brand {args.brand}" if args.brand else ""))
        return 0
    for (brand, week), entry in sorted(weeks.items()):
        files = entry["files"]
        html = files.get("summary.html")
        shown = f"summary.html {_size(html)}" if html is not None else "no summary.html"
        missing = [name for name in ALL_FILES if name not in files]
        note = f"  (missing: {', '.join(missing)})" if missing else ""
        written = entry["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        print(f"{brand}  {week:<9}  {shown:<22} written {written}{note}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    brand = _safe_name(args.brand, "--brand")
    week = "latest" if args.week == "latest" else _week(args.week)
    reports = _reports(args)
    names = FORMATS[args.format] if args.format else ALL_FILES
    folder = Path(args.out) / brand / week
    print(f"Downloading summaries/{brand}/{week}/ to {folder}", file=sys.stderr)
    for name in names:
        _download(reports, f"summaries/{brand}/{week}/{name}", folder / name, sys.stderr)
    for name in names:
        print(folder / name)
    return 0


def run_open(args: argparse.Namespace) -> int:
    reports = _reports(args)
    brand = args.brand
    if brand is None:
        brands = sorted({o.key.split("/")[1] for o in reports.list("summaries/") if "/" in o.key})
        if len(brands) != 1:
            raise ConfigError(
                "--brand: the bucket has summaries for "
                + (", ".join(brands) if brands else "no brand")
                + "; say which"
            )
        brand = brands[0]
    brand = _safe_name(brand, "--brand")
    week = _week(args.week) if args.week else "latest"
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="replysla-summary-"))
    target = out / brand / week / "summary.html"
    _download(reports, f"summaries/{brand}/{week}/summary.html", target, sys.stderr)
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        print(f"no browser found here; the report is {target}")
        return 0
    if not browser.open(target.resolve().as_uri()):
        print(f"the browser did not open; the report is {target}")
        return 0
    print(f"opened {target}")
    return 0


def _config(args: argparse.Namespace, outputs: dict[str, str]) -> Any:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.stack import read_config_text, require_output
    from reply_sla.cli.policy_commands import load_config
    from reply_sla.config import parse_config

    if args.config:
        return load_config(args.config)
    if args.stack:
        import yaml

        name = require_output(outputs, "ConfigParameterName", args.stack)
        text = read_config_text(client("ssm"), name)
        return parse_config(yaml.safe_load(text), f"SSM {name}")
    raise ConfigError("give --stack NAME, or --config FILE with --table and --bucket")


def run_build(args: argparse.Namespace) -> int:
    from reply_sla.adapters.aws import client
    from reply_sla.adapters.dynamodb_store import DynamoThreadStore
    from reply_sla.adapters.stack import require_output
    from reply_sla.domain.weeks import parse_iso, previous_week
    from reply_sla.services.summary import brand_calendar, build_weekly_summary

    week = _week(args.week)
    outputs = _outputs(args)
    config = _config(args, outputs)
    if args.brand not in config.brands:
        known = ", ".join(config.brands) or "none"
        raise ConfigError(f"--brand: no brand {args.brand!r} in the configuration (has: {known})")
    brand = config.brands[args.brand]
    table = args.table or (args.stack and require_output(outputs, "TableName", args.stack))
    if not table:
        raise ConfigError("give --stack NAME (a deployed replysla stack) or --table NAME")
    if args.as_of:
        try:
            now = parse_iso(args.as_of)
        except ValueError as exc:
            raise ConfigError(
                f"--as-of: expected an ISO 8601 time with an offset, got {args.as_of!r}"
            ) from exc
    else:
        now = datetime.now(UTC)
    notifier = None
    if args.notify:
        from reply_sla.adapters.sns_notifier import SnsNotifier

        topic = args.topic_arn or (args.stack and require_output(outputs, "TopicArn", args.stack))
        if not topic:
            raise ConfigError("--notify needs --stack NAME or --topic-arn ARN")
        notifier = SnsNotifier(client("sns"), topic)

    def zone_of(name: str) -> str:
        found = config.brands.get(name)
        return found.timezone if found else "UTC"

    store = DynamoThreadStore(client("dynamodb"), table, zone_of=zone_of)
    report = build_weekly_summary(
        args.brand,
        brand.name,
        brand.timezone,
        week,
        store,
        _reports(args, outputs),
        notifier,
        now,
        business_elapsed=brand_calendar(config, args.brand),
        # An older week rebuilt (a backfill) does not replace the brand's latest/ copy.
        update_latest=week >= previous_week(now, brand.timezone),
    )
    print(f"rebuilt {report.prefix} as of {now.isoformat()} from the stored events")
    print(
        f"  read {report.items_read:,} items in {report.requests:,} requests; "
        + ", ".join(f"{name} {_size(size)}" for name, size in report.file_bytes.items())
    )
    for key, value in report.headline.items():
        print(f"  {key}: {value}")
    print(("  notice sent; " if notifier else "  no notice sent (--notify); ") + report.link_note)
    return 0


def print_replayed_summary(args: argparse.Namespace, config: Any, replayed: list[Any]) -> int:
    """`replysla simulate --summary`: the weekly summary of the replayed messages.

    `replayed` holds what the replay judged: its facts and the ladder's events. Prints the
    summary document as JSON; with `--summary-out DIR`, writes its four files there too (run it
    under two configurations to compare a week under today's policy and a proposed one).
    """
    import json
    from dataclasses import replace

    from reply_sla.services.summary import replayed_summary, summary_files

    if not replayed:
        raise ConfigError(f"{args.messages}: no messages to replay, so no summary")
    facts, events = replayed[0]
    summary = replayed_summary(
        replace(facts, events=events), config, args.brand, args.week and _week(args.week)
    )
    if args.summary_out:
        folder = Path(args.summary_out)
        folder.mkdir(parents=True, exist_ok=True)
        for name, body in summary_files(summary).items():
            (folder / name).write_bytes(body)
        print(f"wrote {', '.join(ALL_FILES)} to {folder}", file=sys.stderr)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


def add_summary_commands(commands: Any) -> None:
    """Register `summaries` on the top-level parser's subcommands."""
    summaries = commands.add_parser("summaries", help="weekly summaries: list, download, build")
    sub = summaries.add_subparsers(dest="summaries_command", required=True)
    listing = sub.add_parser("list", help="the weeks in the summaries bucket")
    listing.add_argument("--brand")
    listing.set_defaults(run=run_list)
    download = sub.add_parser("download", help="download one week's files (with progress)")
    download.add_argument("--brand", required=True)
    download.add_argument("--week", required=True, help=f"{_WEEK_HELP}, or latest")
    download.add_argument("--format", choices=sorted(FORMATS), help="default: every file")
    download.add_argument("--out", default="summaries", metavar="DIR", help="default: %(default)s")
    download.set_defaults(run=run_download)
    opening = sub.add_parser("open", help="download the latest summary and open it in a browser")
    opening.add_argument("--brand", help="default: the only brand in the bucket")
    opening.add_argument("--week", help=f"{_WEEK_HELP} (default: the latest)")
    opening.add_argument("--out", metavar="DIR", help="default: a new temporary folder")
    opening.set_defaults(run=run_open)
    build = sub.add_parser("build", help="rebuild a week's summary from the stored events")
    build.add_argument("--brand", required=True)
    build.add_argument("--week", required=True, help=_WEEK_HELP)
    build.add_argument(
        "--as-of", metavar="ISO", help="judge the week as of this time (default: now)"
    )
    build.add_argument("--notify", action="store_true", help="send the notice to managers too")
    build.add_argument("--config", metavar="FILE", help="instead of the stack's SSM parameter")
    build.add_argument("--table", help="instead of the stack's TableName output")
    build.add_argument("--topic-arn", help="instead of the stack's TopicArn output")
    build.set_defaults(run=run_build)
    for command in (listing, download, opening, build):
        command.add_argument("--stack", help="a deployed replysla stack (reads its outputs)")
        command.add_argument("--bucket", help="the summaries bucket, instead of --stack")


def add_simulate_summary_options(simulate: Any) -> None:
    """`--summary` and its options on `replysla simulate`."""
    simulate.add_argument(
        "--summary",
        action="store_true",
        help="print the weekly summary of the replayed messages (the Monday report) instead",
    )
    simulate.add_argument("--brand", help="with --summary: the brand (default: the only one)")
    simulate.add_argument("--week", help=f"with --summary: the label, {_WEEK_HELP}")
    simulate.add_argument(
        "--summary-out", metavar="DIR", help="with --summary: also write the four files here"
    )

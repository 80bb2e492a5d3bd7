"""Every benchmark of the project, one after the other: each figure with its target, met or missed.

Runs bench/ingest_cost.py, check_cost.py, ingest_speed.py, cold_start.py, summary.py,
business_time.py, any other script of bench/, and `replysla cost` (10 accounts, 5,000 inbound
messages a day), each in its own process, shows what each prints, then a table of every figure
with its target and PASS or MISS. A benchmark that is not in this tree yet is listed as absent.
Exits 1 when a figure missed its target or a benchmark failed, else 0.

Run: `make bench` (or `.venv/bin/python bench/run_all.py [--only NAME ...]`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
# `replysla cost`: the monthly AWS bill of the example.
COST_ARGS = ["--accounts", "10", "--messages-per-day", "5000"]


@dataclass
class Figure:
    name: str
    value: str
    target: str
    ok: bool


@dataclass
class Outcome:
    figures: list[Figure] = field(default_factory=list)
    failure: str | None = None  # the benchmark could not say (crashed, or its figures unread)


Reader = Callable[[str, int, Path | None], Outcome]


@dataclass(frozen=True)
class Bench:
    name: str
    command: list[str]
    # Whether it is in this tree; None when it is.
    absent: Callable[[], str | None]
    read: Reader
    json_output: bool = False  # takes `--json FILE`
    # What to show of its standard output (it all, unless it is for the reader only).
    show: Callable[[str], str] = lambda output: output


def _script(name: str) -> Callable[[], str | None]:
    return lambda: None if (BENCH / name).exists() else f"bench/{name} is not in this tree"


def _cost_command() -> str | None:
    replysla = Path(PYTHON).parent / "replysla"
    executable = str(replysla) if replysla.exists() else shutil.which("replysla")
    if executable is None:
        return "the replysla command is not installed (make install)"
    probe = subprocess.run(
        [executable, "cost", "--help"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    return None if probe.returncode == 0 else "`replysla cost` is not a command in this tree"


def read_json(output: str, code: int, path: Path | None) -> Outcome:
    """Figures a bench of this folder wrote with `--json`."""
    if path is None or not path.exists() or not path.read_text(encoding="utf-8").strip():
        return Outcome(failure=f"exited {code} without writing its figures")
    rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return Outcome(
        [
            Figure(
                str(row["name"]),
                f"{row['value']} {row.get('unit', '')}".strip(),
                str(row["target"]),
                bool(row["ok"]),
            )
            for row in rows
            if row["target"] != "reported"
        ]
        + [
            Figure(str(row["name"]), f"{row['value']} {row.get('unit', '')}".strip(), "-", True)
            for row in rows
            if row["target"] == "reported"
        ]
    )


_PER_NEW = re.compile(r"write requests per new msg\s+([\d.]+)\s+\(target <= ([\d.]+)\)")
_REPOLL = re.compile(r"write requests on re-poll\s+(\d+)")
_LABEL = re.compile(r"^\s{2}(\S.*):\s*$")


def read_ingest_cost(output: str, code: int, _path: Path | None) -> Outcome:
    """bench/ingest_cost.py's lines: writes per new message, and on a re-poll (the cursor only)."""
    outcome = Outcome()
    label = ""
    for line in output.splitlines():
        if heading := _LABEL.match(line):
            label = heading.group(1)
        elif match := _PER_NEW.search(line):
            value, target = float(match.group(1)), float(match.group(2))
            outcome.figures.append(
                Figure(
                    f"ingest writes per new message ({label})",
                    f"{value:.2f} requests",
                    f"<= {target:g}",
                    value <= target,
                )
            )
        elif match := _REPOLL.search(line):
            # The one write of a re-poll is the account's cursor: none per stored message.
            per_message = max(0, int(match.group(1)) - 1)
            outcome.figures.append(
                Figure(
                    f"ingest writes per re-polled stored message ({label})",
                    f"{per_message} requests (+1 cursor)",
                    "0",
                    per_message == 0,
                )
            )
    if not outcome.figures or code != 0:
        outcome.failure = f"exited {code}" if code else "its figures could not be read"
    return outcome


def read_target_lines(output: str, code: int, _path: Path | None) -> Outcome:
    """A bench that prints one line per figure with its target and says `met` or `MISSED`."""
    outcome = Outcome()
    for line in output.splitlines():
        # "name: value (target: <= X) met" or "name   value unit   target <= X unit  ok";
        # a verdict line ("some targets MISSED") is no figure.
        if not re.search(r"target:?\s*(<=|<|>=|=|\d)", line):
            continue
        text = line.strip()
        missed = "MISS" in text
        if ": " in text.partition("target")[0]:
            name, _, rest = text.partition(": ")
            value, _, target = rest.partition("target")
        else:
            before, _, target = text.partition("target")
            name, _, value = before.strip().rpartition("  ")
            name, value = name.strip(), value.strip()
        target = re.sub(r"\)?\s*:?\s*(met|ok|MISSED|MISS|PASS)\s*$", "", target.strip(" :")).strip(
            " )"
        )
        outcome.figures.append(
            Figure(name[:90], value.split(" (")[0].strip(" ;,")[:60], target[:30], not missed)
        )
    if code != 0 and not any(not f.ok for f in outcome.figures):
        outcome.failure = f"exited {code}"
    if not outcome.figures and outcome.failure is None:
        outcome.failure = "printed no figure with a target"
    return outcome


def read_cost(output: str, code: int, _path: Path | None) -> Outcome:
    """`replysla cost --json`: the monthly total at list prices (and after the free tier)."""
    estimate = json.loads(output)
    total, free, target = (
        float(estimate["total_list_usd"]),
        float(estimate["total_free_tier_usd"]),
        float(estimate["target_usd"]),
    )
    judged = free if estimate.get("target_applies_to") == "free_tier" else total
    return Outcome(
        [
            Figure(
                "monthly AWS cost, 10 accounts, 5,000 inbound messages a day",
                f"{total:.2f} USD list ({free:.2f} after free tier)",
                f"< {target:g} USD ({estimate.get('target_applies_to', 'list')})",
                judged < target,
            )
        ]
    )


def show_cost(output: str) -> str:
    """The cost estimate's lines, from its JSON."""
    try:
        estimate = json.loads(output)
        lines = [
            f"  {row['service']} {row['item']}: {float(row['list_usd']):.2f} USD ({row['how']})"
            for row in estimate["month"]
        ]
        total = float(estimate["total_list_usd"])
    except (ValueError, KeyError, TypeError):
        return output
    return "\n".join([*lines, f"  total: {total:.2f} USD a month at list prices"])


KNOWN = {
    "run_all.py",
    "ingest_cost.py",
    "check_cost.py",
    "ingest_speed.py",
    "cold_start.py",
    "summary.py",
    "business_time.py",
}


def other_scripts() -> list[Bench]:
    """Benchmarks of bench/ this runner does not know by name: their lines with a target."""
    return [
        Bench(path.stem, [PYTHON, str(path)], _script(path.name), read_target_lines)
        for path in sorted(BENCH.glob("*.py"))
        if path.name not in KNOWN and "__main__" in path.read_text(encoding="utf-8")
    ]


BENCHES = [
    Bench(
        "ingest_cost",
        [PYTHON, str(BENCH / "ingest_cost.py")],
        _script("ingest_cost.py"),
        read_ingest_cost,
    ),
    Bench(
        "check_cost",
        [PYTHON, str(BENCH / "check_cost.py")],
        _script("check_cost.py"),
        read_json,
        json_output=True,
    ),
    Bench(
        "ingest_speed",
        [PYTHON, str(BENCH / "ingest_speed.py")],
        _script("ingest_speed.py"),
        read_json,
        json_output=True,
    ),
    Bench(
        "cold_start",
        [PYTHON, str(BENCH / "cold_start.py")],
        _script("cold_start.py"),
        read_json,
        json_output=True,
    ),
    Bench(
        "summary",
        [PYTHON, str(BENCH / "summary.py")],
        _script("summary.py"),
        read_target_lines,
    ),
    Bench(
        "business_time",
        [PYTHON, str(BENCH / "business_time.py")],
        _script("business_time.py"),
        read_target_lines,
    ),
    *other_scripts(),
    Bench(
        "cost",
        [str(Path(PYTHON).parent / "replysla"), "cost", *COST_ARGS, "--json"],
        _cost_command,
        read_cost,
        show=show_cost,
    ),
]


def run(bench: Bench, scratch: Path) -> Outcome:
    json_path = scratch / f"{bench.name}.json" if bench.json_output else None
    command = bench.command + (["--json", str(json_path)] if json_path else [])
    print(f"\n== {bench.name}: {' '.join(Path(c).name if c == PYTHON else c for c in command)}")
    started = time.monotonic()
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    print(bench.show(process.stdout).rstrip())
    if process.returncode != 0 and process.stderr.strip():
        print(process.stderr.rstrip()[-3000:])
    print(f"   ({time.monotonic() - started:.0f} s, exit {process.returncode})")
    try:
        return bench.read(process.stdout, process.returncode, json_path)
    except (ValueError, KeyError, TypeError) as exc:
        return Outcome(failure=f"its figures could not be read: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [b.name for b in BENCHES]
    parser.add_argument("--only", action="append", choices=names, help="run only these")
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    figures: list[Figure] = []
    failures: list[str] = []
    absent: list[str] = []
    with tempfile.TemporaryDirectory(prefix="replysla-bench-") as tmp:
        for bench in chosen:
            reason = bench.absent()
            if reason is not None:
                absent.append(f"{bench.name}: {reason}")
                continue
            outcome = run(bench, Path(tmp))
            figures += outcome.figures
            if outcome.failure:
                failures.append(f"{bench.name}: {outcome.failure}")
    width = max([len(f.name) for f in figures] + [20])
    print("\n== figures")
    for figure in figures:
        verdict = "" if figure.target == "-" else ("PASS" if figure.ok else "MISS")
        print(f"  {figure.name:<{width}}  {figure.value:<28}  {figure.target:<26}  {verdict}")
    for line in absent:
        print(f"  ABSENT  {line}")
    for line in failures:
        print(f"  FAILED  {line}")
    missed = [f for f in figures if not f.ok]
    print(
        f"\n{len(figures)} figures, {len(missed)} missed, {len(failures)} benchmark(s) failed, "
        f"{len(absent)} absent"
    )
    return 1 if missed or failures else 0


if __name__ == "__main__":
    raise SystemExit(main())

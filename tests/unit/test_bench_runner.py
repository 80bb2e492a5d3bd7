"""`make bench`'s runner reads each benchmark's figures, whichever of the two line forms it
prints, and never takes a verdict line for a figure."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run_all", ROOT / "bench" / "run_all.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SUMMARY_OUTPUT = """\
1. weekly_summary over 1,000,000 turns (pure, in memory)
  CPU: the store's items into columns 2.66 s (not the computation)
  CPU time of the computation (from the columns)          7.45 s      target <= 5.00 s  MISSED
  time to build the summary (wall)                        48.5 s      target <= 120.0 s  ok
  summary.html size                                        161 KB     target <= 977 KB  ok

some targets MISSED
"""

COLON_OUTPUT = """\
  latest escalation after its due time: 59 s (target: <= 60 s, one check interval) PASS
  10000 deadlines of 1-30 business days: median 0.103 s of 5 runs (target: < 1 s) MISSED
"""


def test_column_lines_give_name_value_and_target_and_verdict_lines_are_skipped() -> None:
    outcome = _runner().read_target_lines(SUMMARY_OUTPUT, 1, None)
    assert [(f.name, f.value, f.target, f.ok) for f in outcome.figures] == [
        ("CPU time of the computation (from the columns)", "7.45 s", "<= 5.00 s", False),
        ("time to build the summary (wall)", "48.5 s", "<= 120.0 s", True),
        ("summary.html size", "161 KB", "<= 977 KB", True),
    ]
    assert outcome.failure is None


def test_colon_lines_give_name_value_and_target() -> None:
    outcome = _runner().read_target_lines(COLON_OUTPUT, 0, None)
    assert [(f.name, f.value, f.target, f.ok) for f in outcome.figures] == [
        ("latest escalation after its due time", "59 s", "<= 60 s, one check interval", True),
        ("10000 deadlines of 1-30 business days", "median 0.103 s of 5 runs", "< 1 s", False),
    ]

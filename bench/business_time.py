"""Time to compute 10,000 business-time deadlines of 1 to 30 business days (SLA_SEMANTICS §5).

A Madrid office of 9-hour days (09:00-14:00 and 15:00-19:00, Monday to Friday) with the ES/MD
public holidays; starts are random instants over 2026, budgets random between 1 and 30 business
days, with a fixed seed. Each run builds a fresh calendar, so its per-day cache starts cold.
Prints the median of 5 runs against the target. Not part of `make test`.
Run: `.venv/bin/python bench/business_time.py`.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from reply_sla.domain.business_time import BusinessCalendar, CalendarConfig  # noqa: E402

DEADLINES = 10_000
RUNS = 5
TARGET_SECONDS = 1.0
BUSINESS_DAY = 9 * 3600
SEED = 20261208
CONFIG = CalendarConfig.model_validate(
    {
        "timezone": "Europe/Madrid",
        "hours": {
            day: ["09:00-14:00", "15:00-19:00"] for day in ("mon", "tue", "wed", "thu", "fri")
        },
        "holidays": {"country": "ES", "subdivision": "MD"},
    }
)


def workload() -> list[tuple[datetime, float]]:
    rng = random.Random(SEED)
    year = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        (
            year + timedelta(seconds=rng.randrange(365 * 86400)),
            rng.uniform(1, 30) * BUSINESS_DAY,
        )
        for _ in range(DEADLINES)
    ]


def one_run(cases: list[tuple[datetime, float]]) -> float:
    calendar = BusinessCalendar.from_config(CONFIG)
    began = time.perf_counter()
    for start, budget in cases:
        calendar.deadline(start, budget)
    return time.perf_counter() - began


def main() -> int:
    cases = workload()
    runs = [one_run(cases) for _ in range(RUNS)]
    median = statistics.median(runs)
    print(
        f"{DEADLINES} deadlines of 1-30 business days (Madrid, 9 h days, ES/MD holidays): "
        f"median {median:.3f} s of {RUNS} runs "
        f"(runs: {', '.join(f'{run:.3f}' for run in runs)}); target < {TARGET_SECONDS:.0f} s: "
        f"{'met' if median < TARGET_SECONDS else 'MISSED'}"
    )
    return 0 if median < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())

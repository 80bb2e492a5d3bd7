"""Escalations in a simulated week of 1,000 turns: SNS publishes with and without digests, and
how late each escalation reaches the topic after its due time.

Runs `simulate`, which drives the very `check_sla` the Lambda runs (on an in-memory store with
the DynamoDB store's conditions), checking every minute as the deployed schedule does.

    python bench/escalations.py [--turns 1000] [--seed 7]

Targets: every level that is not held by quiet hours reaches the topic at most one check
interval (60 s) after it falls due; digests publish fewer messages than one per turn.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from reply_sla.config import parse_config
from reply_sla.domain.engine import PolicyEngine
from reply_sla.services.checking import ladder
from reply_sla.services.simulate import read_messages, simulate

CHECK_EVERY = 60
WEEK_START = datetime(2026, 11, 16, tzinfo=UTC)  # Monday 2026-W47
CHANNELS = ("mastodon", "x", "facebook", "discourse", "bluesky")


def config(quiet_hours: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "calendars": {
            "office": {
                "timezone": "Europe/Madrid",
                "hours": {d: ["09:00-19:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            }
        },
        "brands": {"acme": {"name": "ACME", "calendar": "office", "timezone": "Europe/Madrid"}},
        "accounts": [
            {
                "id": f"acme-{channel}",
                "brand": "acme",
                "channel": channel,
                "credentials": {"token": "unused"},
                "own_ids": ["acme"],
            }
            for channel in CHANNELS
        ],
        "policies": [
            {
                "name": "default",
                "clock": "calendar",
                "first_response": "2h",
                "next_response": "2h",
                "ladder": [
                    {"level": "warning", "at": "75%"},
                    {"level": "breach", "at": "100%"},
                    {"level": "manager", "at": "+2h"},
                ],
            }
        ],
    }
    if quiet_hours:
        document["notifications"] = {"quiet_hours": {"calendar": "office"}}
    return document


def week_of_messages(turns: int, seed: int) -> list[str]:
    """One question per thread at a random minute of the week; 60 % answered after 5 min to
    5 h (some late), 40 % never answered."""
    rng = random.Random(seed)
    lines = []
    for i in range(turns):
        channel = CHANNELS[i % len(CHANNELS)]
        asked = WEEK_START + timedelta(seconds=rng.randrange((7 * 24 * 60 - 360) * 60))
        base = {"channel": channel, "account": f"acme-{channel}", "thread_id": f"t{i}"}
        lines.append(
            json.dumps(
                {
                    **base,
                    "message_id": f"q{i}",
                    "author_id": f"customer{i}",
                    "created_at": asked.isoformat(),
                    "text": "Where is my order?",
                }
            )
        )
        if rng.random() < 0.6:
            answered = asked + timedelta(seconds=rng.randrange(5 * 60, 300 * 60))
            lines.append(
                json.dumps(
                    {
                        **base,
                        "message_id": f"a{i}",
                        "author_id": "acme",
                        "created_at": answered.isoformat(),
                        "text": "Sorted, thanks!",
                    }
                )
            )
    return lines


def run(turns: int, seed: int, quiet_hours: bool, digests: bool) -> dict[str, Any]:
    parsed = parse_config(config(quiet_hours))
    messages = read_messages(week_of_messages(turns, seed), parsed, "bench")
    started = time.perf_counter()
    result = simulate(
        parsed,
        messages,
        until=WEEK_START + timedelta(days=7),
        check_every=CHECK_EVERY,
        digests=digests,
    )
    elapsed = time.perf_counter() - started
    engine = PolicyEngine.from_config(parsed)
    lateness = []
    for row in result["turns"]:
        opened = datetime.fromisoformat(row["opened_at"])
        due_at = {
            name: at
            for name, at in ladder(
                _turn(row, opened, engine),
                engine.book,
            )
        }
        for fired in row["escalations"]:
            at = datetime.fromisoformat(fired["at"])
            lateness.append((at - due_at[fired["level"]]).total_seconds())
    return {
        "turns": len(result["turns"]),
        "published": result["summary"]["notifications_published"],
        "by_kind": result["summary"]["notifications_by_kind"],
        "levels_fired": sum(len(r["escalations"]) for r in result["turns"]),
        "max_lateness_s": max(lateness, default=0.0),
        "seconds": elapsed,
    }


def _turn(row: dict[str, Any], opened: datetime, engine: PolicyEngine) -> Any:
    from reply_sla.domain.models import Priority, Turn, TurnKind

    return Turn(
        brand="acme",
        account_id="a",
        channel="mastodon",
        thread_id=row["thread_id"],
        seq=row["turn"],
        kind=TurnKind.FIRST if row["turn"] == 1 else TurnKind.NEXT,
        opened_at=opened,
        opened_by="q",
        author_id="c",
        priority=Priority(row["priority"]),
        policy=row["policy"],
        target_seconds=0,
        due_at=datetime.fromisoformat(row["due_at"]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ok = True
    print(f"Simulated week of {args.turns} turns on 5 channels, checked every {CHECK_EVERY} s")
    for quiet in (False, True):
        with_digests = run(args.turns, args.seed, quiet, True)
        without = run(args.turns, args.seed, quiet, False)
        label = "alerts in office hours only" if quiet else "alerts at any hour"
        print(f"- {label}:")
        print(
            f"  SNS publishes: {with_digests['published']} with digests "
            f"{with_digests['by_kind']}, {without['published']} without {without['by_kind']}"
        )
        print(
            f"  levels fired: {with_digests['levels_fired']} (same without digests: "
            f"{without['levels_fired'] == with_digests['levels_fired']}); simulated in "
            f"{with_digests['seconds']:.1f} s"
        )
        ok &= without["levels_fired"] == with_digests["levels_fired"]
        if not quiet:
            late = max(with_digests["max_lateness_s"], without["max_lateness_s"])
            met = late <= CHECK_EVERY
            ok &= met
            print(
                f"  latest escalation after its due time: {late:.0f} s "
                f"(target: <= {CHECK_EVERY} s, one check interval) {'PASS' if met else 'MISS'}"
            )
        ok &= with_digests["published"] <= without["published"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

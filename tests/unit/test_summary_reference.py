"""The weekly summary against a plain reference computation, figure for figure.

`weekly_summary` reads a week as columns and adds accounts up without merged copies (see
reply_sla.domain.summary); the reference below takes the definitions of docs/summaries.md
literally: one scope at a time, its own facts filtered from all of them, lists sorted in full,
silent stretches by cutting the union of the waits at every post. Seeded random weeks with every
kind of fact (several accounts on one channel, DMs, broadcasts, bot and staff posts, snoozes,
dismissals, open turns of earlier weeks, replies after the summary was made, clocks that did
not measure, a zero target, times in several offsets, earlier weeks' breach authors) must give
the same document.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from reply_sla.domain.aggregates import history_from
from reply_sla.domain.models import (
    Direction,
    EventType,
    Message,
    Priority,
    SlaEvent,
    Turn,
    TurnKind,
    TurnStatus,
)
from reply_sla.domain.reputation import reputation, speed_of
from reply_sla.domain.summary import (
    BROADCAST_CHANNELS,
    WeekColumns,
    WeekFacts,
    _isoformat,
    breach_row,
    week_metrics,
    weekly_summary,
)
from reply_sla.domain.weeks import week_bounds, weeks_before
from tests.unit import builders
from tests.unit.builders import turn_event

ACCOUNTS = [
    ("acme-x", "x"),
    ("acme-x2", "x"),
    ("acme-fb", "facebook"),
    ("acme-ig", "instagram"),
    ("acme-masto", "mastodon"),
    ("acme-forum", "discourse"),
]
# (seed, week, zone, turns, summary made after the week or in its middle, business clock)
CASES = [
    (1, "2026-W47", "Europe/Madrid", 60, "after", True),
    (2, "2026-W43", "Europe/Madrid", 80, "after", False),  # clocks go back on Sunday
    (3, "2026-W13", "Europe/Madrid", 70, "middle", True),  # clocks go forward on Sunday
    (4, "2026-W44", "America/New_York", 90, "after", False),
    (5, "2026-W02", "Asia/Kolkata", 50, "middle", False),
    (6, "2026-W47", "UTC", 120, "after", True),
]


def office_hours(start: datetime, end: datetime) -> float:
    """A business clock: the seconds within 08:00-20:00 UTC of any day."""
    total, day = 0.0, datetime(start.year, start.month, start.day, tzinfo=UTC)
    while day < end:
        lo, hi = max(start, day + timedelta(hours=8)), min(end, day + timedelta(hours=20))
        total += max(0.0, (hi - lo).total_seconds())
        day += timedelta(days=1)
    return total


def random_week(seed: int, week: str, zone: str, count: int, made: str, clock: bool) -> WeekFacts:
    rnd = random.Random(seed)
    start, end = week_bounds(week, zone)
    now = end + timedelta(hours=7) if made == "after" else start + timedelta(days=4, hours=3)
    span = (end - start).total_seconds()
    offsets = [UTC, timezone(timedelta(hours=2))]
    authors = [f"c{i}" for i in range(count // 5)]
    ids = itertools.count()

    def at(base: datetime, seconds: float) -> datetime:
        return (base + timedelta(seconds=seconds)).astimezone(rnd.choice(offsets))

    def message(
        account: str, channel: str, when: datetime, direction: Direction, **kw: Any
    ) -> Message:
        return Message(
            brand="acme",
            account_id=account,
            channel=channel,
            message_id=kw.pop("message_id", f"m{next(ids)}"),
            author_id="brand" if direction is not Direction.INBOUND else rnd.choice(authors),
            created_at=when,
            direction=direction,
            **kw,
        )

    turns: list[Turn] = []
    messages: list[Message] = []
    events: list[SlaEvent] = []
    open_turns: list[Turn] = []
    for i in range(count):
        account, channel = rnd.choice(ACCOUNTS)
        opened = at(start, rnd.uniform(-2 * 86400, span + 3600))
        target = rnd.choice([900, 3600, 7200, 86400, 0])
        values: dict[str, Any] = {}
        replied = None
        roll = rnd.random()
        if roll < 0.65:
            waited = rnd.choice([rnd.expovariate(1 / 3000), rnd.uniform(0, 2 * 86400), 0.0])
            replied = at(opened, waited)
            measured = None if rnd.random() < 0.15 else waited * rnd.choice([1.0, 0.4])
            values = {
                "status": TurnStatus.ANSWERED,
                "replied_at": replied,
                "response_seconds": measured,
                "breached": (waited if measured is None else measured) > target,
            }
        elif roll < 0.8:
            values = {"status": TurnStatus.DISMISSED}
        if rnd.random() < 0.2:
            since = opened + timedelta(seconds=rnd.uniform(0, 5000))
            values["pauses"] = ((since, since + timedelta(seconds=rnd.uniform(0, 9000))),)
        if rnd.random() < 0.1:
            snoozed = opened + timedelta(seconds=rnd.uniform(0, 100_000))
            values["snoozed_at"] = snoozed
            values["snoozed_until"] = rnd.choice([None, snoozed + timedelta(hours=30)])
        turn = Turn(
            brand="acme",
            account_id=account,
            channel=channel,
            thread_id=f"t{i}",
            seq=rnd.choice([1, 2]),
            kind=rnd.choice([TurnKind.FIRST, TurnKind.FIRST, TurnKind.NEXT]),
            opened_at=opened,
            opened_by=f"q{i}",
            author_id=rnd.choice(authors),
            author_handle=rnd.choice(["", "@ana"]),
            author_name=rnd.choice(["", "Ana"]),
            text=rnd.choice(["where is my order?", "x" * 400]),
            url=f"https://social.example/t{i}",
            private=channel in ("x", "facebook", "instagram") and rnd.random() < 0.4,
            priority=rnd.choice(list(Priority)),
            policy="standard",
            target_seconds=target,
            due_at=opened + timedelta(seconds=target + rnd.choice([0, 600])),
            **values,
        )
        turns.append(turn)
        messages.append(message(account, channel, opened, Direction.INBOUND, thread_id=f"t{i}"))
        if replied is not None and account != "acme-forum" and rnd.random() < 0.9:
            messages.append(
                message(
                    account,
                    channel,
                    replied,
                    Direction.OUTBOUND,
                    thread_id=f"t{i}",
                    parent_id=f"q{i}",
                )
            )
        if turn.status is TurnStatus.OPEN and rnd.random() < 0.9:
            open_turns.append(turn)
        for level, kind in (("warning", EventType.WARNING), ("breach", EventType.BREACHED)):
            if rnd.random() < 0.4:
                events.append(
                    turn_event(
                        turn, kind, opened + timedelta(minutes=40), rnd.choice([level, None])
                    )
                )
        if turn.status is TurnStatus.DISMISSED and rnd.random() < 0.8:
            events.append(
                turn_event(
                    turn,
                    EventType.DISMISSED,
                    opened + timedelta(minutes=30),
                    **rnd.choice([{"by": "lead"}, {}]),
                )
            )
        if rnd.random() < 0.15:
            events.append(
                turn_event(turn, EventType.SNOOZED, opened + timedelta(minutes=5), by="sam")
            )
            events.append(
                turn_event(
                    turn,
                    EventType.RESUMED,
                    opened + timedelta(minutes=50),
                    snoozed_by="sam",
                    paused_seconds="600",
                    paused_calendar_seconds="900.5",
                )
            )
    for k in range(count // 3):  # thanks, broadcasts, bot and staff posts, some outside the week
        account, channel = rnd.choice(ACCOUNTS)
        when = at(start, rnd.uniform(-86400, span + 86400))
        direction = rnd.choice(list(Direction))
        thread = rnd.choice([None, f"b{k}", f"other{k}"])
        messages.append(
            message(
                account,
                channel,
                when,
                direction,
                message_id=f"b{k}",
                thread_id=thread,
                private=rnd.random() < 0.2,
            )
        )
    for k in range(4):  # still open from earlier weeks, one snoozed, one answered after `now`
        account, channel = rnd.choice(ACCOUNTS)
        opened = start - timedelta(days=rnd.uniform(1, 30))
        extra: dict[str, Any] = {}
        if k == 1:
            extra = {
                "snoozed_at": now - timedelta(hours=5),
                "snoozed_until": now + timedelta(hours=3),
            }
        if k == 2:
            extra = {
                "status": TurnStatus.ANSWERED,
                "replied_at": now + timedelta(hours=2),
                "response_seconds": 1e6,
                "breached": True,
            }
        old = Turn(
            brand="acme",
            account_id=account,
            channel=channel,
            thread_id=f"old{k}",
            seq=1,
            kind=TurnKind.FIRST,
            opened_at=opened,
            opened_by="q",
            author_id=rnd.choice(authors),
            url=f"https://social.example/old{k}",
            policy="p",
            target_seconds=3600,
            due_at=opened + timedelta(hours=1),
            **extra,
        )
        open_turns += [old, old] if k == 3 else [old]
    # An open turn read twice (it counts once), and a reply at the very instant the summary is
    # made (it counts as answered).
    turns += [t for t in turns if t.status is TurnStatus.OPEN and t in open_turns][:1]
    answered_now = turns[0].model_copy(
        update={
            "thread_id": "at-now",
            "opened_at": now - timedelta(hours=2),
            "due_at": now - timedelta(hours=1),
            "status": TurnStatus.ANSWERED,
            "replied_at": now,
            "response_seconds": 7200.0,
            "breached": True,
        }
    )
    turns.append(answered_now)
    rnd.shuffle(turns)
    rnd.shuffle(messages)
    earlier = weeks_before(week, 7)
    stored = {
        w: {
            "scopes": {"brand": {"sla_attainment": 0.5}},
            "escalations": {},
            "breach_authors": [
                {
                    "account": account,
                    "channel": channel,
                    "author_id": rnd.choice(authors),
                    "customer": "@old",
                    "breaches": 1,
                    "link": "https://old",
                    "last_due_at": "2026-01-01T00:00:00+00:00",
                }
                for account, channel in rnd.choices(ACCOUNTS, k=count // 10)
            ],
        }
        for w in earlier[-3:]
    }
    return WeekFacts(
        start=start,
        end=end,
        now=now.astimezone(UTC),
        messages=messages,
        turns=turns,
        events=events,
        open_turns=open_turns,
        business=office_hours if clock else None,
        timezone=zone,
        history=history_from(earlier, stored, earlier[-3:]),
    )


# The reference ----------------------------------------------------------------------------


def ts(instant: datetime) -> float:
    return instant.timestamp()


def answered_by(turn: Turn, now: datetime) -> datetime | None:
    if turn.status is TurnStatus.ANSWERED and turn.replied_at and turn.replied_at <= now:
        return turn.replied_at
    return None


def minus_pauses(a: float, b: float, turn: Turn, now: datetime) -> list[tuple[float, float]]:
    spans = list(turn.pauses)
    if turn.snoozed_at is not None:
        spans.append((turn.snoozed_at, min(turn.snoozed_until or now, now)))
    pieces = [(a, b)]
    for since, until in spans:
        p, q = ts(since), ts(until)
        pieces = [
            piece
            for x, y in pieces
            for piece in ((x, min(y, p)), (max(x, q), y))
            if piece[0] < piece[1]
        ]
    return pieces


def snoozed_now(turn: Turn, now: datetime) -> bool:
    return (
        turn.snoozed_at is not None
        and turn.snoozed_at <= now
        and (turn.snoozed_until is None or turn.snoozed_until > now)
    )


def counted_turns(facts: WeekFacts) -> tuple[list[Turn], list[Turn]]:
    """The week's turns and the earlier weeks' open ones, each open turn once."""
    now, open_keys, seen = facts.now, {t.key for t in facts.open_turns}, set()
    week = []
    for turn in facts.turns:
        if turn.status is TurnStatus.OPEN and open_keys:
            if turn.key in seen:
                continue
            if turn.key in open_keys:
                seen.add(turn.key)
        week.append(turn)
    earlier = []
    for turn in facts.open_turns:
        still = turn.status is TurnStatus.OPEN or (
            turn.status is TurnStatus.ANSWERED and answered_by(turn, now) is None
        )
        if turn.key not in seen and still:
            seen.add(turn.key)
            earlier.append(turn)
    return week, earlier


def order_of_accounts(facts: WeekFacts) -> list[str]:
    """The accounts a summary speaks of, in the order first seen: those of the messages, the
    turns, the earlier weeks' open turns counted, and the week's events."""
    _week, earlier = counted_turns(facts)
    events = [e for e in facts.events if facts.start <= e.at < facts.end and e.at <= facts.now]
    seen: dict[str, None] = {}
    for fact in itertools.chain(facts.messages, facts.turns, earlier, events):
        seen.setdefault(fact.account_id, None)
    return list(seen)


def stats(values: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return {"count": 0, "median": None, "p90": None, "mean": None}
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {
        "count": n,
        "median": round(median, 1),
        "p90": round(ordered[max(1, math.ceil(0.9 * n)) - 1], 1),
        "mean": round(math.fsum(ordered) / n, 1),
    }


def stretches(
    waits: list[tuple[float, float]], posts: list[float], facts: WeekFacts, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """Every piece of the waits' union between posts, measured, the 5 longest."""
    union: list[list[float]] = []
    for a, b in sorted(waits):
        if union and a <= union[-1][1]:
            union[-1][1] = max(union[-1][1], b)
        else:
            union.append([a, b])
    pieces = []
    for u, v in union:
        cuts = [u, *sorted(p for p in posts if u < p < v), v]
        pieces += [(a, b) for a, b in itertools.pairwise(cuts) if a < b]

    def measured(a: float, b: float) -> float:
        if facts.business is None:
            return b - a
        return facts.business(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))

    ranked = sorted(((measured(a, b), a, b) for a, b in pieces), key=lambda r: (-r[0], r[1]))
    return [
        {
            "start": datetime.fromtimestamp(a, UTC).astimezone(zone).isoformat(),
            "end": datetime.fromtimestamp(b, UTC).astimezone(zone).isoformat(),
            "business_seconds": round(m),
            "calendar_seconds": round(b - a),
            "turns_waiting": sum(1 for x, y in waits if x < b and y > a),
        }
        for m, a, b in ranked[:5]
    ]


def customers_at_risk(
    breaches: list[tuple[float, str, Turn]], facts: WeekFacts
) -> list[dict[str, Any]]:
    """Breached more than once in 4 weeks, or complained and waited past the deadline."""
    now_count: dict[tuple[str, str], int] = {}
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    complained = set()
    for _due, key, turn in breaches:  # earliest deadline first
        who = (turn.account_id, turn.author_id)
        now_count[who] = now_count.get(who, 0) + 1
        latest[who] = breach_row(turn, facts.now, key)
        if turn.priority in (Priority.HIGH, Priority.URGENT):
            complained.add(who)
    before: dict[tuple[str, str], int] = {}
    for row in facts.history.breach_authors:
        who = (str(row["account"]), str(row["author_id"]))
        before[who] = before.get(who, 0) + int(row["breaches"])
    people = []
    for who in now_count.keys() | before.keys():
        total = now_count.get(who, 0) + before.get(who, 0)
        if total <= 1 and who not in complained:
            continue
        if who in latest:
            row = latest[who]
            shown = (
                row["customer"] or row["author_id"],
                row["channel"],
                row["link"],
                row["due_at"],
            )
        else:
            last = [
                r
                for r in facts.history.breach_authors
                if (str(r["account"]), str(r["author_id"])) == who
            ][-1]
            shown = (
                str(last["customer"]),
                str(last["channel"]),
                str(last["link"]),
                str(last["last_due_at"]),
            )
        people.append(
            {
                "customer": shown[0],
                "author_id": who[1],
                "account": who[0],
                "channel": shown[1],
                "breaches_4_weeks": total,
                "breaches_this_week": now_count.get(who, 0),
                "complained": who in complained,
                "link": shown[2],
                "last_due_at": shown[3],
            }
        )
    return sorted(
        people,
        key=lambda p: (-p["breaches_4_weeks"], not p["complained"], p["account"], p["author_id"]),
    )


def reference_metrics(
    facts: WeekFacts, members: Sequence[str], at_risk: list[dict[str, Any]]
) -> dict[str, Any]:
    """One scope's metrics: the accounts `members`, in the order their sums are added."""
    start, end, now, zone = facts.start, facts.end, facts.now, ZoneInfo(facts.zone)
    horizon = min(ts(end), ts(now))
    mine: Callable[[Any], bool] = lambda fact: fact.account_id in members  # noqa: E731
    week_turns, earlier = counted_turns(facts)
    posting = {m.account_id for m in facts.messages if m.direction is Direction.OUTBOUND}
    f = {"opened": 0, "answered": 0, "dismissed": 0, "due": 0, "on_time": 0, "high": 0}
    first_c, first_b, next_c, next_b = [], [], [], []
    waits, posts, breaches, overdue = [], [], [], []
    heat_breaches = [[0] * 24 for _ in range(7)]
    speeds: dict[str, float] = {}
    speed_count = still_snoozed = 0
    for turn in filter(mine, week_turns):
        reply = answered_by(turn, now)
        key = turn.key
        if turn.status is not TurnStatus.DISMISSED:
            a, b = max(ts(turn.opened_at), ts(start)), min(ts(reply) if reply else horizon, horizon)
            if a < b:
                if turn.pauses or turn.snoozed_at is not None:
                    still_snoozed += snoozed_now(turn, now) and reply is None
                    waits += minus_pauses(a, b, turn, now)
                else:
                    waits.append((a, b))
            if reply is None and turn.due_at < now:
                overdue.append((ts(turn.due_at), key, turn))
            if reply and turn.account_id not in posting and ts(start) <= ts(reply) < horizon:
                posts.append(ts(reply))
        if start <= turn.opened_at < end:
            f["opened"] += 1
            f["high"] += turn.priority in (Priority.HIGH, Priority.URGENT)
            if turn.status is TurnStatus.DISMISSED:
                f["dismissed"] += 1
            elif reply is not None:
                f["answered"] += 1
                calendar = ts(reply) - ts(turn.opened_at)
                business = calendar if turn.response_seconds is None else turn.response_seconds
                (first_c if turn.kind is TurnKind.FIRST else next_c).append(calendar)
                (first_b if turn.kind is TurnKind.FIRST else next_b).append(business)
                speeds[turn.account_id] = speeds.get(turn.account_id, 0.0) + speed_of(
                    business, turn.target_seconds
                )
                speed_count += 1
        due_in_week = start <= turn.due_at < end and turn.due_at <= now
        if due_in_week and turn.status is not TurnStatus.DISMISSED:
            f["due"] += 1
            late = turn.breached if reply else now > turn.due_at
            f["on_time"] += bool(reply) and not late
            if late:
                breaches.append((ts(turn.due_at), key, turn))
                local = turn.opened_at.astimezone(zone)
                heat_breaches[local.weekday()][local.hour] += 1
    for turn in filter(mine, earlier):
        still_snoozed += snoozed_now(turn, now)
        waits += minus_pauses(max(ts(turn.opened_at), ts(start)), horizon, turn, now)
        if turn.due_at < now:
            overdue.append((ts(turn.due_at), turn.key, turn))
    replies = replies_seen = broadcasts = 0
    heat_inbound = [[0] * 24 for _ in range(7)]
    for message in filter(mine, facts.messages):
        if message.direction is Direction.INBOUND and start <= message.created_at < end:
            local = message.created_at.astimezone(zone)
            heat_inbound[local.weekday()][local.hour] += 1
        elif (
            message.direction is Direction.OUTBOUND
            and ts(start) <= ts(message.created_at) < horizon
        ):
            posts.append(ts(message.created_at))
            thread = message.thread_id
            if message.parent_id is not None or (thread and thread != message.message_id):
                replies += 1
                replies_seen += message.channel in BROADCAST_CHANNELS
            elif not message.private and message.channel in BROADCAST_CHANNELS:
                broadcasts += 1
    levels: dict[str, int] = {}
    dismissed: dict[str, dict[str, list[float]]] = {}
    snoozed: dict[str, dict[str, list[float]]] = {}
    opened_at = {
        (t.account_id, t.thread_id, t.seq): t.opened_at
        for t in itertools.chain(facts.turns, facts.open_turns)
    }
    for event in filter(mine, facts.events):
        if not start <= event.at < end or event.at > now:
            continue
        if event.type in (EventType.WARNING, EventType.BREACHED, EventType.ESCALATED):
            name = event.level or event.type.value
            levels[name] = levels.get(name, 0) + 1
        elif event.type is EventType.DISMISSED:
            since = opened_at.get((event.account_id, event.thread_id, event.turn_seq))
            row = dismissed.setdefault(event.account_id, {}).setdefault(
                event.detail.get("by") or "unknown", [0, 0.0]
            )
            row[0] += 1
            row[1] += max(0.0, (event.at - since).total_seconds() if since else 0.0)
        elif event.type is EventType.SNOOZED:
            snoozed.setdefault(event.account_id, {}).setdefault(
                event.detail.get("by") or "unknown", [0, 0.0, 0.0]
            )[0] += 1
        elif event.type is EventType.RESUMED:
            person = event.detail.get("snoozed_by") or event.detail.get("by") or "unknown"
            row = snoozed.setdefault(event.account_id, {}).setdefault(person, [0, 0.0, 0.0])
            row[1] += max(0.0, float(event.detail.get("paused_seconds") or 0))
            row[2] += max(0.0, float(event.detail.get("paused_calendar_seconds") or 0))
    # Sums of floats add account by account, in the scope's order (as the document adds them).
    speed_sum = 0.0
    people: dict[str, dict[str, list[float]]] = {"dismissed": {}, "snoozed": {}}
    for account in members:
        speed_sum += speeds.get(account, 0.0)
        for kind, found in (("dismissed", dismissed), ("snoozed", snoozed)):
            for person, row in found.get(account, {}).items():
                total = people[kind].setdefault(person, [0, 0.0, 0.0])
                for i, value in enumerate(row):
                    total[i] += value
    visible = any(
        channel in BROADCAST_CHANNELS for account, channel in ACCOUNTS if account in members
    )
    response_rate = (
        round(f["answered"] / (f["opened"] - f["dismissed"]), 4)
        if f["opened"] - f["dismissed"]
        else None
    )
    attainment = round(f["on_time"] / f["due"], 4) if f["due"] else None
    score, parts = reputation(
        {
            "sla_attainment": attainment,
            "response_rate": response_rate,
            "speed": speed_sum / speed_count if speed_count else None,
            "sentiment": 1 - f["high"] / f["opened"] if f["opened"] else None,
        }
    )
    d, s = people["dismissed"], people["snoozed"]
    return {
        "inbound_messages": sum(map(sum, heat_inbound)),
        "turns_opened": f["opened"],
        "turns_answered": f["answered"],
        "turns_dismissed": f["dismissed"],
        "response_rate": response_rate,
        "turns_due": f["due"],
        "turns_on_time": f["on_time"],
        "sla_attainment": attainment,
        "first_response_seconds": {"business": stats(first_b), "calendar": stats(first_c)},
        "next_response_seconds": {"business": stats(next_b), "calendar": stats(next_c)},
        "breaches": [
            breach_row(turn, now, key) for _due, key, turn in sorted(breaches, key=lambda b: b[:2])
        ],
        "open_overdue": len(overdue),
        "escalations_sent": dict(sorted(levels.items())),
        "pause_audit": {
            "dismissed": {
                "count": int(sum(r[0] for r in d.values())),
                "waited_seconds": round(sum(r[1] for r in d.values())),
                "by": {
                    p: {"count": int(r[0]), "waited_seconds": round(r[1])}
                    for p, r in sorted(d.items())
                },
            },
            "snoozed": {
                "count": int(sum(r[0] for r in s.values())),
                "paused_seconds": round(sum(r[1] for r in s.values())),
                "paused_calendar_seconds": round(sum(r[2] for r in s.values())),
                "still_snoozed": still_snoozed,
                "by": {
                    p: {
                        "count": int(r[0]),
                        "paused_seconds": round(r[1]),
                        "paused_calendar_seconds": round(r[2]),
                    }
                    for p, r in sorted(s.items())
                },
            },
        },
        "silent_stretches": stretches(waits, posts, facts, zone),
        "brand_replies": replies,
        "broadcasts": broadcasts if visible else None,
        "conversation_ratio": round(replies_seen / broadcasts, 2)
        if visible and broadcasts
        else None,
        "hour_of_week": {"inbound_messages": heat_inbound, "breaches": heat_breaches},
        "customers_at_risk": at_risk,
        "reputation_score": score,
        "reputation_components": parts,
    }


def reference_summary(facts: WeekFacts) -> dict[str, Any]:
    accounts = order_of_accounts(facts)
    week_turns, _earlier = counted_turns(facts)
    all_breaches = sorted(
        (ts(t.due_at), t.key, t)
        for t in week_turns
        if t.status is not TurnStatus.DISMISSED
        and facts.start <= t.due_at < facts.end
        and t.due_at <= facts.now
        and (t.breached if answered_by(t, facts.now) else facts.now > t.due_at)
    )
    at_risk = customers_at_risk(all_breaches, facts)
    channel_of = {a: c for a, c in ACCOUNTS}
    by_account = {
        account: reference_metrics(
            facts, [account], [p for p in at_risk if p["account"] == account]
        )
        for account in sorted(accounts)
    }
    by_channel = {}
    for channel in sorted({channel_of[a] for a in accounts}):
        members = sorted(a for a in accounts if channel_of[a] == channel)
        # A channel with one account has that account's figures.
        by_channel[channel] = (
            by_account[members[0]]
            if len(members) == 1
            else reference_metrics(facts, members, [p for p in at_risk if p["channel"] == channel])
        )
    return {
        "metrics": reference_metrics(facts, accounts, at_risk),
        "by_channel": by_channel,
        "by_account": by_account,
    }


def summary_of(facts: WeekFacts) -> dict[str, Any]:
    zone = facts.zone if facts.timezone else "UTC"
    return weekly_summary(facts, brand="acme", brand_name="ACME", week="2026-W47", timezone=zone)


@pytest.mark.parametrize("case", CASES, ids=[f"seed{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_every_figure_matches_the_plain_reference(case: tuple[Any, ...]) -> None:
    # Given a random week with every kind of fact
    facts = random_week(*case)
    # When the summary is made, and the reference computes the same scopes by the definitions
    summary, reference = summary_of(facts), reference_summary(facts)
    # Then every scope's figures are the same, breach rows and customers at risk included
    assert list(summary["by_account"]) == list(reference["by_account"])
    assert list(summary["by_channel"]) == list(reference["by_channel"])
    for scope in ("metrics", "by_channel", "by_account"):
        assert summary[scope] == reference[scope], scope
    assert summary["open_overdue_turns"] == sorted(
        summary["open_overdue_turns"],
        key=lambda r: (datetime.fromisoformat(r["due_at"]), r["turn"]),
    )
    assert len(summary["open_overdue_turns"]) == summary["metrics"]["open_overdue"]


def test_the_random_weeks_have_every_kind_of_figure() -> None:
    # The reference comparison means something only if these weeks exercise every branch.
    summaries = [summary_of(random_week(*case))["metrics"] for case in CASES]
    assert all(m["breaches"] and m["open_overdue"] and m["customers_at_risk"] for m in summaries)
    assert any(m["pause_audit"]["snoozed"]["still_snoozed"] for m in summaries)
    assert any(m["pause_audit"]["dismissed"]["count"] for m in summaries)
    assert any(m["broadcasts"] for m in summaries)
    assert any(m["next_response_seconds"]["calendar"]["count"] for m in summaries)
    assert all(len(m["silent_stretches"]) == 5 for m in summaries)


def stored_item(fields: Mapping[str, Any], times_as_text: bool = False) -> dict[str, Any]:
    """A model's fields as the store reads an item back: enums and pauses as text, times as
    UTC datetimes (or, with `times_as_text`, the text the table holds, as `week_records`
    hands it over), whole seconds as ints, None left out."""
    item: dict[str, Any] = {"pk": "THREAD#x", "sk": "TURN#00001", "week_sk": "TURN#..."}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            if times_as_text:
                value = stored_text(name, value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        elif name == "pauses":
            value = [[since.isoformat(), until.isoformat()] for since, until in value]
        elif hasattr(value, "value"):
            value = value.value
        item[name] = value
    return item


@pytest.mark.parametrize("case", CASES[:3], ids=[f"seed{c[0]}" for c in CASES[:3]])
def test_columns_read_from_stored_items_give_the_same_summary(case: tuple[Any, ...]) -> None:
    # Given a week's models, and the same facts as the store reads its items back
    facts = random_week(*case)
    columns = WeekColumns()
    columns.add_messages(stored_item(vars(m)) for m in facts.messages)
    columns.add_turns(stored_item(vars(t)) for t in facts.turns)
    # When the summary is made from those columns (the models left out)
    from_items = summary_of(replace(facts, messages=[], turns=[], columns=columns))
    # Then it is the summary of the models, except that stored times read back in UTC
    from_models = summary_of(
        replace(facts, turns=[t.model_copy(update=utc_times(t)) for t in facts.turns])
    )
    assert from_items == from_models


def stored_text(name: str, value: datetime) -> str:
    """A time as the table holds it: as pydantic writes a model ("...Z"), or, for a deadline
    a later update moved, as `isoformat()` writes it ("+00:00")."""
    if name == "due_at" and value.second % 2:
        return value.isoformat()
    text: str = TypeAdapter(datetime).dump_python(value, mode="json")
    return text


@pytest.mark.parametrize("case", CASES[:3], ids=[f"seed{c[0]}" for c in CASES[:3]])
def test_stored_items_with_times_as_the_table_holds_them_give_the_same_summary(
    case: tuple[Any, ...],
) -> None:
    # Given a week's stored items, read once with their times parsed and once with their times
    # left as the text the table holds ("...Z", and "+00:00" where an update wrote it)
    facts = random_week(*case)

    def summary_from(times_as_text: bool) -> dict[str, Any]:
        columns = WeekColumns()
        columns.add_messages(stored_item(vars(m), times_as_text) for m in facts.messages)
        columns.add_stored_turns(stored_item(vars(t), times_as_text) for t in facts.turns)
        return summary_of(replace(facts, messages=[], turns=[], columns=columns))

    parsed, text = summary_from(False), summary_from(True)
    # Then the summaries are the same, breach rows (with times) included
    assert text == parsed
    metrics = text["metrics"]
    assert metrics["breaches"] and metrics["open_overdue"]
    assert all(row["due_at"].endswith("+00:00") for row in metrics["breaches"])


def test_a_time_as_the_table_holds_it_is_shown_as_isoformat_writes_it() -> None:
    cases = [
        datetime(2026, 11, 18, 9, 30, tzinfo=UTC),
        datetime(2026, 11, 18, 9, 30, 5, 120000, tzinfo=UTC),
        datetime(2026, 11, 18, 9, 30, 5, 7, tzinfo=UTC),
        datetime(2026, 11, 18, 10, 30, tzinfo=timezone(timedelta(hours=1))),
    ]
    for at in cases:
        pydantic_text = TypeAdapter(datetime).dump_python(at, mode="json")
        assert _isoformat(pydantic_text) == at.isoformat()
        assert _isoformat(at.isoformat()) == at.isoformat()
        assert _isoformat(at) == at.isoformat()


def test_turn_keys_handed_over_with_the_items_give_the_same_summary() -> None:
    # Given a week's turns as stored items, and their keys as the store makes them
    facts = random_week(*CASES[0])
    items = [stored_item(vars(t)) for t in facts.turns]
    keys = [t.key for t in facts.turns]

    def summary_from(keys_given: list[str] | None) -> dict[str, Any]:
        columns = WeekColumns()
        columns.add_messages(stored_item(vars(m)) for m in facts.messages)
        columns.add_turns(items, keys_given)
        return summary_of(replace(facts, messages=[], turns=[], columns=columns))

    # When the columns take the keys given, or make them
    given, made = summary_from(keys), summary_from(None)
    # Then the summaries are the same
    assert given == made
    # and the breach rows name their turns by the keys given (the computation makes none)
    rows = summary_from([f"given:{key}" for key in keys])["metrics"]["breaches"]
    assert rows and all(row["turn"].startswith("given:") for row in rows)
    # and keys that do not match the turns one for one are refused
    with pytest.raises(ValueError):
        WeekColumns().add_turns(items, keys[:-1])


def test_stored_turns_are_read_once_each_by_their_key() -> None:
    # Given a week's stored turn items, one of them read twice (as overlapping ranges would)
    facts = random_week(*CASES[0])
    items = [stored_item(vars(t)) for t in facts.turns]

    def summary_from(turn_items: list[dict[str, Any]]) -> dict[str, Any]:
        columns = WeekColumns()
        columns.add_messages(stored_item(vars(m)) for m in facts.messages)
        columns.add_stored_turns(turn_items)
        return summary_of(replace(facts, messages=[], turns=[], columns=columns))

    # When the store's way of reading them puts them into columns
    once, twice = summary_from(items), summary_from([*items, dict(items[0])])
    # Then the repeated item counts once, and every turn is in the columns with its key
    assert twice == once
    assert once["metrics"]["turns_opened"] > 0
    columns = WeekColumns()
    columns.add_stored_turns([*items, dict(items[0])])
    assert sorted(k for w in columns.accounts.values() for k in w.key) == sorted(
        {t.key for t in facts.turns}
    )


def utc_times(turn: Turn) -> dict[str, Any]:
    return {
        name: value.astimezone(UTC)
        for name, value in vars(turn).items()
        if isinstance(value, datetime)
    }


def test_a_scope_of_the_columns_is_the_scope_of_the_models() -> None:
    # Given a week read as columns
    facts = random_week(*CASES[0])
    columns = WeekColumns.of(facts.messages, facts.turns)
    only_x = lambda channel, _account: channel == "x"  # noqa: E731
    # When one channel's metrics are taken from the columns and from the models
    # Then they are the same
    assert week_metrics(replace(facts, columns=columns).only(only_x)) == week_metrics(
        facts.only(only_x)
    )


def test_a_wait_is_rounded_to_seconds_as_its_exact_times_give_it() -> None:
    # Given turns answered late, and turns still open, whose waits are a whole number of
    # seconds and a half to the microsecond (or a microsecond either side of it), opened at
    # fractions of a second that a double does not hold exactly
    halves = [(s, 500_000 + d) for s in (7, 8) for d in (-1, 0, 1)]
    turns = []
    for micro in range(1, 1_000_000, 97_001):
        opened = datetime(2026, 11, 18, 9, 30, tzinfo=UTC) + timedelta(microseconds=micro)
        for seconds, micros in halves:
            wait = timedelta(hours=2, seconds=seconds, microseconds=micros)
            turns.append(builders.turn(opened, replied_at=opened + wait))
            wait = timedelta(hours=30, seconds=seconds, microseconds=micros + micro)
            turns.append(builders.turn(builders.NOW - wait))
    week = builders.facts(turns=turns)

    def waits_shown(summary: dict[str, Any]) -> dict[str, int]:
        rows = [*summary["metrics"]["breaches"], *summary["open_overdue_turns"]]
        return {row["turn"]: row["waited_seconds"] for row in rows}

    # When the summary is made from the models, and from stored items with times as text
    columns = WeekColumns()
    columns.add_stored_turns(stored_item(vars(t), times_as_text=True) for t in turns)
    from_models = waits_shown(summary_of(week))
    from_items = waits_shown(summary_of(replace(week, turns=[], columns=columns)))
    # Then every wait is its exact length rounded half to even, both ways
    exact = {
        t.key: round(((t.replied_at or builders.NOW) - t.opened_at).total_seconds()) for t in turns
    }
    assert from_models == exact
    assert from_items == exact
    assert {w % 2 for w in exact.values()} == {0, 1}


def test_a_wait_across_a_power_of_two_seconds_is_rounded_as_its_exact_times_give_it() -> None:
    # Given turns answered a whole number of seconds and a half after they opened, opened just
    # before 2**31 seconds after the epoch (2038-01-19 03:14:08 UTC) and answered after it,
    # where a double's step doubles: the two instants' doubles are off by different amounts
    edge = datetime.fromtimestamp(2**31, UTC)
    turns = [
        builders.turn(opened, replied_at=opened + timedelta(seconds=seconds, microseconds=500_000))
        for micro in range(1, 1_000_000, 9_973)
        for opened in [edge - timedelta(seconds=3, microseconds=micro)]
        for seconds in (6, 7)
    ]
    # When each is shown as a breach row
    now = edge + timedelta(days=1)
    waits = [breach_row(t, now)["waited_seconds"] for t in turns]
    # Then each wait is its exact length rounded half to even
    assert waits == [round((t.replied_at - t.opened_at).total_seconds()) for t in turns]

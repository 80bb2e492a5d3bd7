"""Weekly summary metrics of SLA_SEMANTICS §7, computed from stored facts (pure).

One pass over the week's facts fills a tally per account; a channel's tally is its accounts'
tallies merged, and the brand's is every account's. Each tally then gives the metrics of its
scope, so the brand, each channel and each account are computed the same way and add up.

Facts are judged as of `now` (when the summary is made): a reply, a fired level or an event
after `now` has not happened yet, so a week rebuilt later with the same `now` gives the same
numbers.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from reply_sla.domain.aggregates import WeekHistory, scope_key, trends
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
from reply_sla.domain.reputation import REPUTATION_FORMULA, reputation, speed_of
from reply_sla.domain.silence import Elapsed, silent_stretches
from reply_sla.domain.weeks import LocalHours, local_slot

SCHEMA_VERSION = 2
LEVEL_EVENTS = frozenset({EventType.WARNING, EventType.BREACHED, EventType.ESCALATED})
# Channels whose adapters read the brand's own posts, so top-level posts (broadcasts) are seen.
BROADCAST_CHANNELS = frozenset({"mastodon", "x", "bluesky"})
RISK_WEEKS = 4
SILENT_STRETCHES_SHOWN = 5
# Customer strings kept in the summary document (the files escape them again when shown).
CUSTOMER_CHARS = 200
EXCERPT_CHARS = 280
HOURS_OF_WEEK = 168


@dataclass(frozen=True)
class WeekRecords:
    """What the store read for one brand-week, and what reading it cost."""

    inbound: list[Message]
    outbound: list[Message]
    turns: list[Turn]
    events: list[SlaEvent]
    items_read: int = 0
    requests: int = 0


@dataclass(frozen=True)
class WeekFacts:
    """Everything a summary is computed from, for one brand and one week.

    `messages` are the week's inbound messages and, when known, the brand's own posts
    (outbound); `turns` the turns opened or due in the week; `open_turns` the turns still open
    when the summary is made. `business(start, end)` measures silent stretches in the brand's
    calendar (calendar time when None). `history` holds earlier weeks' stored aggregates.
    """

    start: datetime
    end: datetime
    now: datetime
    messages: Sequence[Message]
    turns: Sequence[Turn]
    events: Sequence[SlaEvent]
    open_turns: Sequence[Turn]
    business: Elapsed | None = None
    timezone: str | None = None
    history: WeekHistory = field(default_factory=WeekHistory)

    def only(self, keep: Callable[[str, str], bool]) -> WeekFacts:
        """The same facts restricted to some channels or accounts: keep(channel, account_id)."""
        return replace(
            self,
            messages=[m for m in self.messages if keep(m.channel, m.account_id)],
            turns=[t for t in self.turns if keep(t.channel, t.account_id)],
            events=[e for e in self.events if keep(e.channel, e.account_id)],
            open_turns=[t for t in self.open_turns if keep(t.channel, t.account_id)],
        )

    @property
    def zone(self) -> str:
        """The brand's zone: given, else that of `start` when it carries one, else UTC."""
        if self.timezone:
            return self.timezone
        tz = self.start.tzinfo
        return tz.key if isinstance(tz, ZoneInfo) else "UTC"


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return _rank(ordered, fraction)


def _rank(ordered: Sequence[float], fraction: float) -> float:
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _stats(ordered: Sequence[float]) -> dict[str, float | int | None]:
    """Count, median, nearest-rank p90 and mean of values already sorted."""
    if not ordered:
        return {"count": 0, "median": None, "p90": None, "mean": None}
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "count": len(ordered),
        "median": round(median, 1),
        "p90": round(_rank(ordered, 0.9), 1),
        "mean": round(math.fsum(ordered) / len(ordered), 1),
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _answered_by(turn: Turn, now: datetime) -> datetime | None:
    """The reply instant if the turn was answered by `now`."""
    if turn.status is TurnStatus.ANSWERED and turn.replied_at and turn.replied_at <= now:
        return turn.replied_at
    return None


def _open_at(turn: Turn, now: datetime) -> bool:
    """Still waiting at `now`: open, or answered only later."""
    if turn.status is TurnStatus.OPEN:
        return True
    return turn.status is TurnStatus.ANSWERED and _answered_by(turn, now) is None


def breach_row(turn: Turn, now: datetime, key: str | None = None) -> dict[str, Any]:
    """One breach (or overdue turn) as the files show it: where, who, how long, whose.
    `key` is the turn's key when the caller has it already."""
    replied = _answered_by(turn, now)
    end = replied or now
    status = str(turn.status) if replied or turn.status is not TurnStatus.ANSWERED else "open"
    return {
        "turn": key or turn.key,
        "link": turn.url,
        "channel": turn.channel,
        "account": turn.account_id,
        # str() of a StrEnum is its value, without the enum machinery (a hot path).
        "priority": str(turn.priority),
        "customer": (turn.author_handle or turn.author_name)[:CUSTOMER_CHARS],
        "opened_at": turn.opened_at.isoformat(),
        "due_at": turn.due_at.isoformat(),
        "replied_at": replied.isoformat() if replied else None,
        "waited_seconds": round((end - turn.opened_at).total_seconds()),
        "target_seconds": turn.target_seconds,
        "status": status,
        "owner": turn.account_id,
        "author_id": turn.author_id[:CUSTOMER_CHARS],
        "kind": str(turn.kind),
        "private": turn.private,
        "text": turn.text[:EXCERPT_CHARS],
    }


# A breach or an overdue turn: (deadline, turn key, row, (account, author), complained).
# Built while the turn is being read (a million turns make every revisit costly); sorts by
# deadline, then key.
_Late = tuple[float, str, dict[str, Any], tuple[str, str], bool]


def _late(turn: Turn, now: datetime) -> _Late:
    key = turn.key
    priority = turn.priority
    return (
        turn.due_at.timestamp(),
        key,
        breach_row(turn, now, key),
        (turn.account_id, turn.author_id),
        priority is Priority.HIGH or priority is Priority.URGENT,
    )


class _Tally:
    """The running figures of one scope; `merge` adds another scope's (disjoint) figures.

    Per-hour counts are kept by the hour's position in the period (`LocalHours`): the heatmap
    folds them by weekday and hour, the daily rows add them up by day.
    """

    def __init__(self, positions: int, broadcasts_visible: bool = False) -> None:
        self.inbound = 0
        self.opened = 0
        self.answered = 0
        self.dismissed = 0
        self.due = 0
        self.on_time = 0
        self.high = 0
        self.speed_sum = 0.0
        self.speed_count = 0
        self.first_calendar: list[float] = []
        self.first_business: list[float] = []
        self.next_calendar: list[float] = []
        self.next_business: list[float] = []
        # Breaches due in the week and turns overdue now (see _Late).
        self.breaches: list[_Late] = []
        self.overdue: list[_Late] = []
        self.levels: Counter[str] = Counter()
        # Per hour position: inbound messages; turns opened and how they ended.
        self.inbound_by_hour = [0] * positions
        self.outcomes_by_hour = {name: [0] * positions for name in _OUTCOMES}
        self.heat_breaches = [0] * HOURS_OF_WEEK
        # Breaches by (channel, private, local weekday of the customer's message): findings.
        self.breach_kinds: Counter[tuple[str, bool, int]] = Counter()
        self.wait_starts: list[float] = []
        self.wait_ends: list[float] = []
        self.posts: list[float] = []
        self.sees_posts = False
        self.replies = 0
        # Replies on channels whose broadcasts are seen: the conversation ratio's numerator.
        self.replies_seen = 0
        self.broadcasts = 0
        self.broadcasts_visible = broadcasts_visible
        # Person -> [count, seconds, calendar seconds].
        self.dismissals: dict[str, list[float]] = {}
        self.snoozes: dict[str, list[float]] = {}
        self.still_snoozed = 0

    def _lists(self) -> tuple[list[float], ...]:
        return (
            self.first_calendar,
            self.first_business,
            self.next_calendar,
            self.next_business,
            self.wait_starts,
            self.wait_ends,
            self.posts,
        )

    def merge(self, other: _Tally) -> None:
        for name in (
            "inbound",
            "opened",
            "answered",
            "dismissed",
            "due",
            "on_time",
            "high",
            "speed_sum",
            "speed_count",
            "replies",
            "replies_seen",
            "broadcasts",
            "still_snoozed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine_list, theirs_list in zip(self._lists(), other._lists(), strict=True):
            mine_list.extend(theirs_list)
        self.breaches.extend(other.breaches)
        self.overdue.extend(other.overdue)
        self.levels.update(other.levels)
        self.breach_kinds.update(other.breach_kinds)
        self.inbound_by_hour = _add(self.inbound_by_hour, other.inbound_by_hour)
        for name in _OUTCOMES:
            self.outcomes_by_hour[name] = _add(
                self.outcomes_by_hour[name], other.outcomes_by_hour[name]
            )
        self.heat_breaches = _add(self.heat_breaches, other.heat_breaches)
        self.sees_posts = self.sees_posts or other.sees_posts
        self.broadcasts_visible = self.broadcasts_visible or other.broadcasts_visible
        for mine, theirs in ((self.dismissals, other.dismissals), (self.snoozes, other.snoozes)):
            for person, values in theirs.items():
                row = mine.setdefault(person, [0, 0.0, 0.0])
                for i, value in enumerate(values):
                    row[i] += value

    def sort(self) -> None:
        # Timsort merges the sorted runs of merged tallies in near-linear time.
        for values in self._lists():
            values.sort()
        self.breaches.sort()
        self.overdue.sort()


_OUTCOMES = ("opened", "on_time", "late", "open")


def _add(left: list[int], right: list[int]) -> list[int]:
    return [a + b for a, b in zip(left, right, strict=True)]


@dataclass
class _Pass:
    """The result of one pass over a week's facts."""

    accounts: dict[str, _Tally]
    channel_of: dict[str, str]


def _tally_week(facts: WeekFacts, hours: LocalHours) -> _Pass:
    """Route every fact of the week to its account's tally (one pass over each list).

    This is the hot loop of a summary (a million turns in seconds): instants are compared as
    POSIX timestamps, an hour is one bisection, and nothing is built per turn but the numbers
    the metrics need.
    """
    start, end, now = facts.start, facts.end, facts.now
    start_ts, end_ts, now_ts = start.timestamp(), end.timestamp(), now.timestamp()
    horizon_ts = min(end_ts, now_ts)
    zone = facts.zone
    hour_starts, first_hour, hours_end = hours.starts, hours.starts[0], hours.end
    positions = len(hour_starts)
    accounts: dict[str, _Tally] = {}
    channel_of: dict[str, str] = {}

    def new_tally(account: str, channel: str) -> _Tally:
        made = accounts[account] = _Tally(positions, channel in BROADCAST_CHANNELS)
        channel_of[account] = channel
        return made

    inbound_dir, outbound_dir = Direction.INBOUND, Direction.OUTBOUND
    for message in facts.messages:
        t = accounts.get(message.account_id) or new_tally(message.account_id, message.channel)
        ts = message.created_at.timestamp()
        direction = message.direction
        if direction is inbound_dir:
            if start_ts <= ts < end_ts:
                t.inbound += 1
                if first_hour <= ts < hours_end:
                    t.inbound_by_hour[bisect_right(hour_starts, ts) - 1] += 1
        elif direction is outbound_dir:
            # The brand's own posts are known for this account: they are the cuts of its
            # silent stretches (replies among them), not the turns' reply instants.
            t.sees_posts = True
            if start_ts <= ts < horizon_ts:
                t.posts.append(ts)
                # A reply is a post in a thread the brand did not start; the rest are
                # broadcasts (what a replay file gives: the thread, not the parent).
                thread = message.thread_id
                if message.parent_id is not None or (thread and thread != message.message_id):
                    t.replies += 1
                    if t.broadcasts_visible:
                        t.replies_seen += 1
                elif not message.private and t.broadcasts_visible:
                    t.broadcasts += 1

    open_status, answered_status = TurnStatus.OPEN, TurnStatus.ANSWERED
    dismissed_status, first_kind = TurnStatus.DISMISSED, TurnKind.FIRST
    high, urgent = Priority.HIGH, Priority.URGENT
    # Deadlines are compared as datetimes (a fast path when both are UTC), not timestamps.
    start_utc, end_utc, now_utc = start.astimezone(UTC), end.astimezone(UTC), now.astimezone(UTC)
    # An open turn may be both among the week's turns and the open ones: count it once.
    open_keys = {o.key for o in facts.open_turns}
    seen_open: set[str] = set()
    for turn in facts.turns:
        status = turn.status
        if status is open_status and open_keys:
            key = turn.key
            if key in seen_open:
                continue
            if key in open_keys:
                seen_open.add(key)
        t = accounts.get(turn.account_id) or new_tally(turn.account_id, turn.channel)
        opened_ts = turn.opened_at.timestamp()
        due_at = turn.due_at
        reply_ts: float | None = None
        if status is answered_status:
            reply_ts = turn.replied_at.timestamp() if turn.replied_at is not None else None
            if reply_ts is not None and reply_ts > now_ts:
                reply_ts = None  # answered after the summary was made: still waiting then
        if status is not dismissed_status:
            # The wait, clipped to the part of the week that has happened.
            a = opened_ts if opened_ts > start_ts else start_ts
            b = horizon_ts if reply_ts is None or reply_ts > horizon_ts else reply_ts
            if a < b:
                if turn.pauses or turn.snoozed_at is not None:
                    t.still_snoozed += _snoozed_at(turn, now) and reply_ts is None
                    for x, y in _minus_pauses(a, b, _pause_spans(turn, now)):
                        t.wait_starts.append(x)
                        t.wait_ends.append(y)
                else:
                    t.wait_starts.append(a)
                    t.wait_ends.append(b)
            if reply_ts is None:
                if due_at < now_utc:
                    t.overdue.append(_late(turn, now))
            elif not t.sees_posts and start_ts <= reply_ts < horizon_ts:
                t.posts.append(reply_ts)
        if start_ts <= opened_ts < end_ts:
            t.opened += 1
            priority = turn.priority
            if priority is high or priority is urgent:
                t.high += 1
            if status is dismissed_status:
                t.dismissed += 1
                outcome = ""
            elif reply_ts is not None:
                t.answered += 1
                calendar = reply_ts - opened_ts
                business = turn.response_seconds
                if business is None:
                    business = calendar
                if turn.kind is first_kind:
                    t.first_calendar.append(calendar)
                    t.first_business.append(business)
                else:
                    t.next_calendar.append(calendar)
                    t.next_business.append(business)
                # speed_of(), inlined: this runs once per answered turn.
                target = turn.target_seconds
                if target > 0:
                    speed = 1.0 - business / (2.0 * target)
                    if speed > 0.0:
                        t.speed_sum += speed
                else:
                    t.speed_sum += speed_of(business, target)
                t.speed_count += 1
                outcome = "late" if turn.breached else "on_time"
            else:
                outcome = "open"
            if first_hour <= opened_ts < hours_end:
                position = bisect_right(hour_starts, opened_ts) - 1
                by_hour = t.outcomes_by_hour
                by_hour["opened"][position] += 1
                if outcome:
                    by_hour[outcome][position] += 1
        if start_utc <= due_at < end_utc and due_at <= now_utc and status is not dismissed_status:
            t.due += 1
            if reply_ts is not None:
                late = turn.breached
                if not late:
                    t.on_time += 1
            else:
                late = now_utc > due_at
            if late:
                t.breaches.append(_late(turn, now))
                slot = local_slot(turn.opened_at, zone)
                t.heat_breaches[slot] += 1
                t.breach_kinds[(turn.channel, turn.private, slot // 24)] += 1
    for turn in facts.open_turns:
        # Open turns from earlier weeks: only their waiting and lateness count this week.
        key = turn.key
        if key in seen_open or not _open_at(turn, now):
            continue
        seen_open.add(key)
        t = accounts.get(turn.account_id) or new_tally(turn.account_id, turn.channel)
        a = max(turn.opened_at.timestamp(), start_ts)
        t.still_snoozed += _snoozed_at(turn, now)
        for x, y in _minus_pauses(a, horizon_ts, _pause_spans(turn, now)):
            t.wait_starts.append(x)
            t.wait_ends.append(y)
        if turn.due_at < now:
            t.overdue.append(_late(turn, now))

    index: dict[tuple[str, str, int], Turn] | None = None
    for event in facts.events:
        at = event.at
        if not (start <= at < end) or at > now:
            continue
        t = accounts.get(event.account_id) or new_tally(event.account_id, event.channel)
        kind = event.type
        if kind in LEVEL_EVENTS:
            t.levels[event.level or kind.value] += 1
        elif kind is EventType.DISMISSED:
            if index is None:
                index = {
                    (u.account_id, u.thread_id, u.seq): u
                    for u in itertools.chain(facts.turns, facts.open_turns)
                }
            turn_of = index.get((event.account_id, event.thread_id, event.turn_seq))
            waited = (at - turn_of.opened_at).total_seconds() if turn_of else 0.0
            row = t.dismissals.setdefault(event.detail.get("by") or "unknown", [0, 0.0, 0.0])
            row[0] += 1
            row[1] += max(0.0, waited)
        elif kind is EventType.SNOOZED:
            row = t.snoozes.setdefault(event.detail.get("by") or "unknown", [0, 0.0, 0.0])
            row[0] += 1
        elif kind is EventType.RESUMED:
            # The paused time of a snooze is counted when it ends, for who snoozed it.
            person = event.detail.get("snoozed_by") or event.detail.get("by") or "unknown"
            row = t.snoozes.setdefault(person, [0, 0.0, 0.0])
            row[1] += _seconds(event.detail.get("paused_seconds"))
            row[2] += _seconds(event.detail.get("paused_calendar_seconds"))
    return _Pass(accounts=accounts, channel_of=channel_of)


def _pause_spans(turn: Turn, now: datetime) -> list[tuple[datetime, datetime]]:
    """The spans a person paused the turn's clock: ended snoozes, and the one running."""
    spans = list(turn.pauses)
    if turn.snoozed_at is not None:
        spans.append((turn.snoozed_at, min(turn.snoozed_until or now, now)))
    return spans


def _snoozed_at(turn: Turn, now: datetime) -> bool:
    """Snoozed when the summary is made."""
    return (
        turn.snoozed_at is not None
        and turn.snoozed_at <= now
        and (turn.snoozed_until is None or turn.snoozed_until > now)
    )


def _seconds(text: str | None) -> float:
    try:
        return max(0.0, float(text)) if text else 0.0
    except ValueError:
        return 0.0


def _minus_pauses(
    a: float, b: float, pauses: Iterable[tuple[datetime, datetime]]
) -> list[tuple[float, float]]:
    """The wait [a, b) without the spans a person paused it (snoozes)."""
    pieces = [(a, b)]
    for since, until in pauses:
        p, q = since.timestamp(), until.timestamp()
        pieces = [
            piece
            for x, y in pieces
            for piece in ((x, min(y, p)), (max(x, q), y))
            if piece[0] < piece[1]
        ]
    return pieces


def _daily(tally: _Tally, facts: WeekFacts, hours: LocalHours) -> list[dict[str, Any]]:
    """Per local day of the period: inbound messages, turns opened, and how they ended."""
    zone = ZoneInfo(facts.zone)
    first = facts.start.astimezone(zone).date()
    local_end = facts.end.astimezone(zone)
    days = local_end.date().toordinal() - first.toordinal()
    if local_end.time() != datetime.min.time():
        days += 1  # a period ending mid-day includes that day
    rows: list[dict[str, Any]] = []
    for offset in range(max(1, days)):
        hours_of_day = slice(offset * 24, offset * 24 + 24)
        row: dict[str, Any] = {
            "date": date.fromordinal(first.toordinal() + offset).isoformat(),
            "inbound": sum(tally.inbound_by_hour[hours_of_day]),
        }
        for name in _OUTCOMES:
            row[name] = sum(tally.outcomes_by_hour[name][hours_of_day])
        rows.append(row)
    return rows


def _heatmap(by_position: list[int], hours: LocalHours) -> list[int]:
    heat = [0] * HOURS_OF_WEEK
    for position, count in enumerate(by_position):
        if count:
            heat[hours.slots[position]] += count
    return heat


def _risk_rows(
    breaches: Sequence[_Late], history: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Customers a brand is about to lose: breached more than once in RISK_WEEKS weeks, or
    complained (high or urgent) and waited past the deadline this week.

    `breaches` are this week's, earliest deadline first; `history` the earlier weeks' breach
    authors, oldest first. A customer is an author on one account.
    """
    this_week = Counter(late[3] for late in breaches)
    earlier: Counter[tuple[str, str]] = Counter()
    for row in history:
        earlier[(str(row["account"]), str(row["author_id"]))] += int(row["breaches"])
    complained = {late[3] for late in breaches if late[4]}
    wanted = {
        key
        for key in this_week.keys() | earlier.keys()
        if this_week.get(key, 0) + earlier.get(key, 0) > 1 or key in complained
    }
    people: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for row in history:  # oldest first: later weeks' names and links win
        key = (str(row["account"]), str(row["author_id"]))
        if key in wanted:
            people[key] = (
                str(row["customer"])[:CUSTOMER_CHARS],
                str(row["channel"]),
                str(row["link"]),
                str(row["last_due_at"]),
            )
    for _due, _key, row, key, _complained in breaches:
        if key in wanted:  # earliest deadline first: the last one wins
            customer = row["customer"] or row["author_id"]
            people[key] = (customer, row["channel"], row["link"], row["due_at"])
    at_risk = []
    for key in wanted:
        customer, channel, link, last_due = people[key]
        now_count, before = this_week.get(key, 0), earlier.get(key, 0)
        at_risk.append(
            {
                "customer": customer,
                "author_id": key[1][:CUSTOMER_CHARS],
                "account": key[0],
                "channel": channel,
                "breaches_4_weeks": now_count + before,
                "breaches_this_week": now_count,
                "complained": key in complained,
                "link": link,
                "last_due_at": last_due,
            }
        )
    return sorted(
        at_risk,
        key=lambda e: (-e["breaches_4_weeks"], not e["complained"], e["account"], e["author_id"]),
    )


def _pause_audit(tally: _Tally) -> dict[str, Any]:
    """Who dismissed or snoozed how many waits, and how long they had waited or were paused."""
    dismissed, snoozed = tally.dismissals, tally.snoozes
    return {
        "dismissed": {
            "count": int(sum(r[0] for r in dismissed.values())),
            "waited_seconds": round(sum(r[1] for r in dismissed.values())),
            "by": {
                person: {"count": int(r[0]), "waited_seconds": round(r[1])}
                for person, r in sorted(dismissed.items())
            },
        },
        "snoozed": {
            "count": int(sum(r[0] for r in snoozed.values())),
            "paused_seconds": round(sum(r[1] for r in snoozed.values())),
            "paused_calendar_seconds": round(sum(r[2] for r in snoozed.values())),
            "still_snoozed": tally.still_snoozed,
            "by": {
                person: {
                    "count": int(r[0]),
                    "paused_seconds": round(r[1]),
                    "paused_calendar_seconds": round(r[2]),
                }
                for person, r in sorted(snoozed.items())
            },
        },
    }


def _iso(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).isoformat()


def _metrics(
    tally: _Tally,
    facts: WeekFacts,
    hours: LocalHours,
    at_risk: list[dict[str, Any]],
) -> dict[str, Any]:
    """The §7 metrics of one scope from its sorted tally; `at_risk` are the scope's customers
    at risk."""
    response_rate = _ratio(tally.answered, tally.opened - tally.dismissed)
    attainment = _ratio(tally.on_time, tally.due)
    zone = ZoneInfo(facts.zone)
    stretches = silent_stretches(
        tally.wait_starts,
        tally.wait_ends,
        tally.posts,
        business=facts.business,
        top=SILENT_STRETCHES_SHOWN,
    )
    score, parts = reputation(
        {
            "sla_attainment": attainment,
            "response_rate": response_rate,
            "speed": tally.speed_sum / tally.speed_count if tally.speed_count else None,
            "sentiment": 1 - tally.high / tally.opened if tally.opened else None,
        }
    )
    broadcasts = tally.broadcasts if tally.broadcasts_visible else None
    heat_inbound = _heatmap(tally.inbound_by_hour, hours)
    return {
        "inbound_messages": tally.inbound,
        "turns_opened": tally.opened,
        "turns_answered": tally.answered,
        "turns_dismissed": tally.dismissed,
        "response_rate": response_rate,
        "turns_due": tally.due,
        "turns_on_time": tally.on_time,
        "sla_attainment": attainment,
        "first_response_seconds": {
            "business": _stats(tally.first_business),
            "calendar": _stats(tally.first_calendar),
        },
        "next_response_seconds": {
            "business": _stats(tally.next_business),
            "calendar": _stats(tally.next_calendar),
        },
        "breaches": [late[2] for late in tally.breaches],
        "open_overdue": len(tally.overdue),
        "escalations_sent": dict(sorted(tally.levels.items())),
        "pause_audit": _pause_audit(tally),
        "silent_stretches": [
            {
                "start": _iso(s.start, zone),
                "end": _iso(s.end, zone),
                "business_seconds": round(s.business_seconds),
                "calendar_seconds": round(s.calendar_seconds),
                "turns_waiting": s.turns_waiting,
            }
            for s in stretches
        ],
        "brand_replies": tally.replies,
        "broadcasts": broadcasts,
        "conversation_ratio": round(tally.replies_seen / broadcasts, 2) if broadcasts else None,
        "hour_of_week": {
            "inbound_messages": [heat_inbound[d * 24 : d * 24 + 24] for d in range(7)],
            "breaches": [tally.heat_breaches[d * 24 : d * 24 + 24] for d in range(7)],
        },
        "customers_at_risk": at_risk,
        "reputation_score": score,
        "reputation_components": parts,
    }


def _merged(tallies: Iterable[_Tally], positions: int) -> _Tally:
    total = _Tally(positions)
    for one in tallies:
        total.merge(one)
    total.sort()
    return total


@dataclass
class _Scopes:
    """Every scope's sorted tally, with the breach rows and customers at risk they share."""

    hours: LocalHours
    whole: _Tally
    accounts: dict[str, _Tally]
    channels: dict[str, list[str]]
    at_risk: list[dict[str, Any]]

    def merged(self, accounts: Iterable[str]) -> _Tally:
        return _merged((self.accounts[a] for a in accounts), len(self.hours.starts))


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The pass allocates millions of small objects and no reference cycles; with millions of
    facts alive, each full collection the allocations would trigger costs seconds."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _scopes(facts: WeekFacts) -> _Scopes:
    hours = LocalHours(facts.start, facts.end, facts.zone)
    week = _tally_week(facts, hours)
    for tally in week.accounts.values():
        tally.sort()
    whole = _merged(week.accounts.values(), len(hours.starts))
    at_risk = _risk_rows(whole.breaches, facts.history.breach_authors)
    channels: dict[str, list[str]] = {}
    for account, channel in sorted(week.channel_of.items()):
        channels.setdefault(channel, []).append(account)
    return _Scopes(hours, whole, week.accounts, channels, at_risk)


def week_metrics(facts: WeekFacts) -> dict[str, Any]:
    """The §7 metrics for one scope (brand, channel or account): all the facts given."""
    with _cyclic_gc_paused():
        scopes = _scopes(facts)
        return _metrics(scopes.whole, facts, scopes.hours, scopes.at_risk)


def daily_counts(facts: WeekFacts, timezone: str) -> list[dict[str, Any]]:
    """Per local day of the week: inbound messages, turns opened, and how they ended."""
    facts = replace(facts, timezone=timezone)
    scopes = _scopes(facts)
    return _daily(scopes.whole, facts, scopes.hours)


def weekly_summary(
    facts: WeekFacts,
    *,
    brand: str,
    brand_name: str,
    week: str,
    timezone: str,
) -> dict[str, Any]:
    """The whole summary document: the brand's metrics, then per channel and per account, the
    8-week trends, the findings and the reputation formula."""
    with _cyclic_gc_paused():
        return _weekly_summary(
            facts, brand=brand, brand_name=brand_name, week=week, timezone=timezone
        )


def _weekly_summary(
    facts: WeekFacts,
    *,
    brand: str,
    brand_name: str,
    week: str,
    timezone: str,
) -> dict[str, Any]:
    from reply_sla.domain.findings import findings

    facts = replace(facts, timezone=timezone)
    scopes = _scopes(facts)
    by_account = {
        account: _metrics(
            tally,
            facts,
            scopes.hours,
            [r for r in scopes.at_risk if r["account"] == account],
        )
        for account, tally in sorted(scopes.accounts.items())
    }
    by_channel: dict[str, dict[str, Any]] = {}
    for channel, members in sorted(scopes.channels.items()):
        # One account on the channel: the same facts, the same figures.
        by_channel[channel] = (
            by_account[members[0]]
            if len(members) == 1
            else _metrics(
                scopes.merged(members),
                facts,
                scopes.hours,
                [r for r in scopes.at_risk if r["channel"] == channel],
            )
        )
    brand_metrics = _metrics(scopes.whole, facts, scopes.hours, scopes.at_risk)
    current = {"brand": brand_metrics}
    current.update({scope_key("channel", k): m for k, m in by_channel.items()})
    current.update({scope_key("account", k): m for k, m in by_account.items()})
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "brand": brand,
        "brand_name": brand_name,
        "week": week,
        "timezone": timezone,
        "period": {"start": facts.start.isoformat(), "end": facts.end.isoformat()},
        "generated_at": facts.now.isoformat(),
        "metrics": brand_metrics,
        "by_channel": by_channel,
        "by_account": by_account,
        "daily": _daily(scopes.whole, facts, scopes.hours),
        "open_overdue_turns": [late[2] for late in scopes.whole.overdue],
        "trends": trends(facts.history, week, current),
        "reputation_formula": REPUTATION_FORMULA,
    }
    summary["findings"] = findings(summary, breach_kinds=scopes.whole.breach_kinds)
    return summary

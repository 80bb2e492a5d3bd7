"""Weekly summary metrics of SLA_SEMANTICS §7, computed from stored facts (pure).

The week's messages and turns are read as columns (`WeekColumns`: one list per field, per
account), then one pass over each account's columns fills its tally; a channel's figures are
its accounts' tallies added up, and the brand's every account's. Each scope then gives its
metrics the same way, so the brand, each channel and each account are computed alike and add
up.

A busy week is a million turns: the pass reads numbers from lists in order, values are kept as
doubles (`array('d')`), sorted once per account, and read across accounts without merged
copies (order statistics by bisection, the waiting union as a union of unions); a breach's row
is built once, when its turn is at hand.

Facts are judged as of `now` (when the summary is made): a reply, a fired level or an event
after `now` has not happened yet, so a week rebuilt later with the same `now` gives the same
numbers.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import operator
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
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
from reply_sla.domain.silence import Elapsed, Waits, silent_stretches_of, waiting_union
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
    #: The messages and turns as columns, when the store was asked for them (`inbound`,
    #: `outbound` and `turns` are then empty): no model is built per item.
    columns: WeekColumns | None = None


@dataclass(frozen=True)
class WeekFacts:
    """Everything a summary is computed from, for one brand and one week.

    `messages` are the week's inbound messages and, when known, the brand's own posts
    (outbound); `turns` the turns opened or due in the week; `open_turns` the turns still open
    when the summary is made. `business(start, end)` measures silent stretches in the brand's
    calendar (calendar time when None). `history` holds earlier weeks' stored aggregates.
    `columns`, when given, are the messages and turns as columns (`WeekColumns`), read instead
    of `messages` and `turns`.
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
    columns: WeekColumns | None = None

    @classmethod
    def of_records(
        cls,
        records: WeekRecords,
        *,
        start: datetime,
        end: datetime,
        now: datetime,
        open_turns: Sequence[Turn],
        timezone: str | None = None,
        business: Elapsed | None = None,
        history: WeekHistory | None = None,
    ) -> WeekFacts:
        """The facts of what a store read for the week (as models or as columns)."""
        return cls(
            start=start,
            end=end,
            now=now,
            messages=[*records.inbound, *records.outbound],
            turns=records.turns,
            events=records.events,
            open_turns=open_turns,
            business=business,
            timezone=timezone,
            history=history if history is not None else WeekHistory(),
            columns=records.columns,
        )

    def only(self, keep: Callable[[str, str], bool]) -> WeekFacts:
        """The same facts restricted to some channels or accounts: keep(channel, account_id)."""
        return replace(
            self,
            messages=[m for m in self.messages if keep(m.channel, m.account_id)],
            turns=[t for t in self.turns if keep(t.channel, t.account_id)],
            events=[e for e in self.events if keep(e.channel, e.account_id)],
            open_turns=[t for t in self.open_turns if keep(t.channel, t.account_id)],
            columns=self.columns.only(keep) if self.columns is not None else None,
        )

    @property
    def zone(self) -> str:
        """The brand's zone: given, else that of `start` when it carries one, else UTC."""
        if self.timezone:
            return self.timezone
        tz = self.start.tzinfo
        return tz.key if isinstance(tz, ZoneInfo) else "UTC"


# Enum members by themselves: a StrEnum member hashes and compares as its value, so one lookup
# takes a model's member (found by identity, fast) or a stored item's text alike.
_STATUSES: dict[str, TurnStatus] = {s: s for s in TurnStatus}
_KINDS: dict[str, TurnKind] = {k: k for k in TurnKind}
_PRIORITIES: dict[str, Priority] = {p: p for p in Priority}
_DIRECTIONS: dict[str, Direction] = {d: d for d in Direction}
# The reply time of a turn not answered, and the response time of one the clock did not
# measure, in the columns.
NOT_ANSWERED = math.inf
UNMEASURED = math.nan


class AccountWeek:
    """One account's messages and turns of a week as columns: one list per field the summary
    reads, index i of each turn list being the same turn.

    Instants are POSIX seconds and numbers plain doubles (`array('d')`), so a pass over a
    million turns reads memory in order instead of visiting a million objects; enums are their
    members. `source` holds each turn's fields themselves, for the few turns whose row is shown
    or whose pauses are measured.
    """

    __slots__ = (
        "account",
        "breached",
        "business",
        "channel",
        "due",
        "inbound_at",
        "key",
        "kind",
        "opened",
        "paused",
        "post_at",
        "post_private",
        "post_reply",
        "priority",
        "replied",
        "source",
        "status",
        "target",
    )

    def __init__(self, account: str, channel: str) -> None:
        self.account = account
        self.channel = channel
        # Inbound messages: when written (as read: compared and placed as datetimes, so no
        # timestamp is taken of a million of them).
        self.inbound_at: list[datetime] = []
        # The brand's posts: when, whether a reply (in a thread the brand did not start: what
        # a replay file gives is the thread, not the parent), whether private.
        self.post_at = array("d")
        self.post_reply: list[bool] = []
        self.post_private: list[bool] = []
        # Turns.
        self.status: list[TurnStatus] = []
        self.kind: list[TurnKind] = []
        self.priority: list[Priority] = []
        self.opened = array("d")
        # When an answered turn was answered; NOT_ANSWERED for the others.
        self.replied = array("d")
        # Deadlines, as read (compared as datetimes; a number only for the breaches).
        self.due: list[datetime] = []
        # The response time in the policy's clock; UNMEASURED (NaN) when the clock did not
        # measure it.
        self.business = array("d")
        self.breached: list[bool] = []
        self.target = array("d")
        # Snoozed now or ever (its waits are measured from `source`).
        self.paused: list[bool] = []
        # Each turn's key (`Turn.key`) and its fields.
        self.key: list[str] = []
        self.source: list[Mapping[str, Any]] = []


class WeekColumns:
    """A week's messages and turns by account, in columns (`AccountWeek`), accounts in the
    order first seen.

    Built from models (`of`) or directly from stored items: `add_messages` and `add_turns`
    take each item's fields by name, as `Message` / `Turn` would be validated from them
    (enums as members or their text, times as aware datetimes or their ISO 8601 text as the
    table holds it, optional fields absent or None). A turn's stored text of its times is kept
    in `source` and shown as it is in its breach row: written once, when stored, not again for
    each summary.
    Add the messages before the turns, each turn once (by its key: `add_stored_turns` finds
    each once and hands the keys it made over with the items).
    """

    def __init__(self) -> None:
        self.accounts: dict[str, AccountWeek] = {}

    @classmethod
    def of(cls, messages: Iterable[Message], turns: Iterable[Turn]) -> WeekColumns:
        """The columns of models (a model's `__dict__` is its fields by name)."""
        columns = cls()
        columns.add_messages(map(vars, messages))
        columns.add_turns(map(vars, turns))
        return columns

    def _account(self, account: str, channel: str) -> AccountWeek:
        made = self.accounts[account] = AccountWeek(account, channel)
        return made

    def add_messages(self, messages: Iterable[Mapping[str, Any]]) -> None:
        accounts = self.accounts
        inbound_dir, outbound_dir = Direction.INBOUND, Direction.OUTBOUND
        parse_time = datetime.fromisoformat
        for fields in messages:
            account = fields["account_id"]
            week = accounts.get(account) or self._account(account, fields["channel"])
            direction = _DIRECTIONS[fields["direction"]]
            created = fields["created_at"]
            if created.__class__ is str:
                created = parse_time(created)
            if direction is inbound_dir:
                week.inbound_at.append(created)
            elif direction is outbound_dir:
                week.post_at.append(created.timestamp())
                thread = fields.get("thread_id")
                week.post_reply.append(
                    fields.get("parent_id") is not None
                    or bool(thread and thread != fields["message_id"])
                )
                week.post_private.append(fields.get("private", False))

    def add_turns(
        self, turns: Iterable[Mapping[str, Any]], keys: Iterable[str] | None = None
    ) -> None:
        """The turns' fields, and their keys (`Turn.key`, which the open turns of earlier weeks are
        matched by) in the same order when the caller has them."""
        accounts = self.accounts
        statuses, kinds, priorities = _STATUSES, _KINDS, _PRIORITIES
        answered = TurnStatus.ANSWERED
        if keys is None:
            turns = list(turns)
            keys = map(turn_key_of, turns)
        parse_time = datetime.fromisoformat
        for key, fields in zip(keys, turns, strict=True):
            pauses = fields.get("pauses")
            if (pauses and pauses[0][0].__class__ is str) or fields.get(
                "snoozed_at"
            ).__class__ is str:
                # A stored item's pauses and snooze are text: read them as the model does (a
                # few turns; their waits are measured from `source`).
                fields = vars(Turn.model_validate(fields))
            account = fields["account_id"]
            week = accounts.get(account) or self._account(account, fields["channel"])
            status = statuses[fields["status"]]
            opened = fields["opened_at"]
            replied = fields.get("replied_at")
            due = fields["due_at"]
            # Times as the table holds them (text) are read here; `source` keeps the text.
            if opened.__class__ is str:
                opened = parse_time(opened)
            if due.__class__ is str:
                due = parse_time(due)
            if replied.__class__ is str:
                replied = parse_time(replied)
            business = fields.get("response_seconds")
            week.status.append(status)
            week.kind.append(kinds[fields["kind"]])
            week.priority.append(priorities[fields.get("priority", "normal")])
            week.opened.append(opened.timestamp())
            week.replied.append(
                replied.timestamp() if status is answered and replied is not None else NOT_ANSWERED
            )
            week.due.append(due)
            week.business.append(UNMEASURED if business is None else business)
            week.breached.append(fields.get("breached", False))
            week.target.append(fields["target_seconds"])
            week.paused.append(bool(pauses) or fields.get("snoozed_at") is not None)
            week.key.append(key)
            week.source.append(fields)

    def add_stored_turns(self, items: Iterable[Mapping[str, Any]]) -> None:
        """Stored turn items as the store reads them: each turn once by its key (the query
        ranges are disjoint by construction; this guards the summary against counting a turn
        twice, as the model path keeps them), the keys handed over with the items."""
        unique: dict[str, Mapping[str, Any]] = {}
        for item in items:
            unique.setdefault(turn_key_of(item), item)
        self.add_turns(unique.values(), unique.keys())

    def only(self, keep: Callable[[str, str], bool]) -> WeekColumns:
        """The columns of the accounts kept: keep(channel, account_id)."""
        kept = WeekColumns()
        kept.accounts = {a: w for a, w in self.accounts.items() if keep(w.channel, a)}
        return kept


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p90 of 10 values is the 9th smallest)."""
    if not values:
        return None
    ordered = sorted(values)
    return _rank(ordered, fraction)


def _rank(ordered: Sequence[float], fraction: float) -> float:
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _kth(runs: Sequence[Sequence[float]], k: int) -> float:
    """The value at position `k` (from 0) of several sorted runs taken together: the one a
    stable sort of the runs, concatenated in order, puts there (so a scope of several accounts
    needs no merged list)."""
    runs = [run for run in runs if run]
    if len(runs) == 1:
        return runs[0][k]
    for run in runs:
        lo, hi = 0, len(run)
        while lo < hi:
            mid = (lo + hi) // 2
            value = run[mid]
            below = sum(bisect_left(r, value) for r in runs)
            if below > k:
                hi = mid
                continue
            if sum(bisect_right(r, value) for r in runs) <= k:
                lo = mid + 1
                continue
            # Position k holds this value; among equal values the stable order is by run.
            offset = k - below
            for r in runs:
                first, last = bisect_left(r, value), bisect_right(r, value)
                if offset < last - first:
                    return r[first + offset]
                offset -= last - first
    raise IndexError(f"position {k} is past the {sum(map(len, runs))} values")


def _stats(runs: Sequence[Sequence[float]]) -> dict[str, float | int | None]:
    """Count, median, nearest-rank p90 and mean of the values of sorted runs."""
    count = sum(map(len, runs))
    if not count:
        return {"count": 0, "median": None, "p90": None, "mean": None}
    mid = count // 2
    median = _kth(runs, mid) if count % 2 else (_kth(runs, mid - 1) + _kth(runs, mid)) / 2
    return {
        "count": count,
        "median": round(median, 1),
        "p90": round(_kth(runs, max(1, math.ceil(0.9 * count)) - 1), 1),
        # fsum is exact, so the order of the values does not matter
        "mean": round(math.fsum(itertools.chain.from_iterable(runs)) / count, 1),
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
    fields = vars(turn)
    return _row(fields, now, key or turn.key, *_instants(fields), now.timestamp())


def _instants(fields: Mapping[str, Any]) -> tuple[float, float]:
    """A turn's opening and reply instants as its columns hold them (`AccountWeek.opened` and
    `AccountWeek.replied`: NOT_ANSWERED unless it was answered)."""
    replied = fields.get("replied_at")
    opened_ts = _instant(fields["opened_at"]).timestamp()
    if replied is None or fields["status"] != TurnStatus.ANSWERED:
        return opened_ts, NOT_ANSWERED
    return opened_ts, _instant(replied).timestamp()


# A wait this close to a whole number and a half of seconds is measured exactly before it is
# rounded (see _row): far wider than what the difference of two instants' doubles can be off
# by (a few tenths of a microsecond) for centuries to come.
_NEAR_HALF = 1e-5


def _row(
    fields: Mapping[str, Any],
    now: datetime,
    key: str,
    opened_ts: float,
    replied_ts: float,
    now_ts: float,
) -> dict[str, Any]:
    """`breach_row` of a turn's fields by name (a model's, or a stored item's, whose times may
    be the text the table holds), with its opening and reply instants as its columns hold them
    and `now` as a timestamp too.

    The wait is the difference of those doubles, rounded to whole seconds: what the exact
    times (whole microseconds) round to, except near a whole number and a half of seconds,
    where the doubles' last bits could tip it (two instants either side of a power of two
    seconds are off by different amounts); such a wait is measured from the times themselves,
    the only rows whose times are parsed here."""
    get = fields.get
    status = fields["status"]
    replied_by_now = replied_ts <= now_ts
    waited = (replied_ts if replied_by_now else now_ts) - opened_ts
    seconds = round(waited)
    if abs(abs(waited - seconds) - 0.5) < _NEAR_HALF:
        until = _instant(fields["replied_at"]) if replied_by_now else now
        seconds = round((until - _instant(fields["opened_at"])).total_seconds())
    account = fields["account_id"]
    return {
        "turn": key,
        "link": get("url", ""),
        "channel": fields["channel"],
        "account": account,
        # str() of a StrEnum is its value, without the enum machinery (a hot path).
        "priority": str(get("priority", "normal")),
        "customer": (get("author_handle") or get("author_name") or "")[:CUSTOMER_CHARS],
        "opened_at": _isoformat(fields["opened_at"]),
        "due_at": _isoformat(fields["due_at"]),
        "replied_at": _isoformat(fields["replied_at"]) if replied_by_now else None,
        "waited_seconds": seconds,
        "target_seconds": fields["target_seconds"],
        # An answer after `now` has not happened yet: the turn is shown open.
        "status": str(status)
        if replied_by_now or status != TurnStatus.ANSWERED
        else TurnStatus.OPEN.value,
        "owner": account,
        "author_id": fields["author_id"][:CUSTOMER_CHARS],
        "kind": str(fields["kind"]),
        "private": get("private", False),
        "text": get("text", "")[:EXCERPT_CHARS],
    }


def _instant(value: datetime | str) -> datetime:
    """A time of a turn's fields: a datetime, or the ISO 8601 text a stored item holds."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


# "YYYY-MM-DDT" of each day a time was written for (a week's rows fall on a few dozen days).
_DAY_PREFIXES: dict[date, str] = {}


def _isoformat(at: datetime | str) -> str:
    """`at.isoformat()`, of a datetime or of the ISO 8601 text a stored item holds.

    The table holds times as pydantic writes them ("...Z" for UTC): that text with the offset
    spelled "+00:00" is `isoformat()` of the time it reads as, with nothing formatted. A UTC
    time is written as its day's prefix, its time of day and the offset: the same characters
    in about half the time of `isoformat()` (a breach row shows three times, and a busy week
    has 100,000s of rows)."""
    if isinstance(at, str):
        if at[-1:] == "Z":
            return f"{at[:-1]}+00:00"
        return datetime.fromisoformat(at).isoformat()
    if at.tzinfo is not UTC:
        return at.isoformat()
    day = at.date()
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        if len(_DAY_PREFIXES) >= 4096:
            _DAY_PREFIXES.clear()
        prefix = _DAY_PREFIXES[day] = f"{day.isoformat()}T"
    return f"{prefix}{at.time().isoformat()}+00:00"


# A breach or an overdue turn: (deadline, turn key, position among the week's turns, its row,
# author, complained). Built once per turn and shared by every list that shows it; sorts by
# deadline, then key.
_Late = tuple[float, str, int, dict[str, Any], str, bool]
_COMPLAINTS = frozenset({Priority.HIGH, Priority.URGENT})


def _late(
    fields: Mapping[str, Any],
    now: datetime,
    key: str,
    index: int,
    due_at: datetime,
    instants: tuple[float, float, float],
) -> _Late:
    """`due_at` is the turn's deadline (its column's, read once); `instants` its opening and
    reply instants and `now`, as `_row` takes them."""
    return (
        due_at.timestamp(),
        key,
        index,
        _row(fields, now, key, *instants),
        fields["author_id"],
        fields.get("priority", "normal") in _COMPLAINTS,
    )


_OUTCOMES = ("opened", "on_time", "late", "open")
_MICROSECOND = timedelta(microseconds=1)


class _Tally:
    """The running figures of one account, filled by the pass over the week's facts.

    Per-hour counts are kept by the hour's position in the period (`LocalHours`): the heatmap
    folds them by weekday and hour, the daily rows add them up by day.
    """

    __slots__ = (
        "answered",
        "breach_authors",
        "breach_kinds",
        "breaches",
        "broadcasts",
        "broadcasts_visible",
        "complainers",
        "dismissals",
        "dismissed",
        "due",
        "first_business",
        "first_calendar",
        "heat_breaches",
        "high",
        "inbound",
        "inbound_by_hour",
        "late_by_hour",
        "levels",
        "next_business",
        "next_calendar",
        "on_time",
        "on_time_by_hour",
        "open_by_hour",
        "opened",
        "opened_by_hour",
        "overdue",
        "posts",
        "replies",
        "replies_seen",
        "sees_posts",
        "snoozes",
        "speed_count",
        "speed_sum",
        "still_snoozed",
        "union",
        "wait_ends",
        "wait_starts",
    )

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
        # Values as doubles (`array('d')`): a million of them are 8 MB in one block, not a
        # million objects to allocate, visit and free.
        self.first_calendar = array("d")
        self.first_business = array("d")
        self.next_calendar = array("d")
        self.next_business = array("d")
        # Breaches due in the week and turns overdue now (see _Late).
        self.breaches: list[_Late] = []
        self.overdue: list[_Late] = []
        self.levels: Counter[str] = Counter()
        # Per hour position: inbound messages; turns opened and how they ended.
        self.inbound_by_hour = [0] * positions
        self.opened_by_hour = [0] * positions
        self.on_time_by_hour = [0] * positions
        self.late_by_hour = [0] * positions
        self.open_by_hour = [0] * positions
        self.heat_breaches = [0] * HOURS_OF_WEEK
        # Breaches by (channel, private, local weekday of the customer's message): findings.
        self.breach_kinds: Counter[tuple[str, bool, int]] = Counter()
        # Customers at risk: per author, [breaches this week, the latest of them (_Late)];
        # the authors who complained (high or urgent) and waited past the deadline.
        self.breach_authors: dict[str, list[Any]] = {}
        self.complainers: set[str] = set()
        self.wait_starts = array("d")
        self.wait_ends = array("d")
        # The waits' union (waiting_union), once they are sorted.
        self.union: tuple[list[float], list[float]] = ([], [])
        self.posts = array("d")
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

    def sort(self) -> None:
        """Sort the values (and take the union of the waits, which every scope reads)."""
        self.first_calendar = _sorted(self.first_calendar)
        self.first_business = _sorted(self.first_business)
        self.next_calendar = _sorted(self.next_calendar)
        self.next_business = _sorted(self.next_business)
        self.wait_starts = _sorted(self.wait_starts)
        self.wait_ends = _sorted(self.wait_ends)
        self.posts = _sorted(self.posts)
        self.breaches.sort()
        self.overdue.sort()
        self.union = waiting_union(self.wait_starts, self.wait_ends)


def _sorted(values: array[float]) -> array[float]:
    """The values in order (sorted as a list of floats that lives only while it is sorted).

    Values already in order are kept as they are: the waits' starts and the posts come in
    time order in most accounts, and one pass of C comparisons costs less than making a
    million floats, sorting them and packing them again."""
    if all(map(operator.le, values, itertools.islice(values, 1, None))):
        return values
    return array("d", sorted(values))


def _add(left: list[int], right: list[int]) -> list[int]:
    return [a + b for a, b in zip(left, right, strict=True)]


class _Scope:
    """The figures of one scope (an account, a channel, the brand): its accounts' sorted
    tallies added up, in the order given.

    Sorted values stay one run per account: order statistics are read across the runs
    (`_kth`) and the waiting union is the union of each account's, so no merged copy of a
    million values is made. Posts, breaches and overdue turns are merged (their order is
    shown, or their gaps measured).
    """

    def __init__(self, tallies: Sequence[_Tally], positions: int) -> None:
        self.inbound = sum(t.inbound for t in tallies)
        self.opened = sum(t.opened for t in tallies)
        self.answered = sum(t.answered for t in tallies)
        self.dismissed = sum(t.dismissed for t in tallies)
        self.due = sum(t.due for t in tallies)
        self.on_time = sum(t.on_time for t in tallies)
        self.high = sum(t.high for t in tallies)
        self.speed_count = sum(t.speed_count for t in tallies)
        self.replies = sum(t.replies for t in tallies)
        self.replies_seen = sum(t.replies_seen for t in tallies)
        self.broadcasts = sum(t.broadcasts for t in tallies)
        self.still_snoozed = sum(t.still_snoozed for t in tallies)
        self.broadcasts_visible = any(t.broadcasts_visible for t in tallies)
        # Float sums add up account by account (sum() would compensate, and differ).
        self.speed_sum = 0.0
        for t in tallies:
            self.speed_sum += t.speed_sum
        self.first_calendar = [t.first_calendar for t in tallies]
        self.first_business = [t.first_business for t in tallies]
        self.next_calendar = [t.next_calendar for t in tallies]
        self.next_business = [t.next_business for t in tallies]
        self.waits: list[Waits] = [(t.wait_starts, t.wait_ends) for t in tallies]
        self.unions: list[Waits] = [t.union for t in tallies]
        self.posts = (
            tallies[0].posts
            if len(tallies) == 1
            else array("d", sorted(itertools.chain.from_iterable(t.posts for t in tallies)))
        )
        self.breaches = _merged([t.breaches for t in tallies])
        self.overdue = _merged([t.overdue for t in tallies])
        self.levels: Counter[str] = Counter()
        self.breach_kinds: Counter[tuple[str, bool, int]] = Counter()
        self.inbound_by_hour = [0] * positions
        self.outcomes_by_hour = {name: [0] * positions for name in _OUTCOMES}
        self.heat_breaches = [0] * HOURS_OF_WEEK
        self.dismissals: dict[str, list[float]] = {}
        self.snoozes: dict[str, list[float]] = {}
        for t in tallies:
            self.levels.update(t.levels)
            self.breach_kinds.update(t.breach_kinds)
            self.inbound_by_hour = _add(self.inbound_by_hour, t.inbound_by_hour)
            for name, by_hour in zip(
                _OUTCOMES,
                (t.opened_by_hour, t.on_time_by_hour, t.late_by_hour, t.open_by_hour),
                strict=True,
            ):
                self.outcomes_by_hour[name] = _add(self.outcomes_by_hour[name], by_hour)
            self.heat_breaches = _add(self.heat_breaches, t.heat_breaches)
            for mine, theirs in ((self.dismissals, t.dismissals), (self.snoozes, t.snoozes)):
                for person, values in theirs.items():
                    row = mine.setdefault(person, [0, 0.0, 0.0])
                    for i, value in enumerate(values):
                        row[i] += value


def _merged(runs: list[list[_Late]]) -> list[_Late]:
    """Sorted runs as one sorted list (Timsort merges sorted runs in near-linear time)."""
    if len(runs) == 1:
        return runs[0]
    return sorted(itertools.chain.from_iterable(runs))


@dataclass
class _Pass:
    """The result of one pass over a week's facts."""

    accounts: dict[str, _Tally]
    channel_of: dict[str, str]


@dataclass(frozen=True)
class _Period:
    """The instants a summary compares facts with, in every form the pass needs."""

    now: datetime
    start_ts: float
    end_ts: float
    now_ts: float
    # The part of the week that has happened: min(end, now).
    horizon_ts: float
    start_utc: datetime
    end_utc: datetime
    now_utc: datetime
    hours: LocalHours
    zone: str

    @classmethod
    def of(cls, facts: WeekFacts, hours: LocalHours) -> _Period:
        start, end, now = facts.start, facts.end, facts.now
        return cls(
            now=now,
            start_ts=start.timestamp(),
            end_ts=end.timestamp(),
            now_ts=now.timestamp(),
            horizon_ts=min(end.timestamp(), now.timestamp()),
            start_utc=start.astimezone(UTC),
            end_utc=end.astimezone(UTC),
            now_utc=now.astimezone(UTC),
            hours=hours,
            zone=facts.zone,
        )


def _tally_week(facts: WeekFacts, hours: LocalHours) -> _Pass:
    """Route every fact of the week to its account's tally.

    The week's messages and turns are read as columns (`WeekColumns`: given, or taken from the
    models in one tight pass, each model read once), then each account's columns are tallied
    by plain loops over lists of numbers: a million turns read from memory in order, not a
    million models visited field by field. Open turns of earlier weeks and events are few and
    read as they are.
    """
    period = _Period.of(facts, hours)
    columns = facts.columns or WeekColumns.of(facts.messages, facts.turns)
    positions = len(hours.starts)
    accounts: dict[str, _Tally] = {}
    channel_of: dict[str, str] = {}

    def new_tally(account: str, channel: str) -> _Tally:
        made = accounts[account] = _Tally(positions, channel in BROADCAST_CHANNELS)
        channel_of[account] = channel
        return made

    for account, week in columns.accounts.items():
        _tally_messages(week, period, new_tally(account, week.channel))
    # An open turn may be both among the week's turns and the open ones: count it once.
    open_by_key = {o.key: o for o in facts.open_turns}
    open_keys = open_by_key.keys()
    seen_open: set[str] = set()
    first = 0
    for account, week in columns.accounts.items():
        _tally_turns(week, period, accounts[account], open_keys, seen_open, first)
        first += len(week.status)
    now, start_ts, horizon_ts = facts.now, period.start_ts, period.horizon_ts
    for index, (key, turn) in enumerate(open_by_key.items(), start=first):
        # Open turns from earlier weeks: only their waiting and lateness count this week.
        if key in seen_open or not _open_at(turn, now):
            continue
        seen_open.add(key)
        fields = vars(turn)
        t = accounts.get(turn.account_id) or new_tally(turn.account_id, turn.channel)
        a = max(turn.opened_at.timestamp(), start_ts)
        t.still_snoozed += _snoozed_at(fields, now)
        for x, y in _minus_pauses(a, horizon_ts, _pause_spans(fields, now)):
            t.wait_starts.append(x)
            t.wait_ends.append(y)
        if turn.due_at < now:
            instants = (*_instants(fields), period.now_ts)
            t.overdue.append(_late(fields, now, key, index, turn.due_at, instants))

    start_utc, end_utc, now_utc = period.start_utc, period.end_utc, period.now_utc
    opened_at_of: dict[tuple[str, str, int], datetime] | None = None
    for event in facts.events:
        at = event.at
        if not (start_utc <= at < end_utc) or at > now_utc:
            continue
        t = accounts.get(event.account_id) or new_tally(event.account_id, event.channel)
        kind = event.type
        if kind in LEVEL_EVENTS:
            t.levels[event.level or kind.value] += 1
        elif kind is EventType.DISMISSED:
            if opened_at_of is None:
                opened_at_of = _opened_at_by_turn(columns, facts.open_turns)
            opened_at = opened_at_of.get((event.account_id, event.thread_id, event.turn_seq))
            waited = (at - opened_at).total_seconds() if opened_at else 0.0
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


def _opened_at_by_turn(
    columns: WeekColumns, open_turns: Iterable[Turn]
) -> dict[tuple[str, str, int], datetime]:
    """When each turn opened, by (account, thread, seq): the week's turns, then the open ones."""
    found = {
        (f["account_id"], f["thread_id"], f["seq"]): _instant(f["opened_at"])
        for week in columns.accounts.values()
        for f in week.source
    }
    found.update(((t.account_id, t.thread_id, t.seq), t.opened_at) for t in open_turns)
    return found


def _tally_messages(week: AccountWeek, period: _Period, t: _Tally) -> None:
    """An account's inbound messages (counted, by hour) and posts (the cuts of its silent
    stretches; replies and broadcasts)."""
    start_utc, end_utc = period.start_utc, period.end_utc
    inbound_at, by_hour, starts = week.inbound_at, t.inbound_by_hour, period.hours.starts_utc
    if all(map(operator.le, inbound_at, itertools.islice(inbound_at, 1, None))):
        # In time order, as the store reads them: each hour's count is the distance between
        # where its start and the next one's would go.
        first, last = bisect_left(inbound_at, start_utc), bisect_left(inbound_at, end_utc)
        t.inbound = last - first
        cuts = [bisect_left(inbound_at, at, first, last) for at in starts[1:]]
        for position, (a, b) in enumerate(zip([first, *cuts], [*cuts, last], strict=True)):
            by_hour[position] = b - a
    else:
        written = [at for at in inbound_at if start_utc <= at < end_utc]
        t.inbound = len(written)
        # Every instant of the period lies in its local hours (they run from the local
        # midnight that starts its first day to the one that ends its last): no range check
        # is needed.
        for position in map(bisect_right, itertools.repeat(starts), written):
            by_hour[position - 1] += 1
    # The brand's own posts are known for this account: they are the cuts of its silent
    # stretches (replies among them), not the turns' reply instants.
    t.sees_posts = bool(week.post_at)
    start_ts, horizon_ts = period.start_ts, period.horizon_ts
    visible = t.broadcasts_visible
    posts, post_at = t.posts, week.post_at
    replies = broadcasts = 0
    if all(map(operator.le, post_at, itertools.islice(post_at, 1, None))):
        # In time order, as the store reads them: the period's posts are one stretch of the
        # columns, counted in C loops.
        first, last = bisect_left(post_at, start_ts), bisect_left(post_at, horizon_ts)
        posts.extend(post_at[first:last])
        is_reply, is_private = week.post_reply[first:last], week.post_private[first:last]
        replies = sum(map(operator.truth, is_reply))
        private_broadcasts = itertools.compress(is_private, map(operator.not_, is_reply))
        broadcasts = len(is_reply) - replies - sum(map(operator.truth, private_broadcasts))
    else:
        for at, reply, private in zip(post_at, week.post_reply, week.post_private, strict=True):
            if start_ts <= at < horizon_ts:
                posts.append(at)
                if reply:
                    replies += 1
                elif not private:
                    broadcasts += 1
    t.replies = replies
    if visible:
        t.replies_seen = replies
        t.broadcasts = broadcasts


def _tally_turns(
    week: AccountWeek,
    period: _Period,
    t: _Tally,
    open_keys: Collection[str],
    seen_open: set[str],
    first: int,
) -> None:
    """An account's turns: waits, lateness, response times and speed, by hour; `first` is the
    position of its first turn among all the week's turns (which orders identical breaches).

    Instants are compared as POSIX seconds or as UTC datetimes, whichever the column holds:
    the order of instants and of their timestamps is the same. Turns answered by `now` (most
    of a week) take a path of their own, with no test that only a waiting turn needs."""
    start_ts, end_ts = period.start_ts, period.end_ts
    now_ts, horizon_ts, now = period.now_ts, period.horizon_ts, period.now
    now_utc = period.now_utc
    # Due in the week and by now: start <= due < end and due <= now, as one range (datetimes
    # count whole microseconds, so due <= now is due < now + 1 µs).
    due_from, due_until = period.start_utc, min(period.end_utc, now_utc + _MICROSECOND)
    hour_starts, slots, zone = period.hours.starts, period.hours.slots, period.zone
    open_status, dismissed_status = TurnStatus.OPEN, TurnStatus.DISMISSED
    first_kind, high, urgent = TurnKind.FIRST, Priority.HIGH, Priority.URGENT
    sources, keys = week.source, week.key
    wait_start, wait_end = t.wait_starts.append, t.wait_ends.append
    post = t.posts.append
    first_calendar, first_business = t.first_calendar.append, t.first_business.append
    next_calendar, next_business = t.next_calendar.append, t.next_business.append
    overdue_turn = t.overdue.append
    opened_by_hour, open_by_hour = t.opened_by_hour, t.open_by_hour
    on_time_by_hour, late_by_hour = t.on_time_by_hour, t.late_by_hour
    sees_posts = t.sees_posts
    opened = answered = dismissed = due = on_time = high_count = speed_count = 0
    still_snoozed = 0
    speed_sum = 0.0
    # The hour position of the last turn opened in the period, and the instants it spans.
    hour, hour_from, hour_until = -1, 0.0, 0.0
    columns = zip(
        week.status,
        week.kind,
        week.priority,
        week.opened,
        week.replied,
        week.due,
        week.business,
        week.breached,
        week.target,
        week.paused,
        strict=True,
    )
    for i, (
        status,
        kind,
        priority,
        opened_ts,
        replied_ts,
        due_at,
        business,
        breached,
        target,
        paused,
    ) in enumerate(columns):
        if replied_ts <= now_ts:
            # Answered by now (the column holds NOT_ANSWERED for a turn not answered).
            a = opened_ts if opened_ts > start_ts else start_ts
            b = horizon_ts if replied_ts > horizon_ts else replied_ts
            if a < b:
                if paused:
                    for x, y in _minus_pauses(a, b, _pause_spans(sources[i], now)):
                        wait_start(x)
                        wait_end(y)
                else:
                    wait_start(a)
                    wait_end(b)
            if not sees_posts and start_ts <= replied_ts < horizon_ts:
                post(replied_ts)
            position = -1
            if start_ts <= opened_ts < end_ts:
                opened += 1
                if priority is high or priority is urgent:
                    high_count += 1
                # The turns come about in time order: the hour at hand is mostly the last one.
                if not hour_from <= opened_ts < hour_until:
                    hour, hour_from, hour_until = _hour_of(hour_starts, opened_ts)
                position = hour
                opened_by_hour[position] += 1
                answered += 1
                calendar = replied_ts - opened_ts
                if business != business:  # UNMEASURED (NaN is the one value not equal to itself)
                    business = calendar
                if kind is first_kind:
                    first_calendar(calendar)
                    first_business(business)
                else:
                    next_calendar(calendar)
                    next_business(business)
                # speed_of(), inlined: this runs once per answered turn.
                if target > 0:
                    speed = 1.0 - business / (2.0 * target)
                    if speed > 0.0:
                        speed_sum += speed
                else:
                    speed_sum += speed_of(business, target)
                speed_count += 1
                if breached:
                    late_by_hour[position] += 1
                else:
                    on_time_by_hour[position] += 1
            if due_from <= due_at < due_until:
                due += 1
                if breached:
                    fields = sources[i]
                    instants = (opened_ts, replied_ts, now_ts)
                    late = _late(fields, now, keys[i], first + i, due_at, instants)
                    _count_breach(t, late, fields, position, slots, zone)
                else:
                    on_time += 1
            continue
        # Dismissed, or still waiting at `now` (open, or answered only later).
        if status is open_status and open_keys:
            key = keys[i]
            if key in seen_open:
                continue
            if key in open_keys:
                seen_open.add(key)
        if status is dismissed_status:
            if start_ts <= opened_ts < end_ts:
                opened += 1
                if priority is high or priority is urgent:
                    high_count += 1
                if not hour_from <= opened_ts < hour_until:
                    hour, hour_from, hour_until = _hour_of(hour_starts, opened_ts)
                opened_by_hour[hour] += 1
                dismissed += 1
            continue
        late_row: _Late | None = None
        # The wait, clipped to the part of the week that has happened.
        a = opened_ts if opened_ts > start_ts else start_ts
        if a < horizon_ts:
            if paused:
                fields = sources[i]
                still_snoozed += _snoozed_at(fields, now)
                for x, y in _minus_pauses(a, horizon_ts, _pause_spans(fields, now)):
                    wait_start(x)
                    wait_end(y)
            else:
                wait_start(a)
                wait_end(horizon_ts)
        if due_at < now_utc:
            fields = sources[i]
            instants = (opened_ts, replied_ts, now_ts)
            late_row = _late(fields, now, keys[i], first + i, due_at, instants)
            overdue_turn(late_row)
        position = -1
        if start_ts <= opened_ts < end_ts:
            opened += 1
            if priority is high or priority is urgent:
                high_count += 1
            if not hour_from <= opened_ts < hour_until:
                hour, hour_from, hour_until = _hour_of(hour_starts, opened_ts)
            position = hour
            opened_by_hour[position] += 1
            open_by_hour[position] += 1
        if due_from <= due_at < due_until:
            due += 1
            if late_row is not None:  # waited past the deadline: the overdue row above
                _count_breach(t, late_row, sources[i], position, slots, zone)
    t.opened, t.answered, t.dismissed, t.high = opened, answered, dismissed, high_count
    t.due, t.on_time, t.speed_count, t.speed_sum = due, on_time, speed_count, speed_sum
    t.still_snoozed += still_snoozed


def _hour_of(starts: Sequence[float], ts: float) -> tuple[int, float, float]:
    """The position of the local hour an instant of the period falls in (it always has one:
    see _tally_messages), and the instants that hour runs from and until."""
    position = bisect_right(starts, ts) - 1
    until = starts[position + 1] if position + 1 < len(starts) else math.inf
    return position, starts[position], until


def _count_breach(
    t: _Tally,
    late: _Late,
    fields: Mapping[str, Any],
    position: int,
    slots: Sequence[int],
    zone: str,
) -> None:
    """A breach due in the week: listed, its author counted, placed by the local hour of the
    customer's message (its hour position when it is in the period: the same weekday and
    hour; else from the zone)."""
    t.breaches.append(late)
    author = late[4]
    seen = t.breach_authors.get(author)
    if seen is None:
        t.breach_authors[author] = [1, late]
    else:
        seen[0] += 1
        # The latest deadline's row names the customer (an index decides a tie).
        if late[:3] > seen[1][:3]:
            seen[1] = late
    if late[5]:
        t.complainers.add(author)
    slot = slots[position] if position >= 0 else local_slot(_instant(fields["opened_at"]), zone)
    t.heat_breaches[slot] += 1
    t.breach_kinds[(fields["channel"], fields.get("private", False), slot // 24)] += 1


def turn_key_of(fields: Mapping[str, Any]) -> str:
    """A turn's key (`Turn.key`) from its fields."""
    return f"{fields['account_id']}:{fields['thread_id']}:{fields['seq']}"


def _pause_spans(fields: Mapping[str, Any], now: datetime) -> list[tuple[datetime, datetime]]:
    """The spans a person paused the turn's clock: ended snoozes, and the one running."""
    spans = list(fields.get("pauses") or ())
    snoozed_at = fields.get("snoozed_at")
    if snoozed_at is not None:
        spans.append((snoozed_at, min(fields.get("snoozed_until") or now, now)))
    return spans


def _snoozed_at(fields: Mapping[str, Any], now: datetime) -> bool:
    """Snoozed when the summary is made (a turn's fields by name)."""
    snoozed_at, until = fields.get("snoozed_at"), fields.get("snoozed_until")
    return snoozed_at is not None and snoozed_at <= now and (until is None or until > now)


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


def _daily(tally: _Scope, facts: WeekFacts, hours: LocalHours) -> list[dict[str, Any]]:
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


def _customers_at_risk(
    accounts: Mapping[str, _Tally], history: Sequence[Mapping[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Customers a brand is about to lose, by account: breached more than once in RISK_WEEKS
    weeks, or complained (high or urgent) and waited past the deadline this week.

    A customer is an author on one account, so each account is looked at on its own (the
    breach authors its tally counted, and its rows of `history`: the earlier weeks' breach
    authors, oldest first), accounts seen only in `history` included. Each list is in the order
    customers are shown (`_risk_order`).
    """
    earlier: dict[str, list[Mapping[str, Any]]] = {}
    for row in history:
        earlier.setdefault(str(row["account"]), []).append(row)
    found = {
        account: _account_risk(account, t.breach_authors, t.complainers, earlier.get(account, []))
        for account, t in accounts.items()
    }
    for account, rows in earlier.items():
        if account not in found:
            found[account] = _account_risk(account, {}, set(), rows)
    return found


def _account_risk(
    account: str,
    breach_authors: Mapping[str, list[Any]],
    complained: set[str],
    history: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    earlier: dict[str, int] = {}
    for entry in history:
        author = str(entry["author_id"])
        earlier[author] = earlier.get(author, 0) + int(entry["breaches"])
    # Breached more than once in the weeks, or complained (a complainer breached this week).
    wanted = {a for a, seen in breach_authors.items() if seen[0] > 1 and a not in earlier}
    wanted.update(a for a in complained if a in breach_authors or a in earlier)
    for author, before in earlier.items():
        seen = breach_authors.get(author)
        if (seen[0] if seen is not None else 0) + before > 1:
            wanted.add(author)
    people: dict[str, tuple[str, str, str, str]] = {}
    for entry in history:  # oldest first: later weeks' names and links win
        author = str(entry["author_id"])
        if author in wanted:
            people[author] = (
                str(entry["customer"])[:CUSTOMER_CHARS],
                str(entry["channel"]),
                str(entry["link"]),
                str(entry["last_due_at"]),
            )
    at_risk = []
    for author in wanted:
        seen = breach_authors.get(author)
        now_count = 0
        if seen is not None:  # this week's latest breach wins over earlier weeks'
            now_count, latest = seen[0], seen[1][3]
            people[author] = (
                latest["customer"] or latest["author_id"],
                latest["channel"],
                latest["link"],
                latest["due_at"],
            )
        customer, channel, link, last_due = people[author]
        before = earlier.get(author, 0)
        at_risk.append(
            {
                "customer": customer,
                "author_id": author[:CUSTOMER_CHARS],
                "account": account,
                "channel": channel,
                "breaches_4_weeks": now_count + before,
                "breaches_this_week": now_count,
                "complained": author in complained,
                "link": link,
                "last_due_at": last_due,
            }
        )
    at_risk.sort(key=_risk_order)
    return at_risk


def _risk_order(person: Mapping[str, Any]) -> tuple[int, bool, str, str]:
    """Most breaches first, complaints first, then by account and author."""
    return (
        -person["breaches_4_weeks"],
        not person["complained"],
        person["account"],
        person["author_id"],
    )


def _pause_audit(tally: _Scope) -> dict[str, Any]:
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
    tally: _Scope,
    facts: WeekFacts,
    hours: LocalHours,
    at_risk: list[dict[str, Any]],
) -> dict[str, Any]:
    """The §7 metrics of one scope; `at_risk` are the scope's customers at risk."""
    response_rate = _ratio(tally.answered, tally.opened - tally.dismissed)
    attainment = _ratio(tally.on_time, tally.due)
    zone = ZoneInfo(facts.zone)
    stretches = silent_stretches_of(
        tally.waits,
        tally.posts,
        business=facts.business,
        top=SILENT_STRETCHES_SHOWN,
        unions=tally.unions,
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
        "breaches": [late[3] for late in tally.breaches],
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


@dataclass
class _Scopes:
    """Every account's sorted tally and the brand's scope, with the customers at risk."""

    hours: LocalHours
    whole: _Scope
    accounts: dict[str, _Tally]
    channels: dict[str, list[str]]
    # Customers at risk by account, and all of them in the order shown.
    at_risk_of: dict[str, list[dict[str, Any]]]
    at_risk: list[dict[str, Any]]

    def of(self, accounts: Iterable[str]) -> _Scope:
        return _Scope([self.accounts[a] for a in accounts], len(self.hours.starts))


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
    whole = _Scope(list(week.accounts.values()), len(hours.starts))
    at_risk_of = _customers_at_risk(week.accounts, facts.history.breach_authors)
    at_risk = sorted(itertools.chain.from_iterable(at_risk_of.values()), key=_risk_order)
    channels: dict[str, list[str]] = {}
    for account, channel in sorted(week.channel_of.items()):
        channels.setdefault(channel, []).append(account)
    return _Scopes(hours, whole, week.accounts, channels, at_risk_of, at_risk)


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
    # Customers at risk of each account and channel, in the brand's order.
    risk_of_channel: dict[str, list[dict[str, Any]]] = {}
    for person in scopes.at_risk:
        risk_of_channel.setdefault(person["channel"], []).append(person)
    by_account = {
        account: _metrics(scopes.of([account]), facts, scopes.hours, scopes.at_risk_of[account])
        for account in sorted(scopes.accounts)
    }
    by_channel: dict[str, dict[str, Any]] = {}
    for channel, members in sorted(scopes.channels.items()):
        # One account on the channel: the same facts, the same figures.
        by_channel[channel] = (
            by_account[members[0]]
            if len(members) == 1
            else _metrics(
                scopes.of(members),
                facts,
                scopes.hours,
                risk_of_channel.get(channel, []),
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
        "open_overdue_turns": [late[3] for late in scopes.whole.overdue],
        "trends": trends(facts.history, week, current),
        "reputation_formula": REPUTATION_FORMULA,
    }
    summary["findings"] = findings(summary, breach_kinds=scopes.whole.breach_kinds)
    return summary

"""Plain-language findings: what a manager should notice in a week, in a few sentences.

Findings are built from the summary's own figures (channel names, days, counts, durations),
never from customer text, so they can go into an e-mail as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reply_sla.domain.notices import channel_name, human_duration
from reply_sla.domain.weeks import WEEKDAYS, parse_iso

# What a breach was, by channel and privacy: (one, several).
_PRIVATE_KINDS = {
    "facebook": ("a Messenger DM", "Messenger DMs"),
    "instagram": ("an Instagram DM", "Instagram DMs"),
    "x": ("an X DM", "X DMs"),
}
_PUBLIC_KINDS = {
    "facebook": ("a Facebook comment", "Facebook comments"),
    "instagram": ("an Instagram comment", "Instagram comments"),
    "x": ("an X mention", "X mentions"),
    "mastodon": ("a Mastodon mention", "Mastodon mentions"),
    "bluesky": ("a Bluesky mention", "Bluesky mentions"),
    "discourse": ("a forum post", "forum posts"),
    "youtube": ("a YouTube comment", "YouTube comments"),
    "google_reviews": ("a Google review", "Google reviews"),
}
# A change smaller than this many percentage points is not worth a sentence of its own.
NOTABLE_POINTS = 5


def breach_kind(channel: str, private: bool) -> tuple[str, str]:
    """How a manager names a breach's kind of message, singular and plural."""
    if private:
        name = channel_name(channel)
        return _PRIVATE_KINDS.get(channel, (f"a private message on {name}", f"{name} DMs"))
    name = channel_name(channel)
    return _PUBLIC_KINDS.get(channel, (f"a message on {name}", f"messages on {name}"))


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _previous(summary: Mapping[str, Any], name: str) -> Any:
    series = summary.get("trends", {}).get("metrics", {}).get(name) or []
    return series[-2] if len(series) >= 2 else None


def breach_kinds_of(
    breaches: Sequence[Mapping[str, Any]], zone: ZoneInfo
) -> Counter[tuple[str, bool, int]]:
    """Breaches by (channel, private, local weekday of the customer's message)."""
    return Counter(
        (
            str(b["channel"]),
            bool(b.get("private")),
            parse_iso(str(b["opened_at"])).astimezone(zone).weekday(),
        )
        for b in breaches
    )


def _breach_pattern(kinds: Counter[tuple[str, bool, int]]) -> str | None:
    """'3 of 4 breaches were Messenger DMs on Saturday': the pattern that covers the most
    breaches (at least half, and two), the most specific one when several cover as many."""
    n = sum(kinds.values())
    if n == 0:
        return None
    if n == 1:
        [(channel, private, day)] = list(kinds)
        return f"The only breach was {breach_kind(channel, private)[0]} sent on a {WEEKDAYS[day]}."
    patterns: list[tuple[Callable[[tuple[str, bool, int]], Any], Callable[[Any], str]]] = [
        (lambda k: k, lambda key: f"{breach_kind(key[0], key[1])[1]} sent on a {WEEKDAYS[key[2]]}"),
        (lambda k: k[:2], lambda key: breach_kind(key[0], key[1])[1]),
        (lambda k: k[2], lambda key: f"messages sent on a {WEEKDAYS[key]}"),
    ]
    best: tuple[int, int, str] | None = None  # (count, specificity, sentence)
    for specificity, (group, describe) in enumerate(reversed(patterns)):
        grouped: Counter[Any] = Counter()
        for kind, count in kinds.items():
            grouped[group(kind)] += count
        # Most frequent first; ties go to the first in a fixed order, so findings are stable.
        key, count = min(grouped.items(), key=lambda item: (-item[1], str(item[0])))
        if count >= 2 and count * 2 >= n and (best is None or (count, specificity) > best[:2]):
            best = (count, specificity, f"{count} of {n} breaches were {describe(key)}.")
    if best is not None:
        return best[2]
    return f"The {n} breaches were spread over channels and days; no single pattern stands out."


def _change(label: str, now: float | None, before: Any, always: bool) -> str | None:
    if now is None:
        return None
    if not isinstance(before, int | float):
        return f"{label}: {_pct(now)}." if always else None
    points = round((now - before) * 100)
    if points == 0:
        return f"{label}: {_pct(now)}, the same as the week before." if always else None
    if abs(points) < NOTABLE_POINTS and not always:
        return None
    direction = "up" if points > 0 else "down"
    return (
        f"{label}: {_pct(now)}, {direction} {abs(points)} points from {_pct(before)} "
        "the week before."
    )


def _slowest_channel(by_channel: Mapping[str, Mapping[str, Any]]) -> str | None:
    medians = {
        channel: m["first_response_seconds"]["calendar"]["median"]
        for channel, m in by_channel.items()
        if m["first_response_seconds"]["calendar"]["median"] is not None
    }
    if len(medians) < 2:
        return None
    slow = max(medians, key=lambda c: (medians[c], c))
    fast = min(medians, key=lambda c: (medians[c], c))
    if medians[slow] == medians[fast]:
        return None
    return (
        f"First replies were slowest on {channel_name(slow)} (median "
        f"{human_duration(medians[slow])}) and fastest on {channel_name(fast)} "
        f"({human_duration(medians[fast])})."
    )


def _local(text: str, zone: ZoneInfo) -> datetime:
    return parse_iso(text).astimezone(zone)


def _silence(metrics: Mapping[str, Any], zone: ZoneInfo) -> str | None:
    stretches = metrics["silent_stretches"]
    if not stretches or stretches[0]["business_seconds"] < 1800:
        return None
    longest = stretches[0]
    start, end = _local(longest["start"], zone), _local(longest["end"], zone)
    until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %H:%M}"
    waiting = longest["turns_waiting"]
    who = "1 customer" if waiting == 1 else f"{waiting} customers"
    return (
        f"Longest silence: {human_duration(longest['business_seconds'])} of business time "
        f"({start:%a %H:%M} to {until}) while {who} waited and the brand posted nothing."
    )


def _busiest_hour(metrics: Mapping[str, Any]) -> str | None:
    grid = metrics["hour_of_week"]["inbound_messages"]
    count, day, hour = max((grid[d][h], -d, -h) for d in range(7) for h in range(24))
    if count < 5:
        return None
    day, hour = -day, -hour
    return (
        f"Customers wrote most on {WEEKDAYS[day]}s {hour:02d}:00-{(hour + 1) % 24:02d}:00 "
        f"({count} messages)."
    )


def findings(
    summary: Mapping[str, Any], breach_kinds: Counter[tuple[str, bool, int]] | None = None
) -> list[str]:
    """A few sentences a manager reads first, most important first.

    `breach_kinds` (see `breach_kinds_of`) is computed from the breach rows when not given.
    """
    metrics = summary["metrics"]
    zone = ZoneInfo(str(summary["timezone"]))
    kinds = breach_kinds if breach_kinds is not None else breach_kinds_of(metrics["breaches"], zone)
    out: list[str | None] = [
        _breach_pattern(kinds),
        _change(
            "Answered on time",
            metrics["sla_attainment"],
            _previous(summary, "sla_attainment"),
            always=True,
        ),
        _change(
            "Response rate",
            metrics["response_rate"],
            _previous(summary, "response_rate"),
            always=False,
        ),
    ]
    score, before = metrics["reputation_score"], _previous(summary, "reputation_score")
    if score is not None:
        out.append(
            f"Reputation score: {score} of 100"
            + (f" ({before} the week before)." if isinstance(before, int | float) else ".")
        )
    out += [_slowest_channel(summary["by_channel"]), _silence(metrics, zone)]
    overdue = metrics["open_overdue"]
    if overdue:
        out.append(
            "1 customer is still waiting past the deadline."
            if overdue == 1
            else f"{overdue} customers are still waiting past their deadline."
        )
    risk = len(metrics["customers_at_risk"])
    if risk:
        out.append(
            f"{risk} customer{' is' if risk == 1 else 's are'} at risk: breached more than once "
            "in 4 weeks, or complained and waited past the deadline."
        )
    dismissed = metrics["pause_audit"]["dismissed"]["count"]
    if dismissed:
        out.append(
            f"{dismissed} wait{' was' if dismissed == 1 else 's were'} dismissed as needing no "
            "reply (see the pause audit)."
        )
    out.append(_busiest_hour(metrics))
    if not metrics["turns_opened"] and not metrics["breaches"]:
        out.append("No customer needed a reply this week.")
    return [line for line in out if line]

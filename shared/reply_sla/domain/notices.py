"""The text managers read: escalation and summary notices as plain-text e-mail bodies.

Customer text is data: control characters and bidi overrides are removed, it is capped, and
every line of it is quoted so none can pass for a header or an instruction from us.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

from reply_sla.domain.models import Turn, TurnKind

QUOTED_TEXT_CHARS = 500
CHANNEL_NAMES = {
    "mastodon": "Mastodon",
    "x": "X",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "discourse": "the forum",
    "bluesky": "Bluesky",
}
# Every character a mail reader may break a line at becomes a newline, so `quote` sees it.
_LINE_BREAKS = re.compile("[\r\v\f\x85\u2028\u2029]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def neutralize(text: str, limit: int = QUOTED_TEXT_CHARS) -> str:
    """Customer text made safe for a plain-text e-mail: no controls, no bidi tricks, capped."""
    text = _BIDI.sub("", _LINE_BREAKS.sub("\n", text.replace("\r\n", "\n")))
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def one_line(text: str, limit: int = 60) -> str:
    """Neutralized and folded to one line (for names and handles in subjects)."""
    return " ".join(neutralize(text, limit).split())


def quote(text: str) -> str:
    return "\n".join(f"  > {line}" if line else "  >" for line in neutralize(text).split("\n"))


def human_duration(seconds: float) -> str:
    """3h 12m, 2d 4h, 45m, 30s."""
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def local_time(instant: datetime, timezone: str) -> str:
    local = instant.astimezone(ZoneInfo(timezone))
    return local.strftime("%a %d %b %Y %H:%M ") + (local.tzname() or timezone)


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


def escalation_subject(turn: Turn, waited_seconds: float, brand: str) -> str:
    """Who waited how long where, under SNS's 100-character limit; the handle is what shrinks."""
    tail = (
        f" waited {human_duration(waited_seconds)} on {channel_name(turn.channel)} "
        f"({one_line(brand, 30)})"
    )
    room = 99 - len("[replysla] ") - len(tail)
    who = one_line(turn.author_handle or turn.author_name or "a customer", max(room, 8))
    return f"[replysla] {who}{tail}"[:99]


def escalation_body(
    turn: Turn,
    level: str,
    waited_seconds: float,
    now: datetime,
    *,
    brand_name: str,
    timezone: str,
    next_level: tuple[str, datetime] | None = None,
) -> str:
    """The plain-text body of an escalation e-mail."""
    target_kind = "first response" if turn.kind is TurnKind.FIRST else "next response"
    overdue = (now - turn.due_at).total_seconds()
    who = one_line(turn.author_name or turn.author_handle, 60)
    handle = one_line(turn.author_handle, 60)
    lines = [
        f"{brand_name}: a customer on {channel_name(turn.channel)} has waited "
        f"{human_duration(waited_seconds)} for a reply "
        f"(target {human_duration(turn.target_seconds)}).",
        "",
        f"Customer:   {who}" + (f" ({handle})" if handle and handle != who else ""),
        f"Channel:    {channel_name(turn.channel)}, account {turn.account_id}"
        + (" (private message)" if turn.private else ""),
        f"Waiting:    {human_duration(waited_seconds)} "
        f"since {local_time(turn.opened_at, timezone)}",
        f"Target:     {target_kind} within {human_duration(turn.target_seconds)} "
        f'(policy "{turn.policy}")',
        f"Due:        {local_time(turn.due_at, timezone)}"
        + (f" ({human_duration(overdue)} ago)" if overdue > 0 else ""),
        f"Priority:   {turn.priority.value}",
        f"Level:      {level}",
        "Next level: "
        + (
            f"{next_level[0]} at {local_time(next_level[1], timezone)}"
            if next_level
            else "none; this is the last alert for this message"
        ),
        "",
        "What the customer wrote"
        + (
            f" ({turn.inbound_count} messages, the first shown):" if turn.inbound_count > 1 else ":"
        ),
        quote(turn.text) if turn.text.strip() else "  > (no text)",
        "",
        f"Open the conversation: {turn.url}"
        if turn.url
        else "Open the conversation on the channel.",
        "",
        "A reply in the conversation closes this wait and stops further alerts.",
        f"Turn id: {turn.key}",
    ]
    return "\n".join(lines) + "\n"

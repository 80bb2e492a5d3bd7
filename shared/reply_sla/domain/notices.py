"""The text managers read: escalation and summary notices as plain-text e-mail bodies.

Customer text is data: control characters and bidi overrides are removed, it is capped, and
every line of it is quoted so none can pass for a header or an instruction from us.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from reply_sla.domain.models import Priority, Turn, TurnKind

QUOTED_TEXT_CHARS = 500
# Who a notice is for, in its `audience` message attribute, on which subscriptions filter
# (template.yaml's TeamEmails and ManagerEmails, `replysla managers add --audience`): the team
# hears of a message still within its window, managers of one that exceeded it.
TEAM = "team"
MANAGERS = "managers"
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
    collapsed: Sequence[str] = (),
    actions: Sequence[tuple[str, str]] = (),
) -> str:
    """The plain-text body of an escalation e-mail.

    `collapsed` names lower levels that fell due at the same time and are folded into this one
    message; `actions` are (label, url) links that snooze or handle the turn.
    """
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
        f"Level:      {level}"
        + (f" (also past {', '.join(collapsed)}: one message for all)" if collapsed else ""),
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
        *_how_to_act(turn, actions),
        f"Turn id: {turn.key}",
    ]
    return "\n".join(lines) + "\n"


def _how_to_act(turn: Turn, actions: Sequence[tuple[str, str]]) -> list[str]:
    """How a manager snoozes or dismisses the turn: signed links when configured, and the CLI."""
    lines = [""]
    if actions:
        lines.append("Act on it (each link asks you to confirm):")
        lines += [f"  {label}: {url}" for label, url in actions]
    lines += [
        "Or from a terminal:",
        f"  replysla threads snooze {turn.key} --until <ISO time> --reason <why>",
        f"  replysla threads dismiss {turn.key} --reason <why>",
        "",
    ]
    return lines


# -- digests --------------------------------------------------------------------------------

# SNS accepts messages up to 256 KiB (262,144 bytes) including attributes; digests stay well
# under it and are split into numbered parts when they would not.
SNS_MAX_MESSAGE_BYTES = 262_144
DIGEST_BODY_BYTES = 240_000
DIGEST_QUOTE_CHARS = 200
_PRIORITY_ORDER = {Priority.URGENT: 0, Priority.HIGH: 1, Priority.NORMAL: 2, Priority.LOW: 3}


@dataclass(frozen=True)
class DigestEntry:
    """One turn in a digest: the turn, the level it reached now and how long it has waited."""

    turn: Turn
    level: str
    waited_seconds: float
    collapsed: tuple[str, ...] = ()
    next_level: tuple[str, datetime] | None = None
    actions: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def urgency_order(entries: Sequence[DigestEntry]) -> list[DigestEntry]:
    """Most urgent first: priority, then the longest overdue, then the longest wait."""
    return sorted(
        entries,
        key=lambda e: (_PRIORITY_ORDER[e.turn.priority], e.turn.due_at, -e.waited_seconds),
    )


def _digest_entry(number: int, entry: DigestEntry, now: datetime, timezone: str) -> str:
    turn = entry.turn
    overdue = (now - turn.due_at).total_seconds()
    who = one_line(turn.author_name or turn.author_handle or "a customer", 60)
    handle = one_line(turn.author_handle, 60)
    lines = [
        f"{number}. {who}"
        + (f" ({handle})" if handle and handle != who else "")
        + f" on {channel_name(turn.channel)}, account {turn.account_id}"
        + (" (private message)" if turn.private else ""),
        f"   Waited {human_duration(entry.waited_seconds)} against "
        f'{human_duration(turn.target_seconds)} (policy "{turn.policy}", '
        f"{turn.priority.value} priority); due {local_time(turn.due_at, timezone)}"
        + (f", {human_duration(overdue)} ago" if overdue > 0 else ""),
        f"   Level {entry.level}"
        + (f" (also past {', '.join(entry.collapsed)})" if entry.collapsed else "")
        + "; next: "
        + (
            f"{entry.next_level[0]} at {local_time(entry.next_level[1], timezone)}"
            if entry.next_level
            else "none"
        ),
        "\n".join(
            "   " + line
            for line in (quote(neutralize(turn.text, DIGEST_QUOTE_CHARS)) or "  > (no text)").split(
                "\n"
            )
        )
        if turn.text.strip()
        else "     > (no text)",
        f"   Open: {turn.url}" if turn.url else "   Open the conversation on the channel.",
        *(f"   {label}: {url}" for label, url in entry.actions),
        f"   Turn id: {turn.key}",
        "",
    ]
    return "\n".join(lines) + "\n"


def digest_messages(
    entries: Sequence[DigestEntry],
    now: datetime,
    *,
    brand_name: str,
    timezone: str,
    held: bool = False,
    max_body_bytes: int = DIGEST_BODY_BYTES,
) -> list[tuple[str, str, list[str]]]:
    """One digest (subject, body, turn keys) listing every turn, most urgent first, split into
    numbered parts when one message would exceed `max_body_bytes`."""
    ordered = urgency_order(entries)
    level = ordered[0].level if ordered else ""
    blocks = [
        _digest_entry(number, entry, now, timezone) for number, entry in enumerate(ordered, 1)
    ]
    reason = (
        "These alerts were held during quiet hours and go out together now."
        if held
        else "These alerts fell due at the same check and go out together."
    )
    footer = (
        "\nA reply in a conversation closes its wait and stops further alerts.\n"
        "Snooze or dismiss one from a terminal:\n"
        "  replysla threads snooze TURN --until <ISO time> --reason <why>\n"
        "  replysla threads dismiss TURN --reason <why>\n"
    )

    def header(count: int, part: int, parts: int) -> str:
        lines = [
            f"{brand_name}: {len(ordered)} customer"
            + ("s have" if len(ordered) != 1 else " has")
            + f" waited past the {level} level of their reply target.",
            reason,
            "Most urgent first.",
        ]
        if parts > 1:
            lines.append(
                f"This digest is split into {parts} messages to stay under the e-mail size "
                f"limit: this is part {part} of {parts}, listing {count} of them."
            )
        return "\n".join(lines) + "\n\n"

    # Pack greedily with room for the longest header; every block fits (texts are capped).
    room = max_body_bytes - len(header(len(blocks), 99, 99).encode()) - len(footer.encode())
    parts: list[list[tuple[str, str]]] = [[]]
    used = 0
    for entry, block in zip(ordered, blocks, strict=True):
        size = len(block.encode())
        if parts[-1] and used + size > room:
            parts.append([])
            used = 0
        parts[-1].append((entry.turn.key, block))
        used += size
    total = len(parts)
    messages = []
    for index, part in enumerate(parts, start=1):
        subject = digest_subject(len(ordered), level, brand_name, index, total)
        body = header(len(part), index, total) + "".join(b for _, b in part) + footer
        messages.append((subject, body, [key for key, _ in part]))
    return messages


def digest_subject(count: int, level: str, brand: str, part: int = 1, parts: int = 1) -> str:
    suffix = f" ({part}/{parts})" if parts > 1 else ""
    text = (
        f"[replysla] {count} customer{'s' if count != 1 else ''} waiting past {one_line(level, 20)}"
        f" ({one_line(brand, 30)}){suffix}"
    )
    return text[:99]


# -- resolved late --------------------------------------------------------------------------


def resolved_subject(turn: Turn, response_seconds: float, brand: str) -> str:
    tail = (
        f" answered after {human_duration(response_seconds)} on {channel_name(turn.channel)} "
        f"({one_line(brand, 30)})"
    )
    room = 99 - len("[replysla] Resolved: ") - len(tail)
    who = one_line(turn.author_handle or turn.author_name or "a customer", max(room, 8))
    return f"[replysla] Resolved: {who}{tail}"[:99]


def resolved_body(turn: Turn, response_seconds: float, *, brand_name: str, timezone: str) -> str:
    """The notice that a turn managers were alerted about has been answered (late)."""
    who = one_line(turn.author_name or turn.author_handle or "a customer", 60)
    handle = one_line(turn.author_handle, 60)
    alerted = ", ".join(
        f"{level} ({local_time(at, timezone)})"
        for level, at in sorted(turn.levels_fired.items(), key=lambda item: item[1])
    )
    replied = turn.replied_at
    lines = [
        f"{brand_name}: the customer you were alerted about on {channel_name(turn.channel)} "
        "has been answered. No action is needed.",
        "",
        f"Customer:   {who}" + (f" ({handle})" if handle and handle != who else ""),
        f"Channel:    {channel_name(turn.channel)}, account {turn.account_id}"
        + (" (private message)" if turn.private else ""),
        f"Waited:     {human_duration(response_seconds)} "
        f'(target {human_duration(turn.target_seconds)}, policy "{turn.policy}")'
        + (" - past the target" if turn.breached else ""),
        f"Answered:   {local_time(replied, timezone)}" if replied else "Answered:   yes",
        f"Alerted:    {alerted or 'none'}",
        "",
        f"Open the conversation: {turn.url}"
        if turn.url
        else "Open the conversation on the channel.",
        f"Turn id: {turn.key}",
    ]
    return "\n".join(lines) + "\n"

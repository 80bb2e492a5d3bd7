"""Replay normalized messages through triage, the clock, the policies and the ladder, with no AWS.

Both a user feature (what would last week have looked like under this policy?) and a test
surface. Messages are applied as a poll every `check_every` seconds would see them, and the
ladder is checked at the same instants, so escalation times are those the deployed checker
would produce.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reply_sla.config import MonitorConfig
from reply_sla.domain.engine import PolicyEngine
from reply_sla.domain.models import Direction, Message, ThreadState, Turn, TurnStatus
from reply_sla.domain.summary import WeekFacts, week_metrics
from reply_sla.domain.turns import advance_thread
from reply_sla.domain.weeks import parse_iso
from reply_sla.errors import ConfigError


class SimMessage(BaseModel):
    """One line of the messages file."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    account: str
    thread_id: str
    message_id: str
    author_id: str
    created_at: datetime
    text: str = ""
    direction: Direction | None = None
    private: bool = False
    deleted: bool = False
    author_followers: int | None = Field(default=None, ge=0)


def read_messages(lines: Iterable[str], config: MonitorConfig, source: str) -> list[Message]:
    """Parse JSON lines; every error names its line. Direction defaults from the account's ids."""
    messages: list[Message] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            raw = SimMessage.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not a JSON object ({exc.msg})") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            path = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{where}: {path}: {first['msg']}") from exc
        if raw.created_at.tzinfo is None:
            raise ConfigError(f"{where}: created_at needs a time zone offset (or Z)")
        account = next((a for a in config.accounts if a.id == raw.account), None)
        if account is None:
            known = ", ".join(a.id for a in config.accounts) or "none"
            raise ConfigError(f"{where}: unknown account {raw.account!r} (config has: {known})")
        if raw.deleted:
            continue  # a deleted message withdraws the turn it alone would have opened
        direction = raw.direction or (
            Direction.AUTOMATED
            if raw.author_id in account.automated_ids
            else Direction.OUTBOUND
            if raw.author_id in account.own_ids
            else Direction.INBOUND
        )
        messages.append(
            Message(
                brand=account.brand,
                account_id=account.id,
                channel=raw.channel,
                message_id=raw.message_id,
                thread_id=raw.thread_id,
                author_id=raw.author_id,
                author_handle=raw.author_id,
                created_at=raw.created_at,
                text=raw.text,
                direction=direction,
                private=raw.private,
                author_followers=raw.author_followers,
            )
        )
    return messages


@dataclass
class _Thread:
    state: ThreadState
    turns: dict[int, Turn] = field(default_factory=dict)
    escalations: dict[int, list[dict[str, str]]] = field(default_factory=dict)

    @property
    def open_turn(self) -> Turn | None:
        seq = self.state.open_turn
        return self.turns.get(seq) if seq is not None else None


def simulate(
    config: MonitorConfig,
    messages: list[Message],
    *,
    until: datetime | None = None,
    check_every: int = 60,
) -> dict[str, Any]:
    """Replay, then report every turn and the §7 metrics over the replayed period."""
    if check_every < 1:
        raise ConfigError("--check-every: expected a number of seconds, 1 or more")
    engine = PolicyEngine.from_config(config)
    ordered = sorted(messages, key=lambda m: (m.created_at, m.message_id))
    if not ordered:
        return {"turns": [], "summary": {}}
    start = ordered[0].created_at
    end = until or ordered[-1].created_at + timedelta(days=7)
    threads: dict[tuple[str, str], _Thread] = {}
    rules: dict[str, str] = {}
    index = 0
    tick = start
    while True:
        batch: dict[tuple[str, str], list[Message]] = {}
        while index < len(ordered) and ordered[index].created_at <= tick:
            m = ordered[index]
            batch.setdefault((m.account_id, m.thread_id or m.message_id), []).append(m)
            index += 1
        for key, items in batch.items():
            thread = threads.setdefault(
                key,
                _Thread(
                    ThreadState(
                        brand=items[0].brand,
                        account_id=key[0],
                        channel=items[0].channel,
                        thread_id=key[1],
                    )
                ),
            )
            advance = advance_thread(
                thread.state, thread.open_turn, items, engine.book, engine.triage
            )
            rules.update(advance.triage)
            thread.state = advance.state
            for turn in [*advance.new_turns, *advance.changed_turns]:
                thread.turns[turn.seq] = turn
        for thread in threads.values():
            _check(thread, engine, tick)
        if tick >= end:
            break
        tick = min(tick + timedelta(seconds=check_every), end)
    return _report(threads, rules, engine, ordered, start, end)


def _check(thread: _Thread, engine: PolicyEngine, now: datetime) -> None:
    """Fire every level due by `now` of the thread's open turn, as check_sla would."""
    turn = thread.open_turn
    while turn is not None and turn.next_level and turn.next_level_at and turn.next_level_at <= now:
        level = turn.next_level
        hold = (
            engine.alert_hours.hold_until(level, turn.priority, now) if engine.alert_hours else None
        )
        if hold is not None:
            turn = turn.model_copy(update={"next_level_at": hold})
            break
        window = engine.book.named(turn.policy, turn.brand).window(
            turn.kind, turn.opened_at, turn.priority
        )
        following = window.next_level([*turn.levels_fired, level])
        thread.escalations.setdefault(turn.seq, []).append({"level": level, "at": now.isoformat()})
        turn = turn.model_copy(
            update={
                "levels_fired": {**turn.levels_fired, level: now},
                "next_level": following[0] if following else None,
                "next_level_at": following[1] if following else None,
            }
        )
    if turn is not None:
        thread.turns[turn.seq] = turn


def _report(
    threads: dict[tuple[str, str], _Thread],
    rules: dict[str, str],
    engine: PolicyEngine,
    messages: list[Message],
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    all_turns: list[Turn] = []
    for thread in threads.values():
        for seq, turn in sorted(thread.turns.items()):
            all_turns.append(turn)
            policy = engine.book.named(turn.policy, turn.brand)
            replied = turn.replied_at
            rows.append(
                {
                    "thread_id": turn.thread_id,
                    "turn": seq,
                    "opened_at": turn.opened_at.isoformat(),
                    "priority": turn.priority.value,
                    "policy": turn.policy,
                    "due_at": turn.due_at.isoformat(),
                    "replied_at": replied.isoformat() if replied else None,
                    "breached": turn.breached
                    if turn.status is TurnStatus.ANSWERED
                    else end > turn.due_at,
                    "response_business_seconds": (
                        round(policy.elapsed_seconds(turn.opened_at, replied)) if replied else None
                    ),
                    "response_calendar_seconds": (
                        round((replied - turn.opened_at).total_seconds()) if replied else None
                    ),
                    "triage_rules": rules.get(turn.opened_by, "default").split(","),
                    "escalations": thread.escalations.get(seq, []),
                }
            )
    rows.sort(key=lambda r: (r["opened_at"], r["thread_id"], r["turn"]))
    facts = WeekFacts(
        start=start,
        end=end + timedelta(microseconds=1),
        now=end,
        messages=messages,
        turns=all_turns,
        events=[],
        open_turns=[t for t in all_turns if t.status is TurnStatus.OPEN],
    )
    summary = week_metrics(facts)
    summary["escalations_sent"] = {
        level: sum(1 for r in rows for e in r["escalations"] if e["level"] == level)
        for level in sorted({e["level"] for r in rows for e in r["escalations"]})
    }
    return {"turns": rows, "summary": summary}


def parse_until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise ConfigError(
            f"--until: expected an ISO 8601 time with an offset, got {text!r}"
        ) from exc

"""Replay normalized messages through triage, the clock, the policies and the ladder, with no AWS.

Both a user feature (what would last week have looked like under this policy?) and a test
surface. Messages are applied as a poll every `check_every` seconds would see them, and the
ladder is checked at the same instants, so escalation times are those the deployed checker
would produce.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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
from reply_sla.ports import AttributeValue
from reply_sla.services.checking import BrandView, check_sla
from reply_sla.services.memory_ladder import MemoryLadder


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
    seqs: set[int] = field(default_factory=set)


@dataclass
class Outbox:
    """The topic, in memory: every message check_sla publishes, with the check's time."""

    now: datetime | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, subject: str, body: str, attributes: Mapping[str, AttributeValue]) -> str:
        self.messages.append(
            {
                "at": self.now.isoformat() if self.now else None,
                "subject": subject,
                "attributes": {
                    k: v if isinstance(v, str) else list(v) for k, v in attributes.items()
                },
                "turns": [
                    line.split("Turn id:", 1)[1].strip()
                    for line in body.splitlines()
                    if "Turn id:" in line
                ],
                "body": body,
            }
        )
        return f"sim-{len(self.messages)}"


def simulate(
    config: MonitorConfig,
    messages: list[Message],
    *,
    until: datetime | None = None,
    check_every: int = 60,
    digests: bool = True,
    facts_out: list[Any] | None = None,
) -> dict[str, Any]:
    """Replay, then report every turn, every message published and the §7 metrics.

    The ladder runs through `check_sla` itself, on an in-memory store with the DynamoDB store's
    conditions, so levels, holds, collapsed levels, digests and resolved notices are the
    deployed checker's."""
    if check_every < 1:
        raise ConfigError("--check-every: expected a number of seconds, 1 or more")
    engine = PolicyEngine.from_config(config)
    ordered = sorted(messages, key=lambda m: (m.created_at, m.message_id))
    if not ordered:
        return {"turns": [], "notifications": [], "summary": {}}
    start = ordered[0].created_at
    end = until or ordered[-1].created_at + timedelta(days=7)
    threads: dict[tuple[str, str], _Thread] = {}
    ladder = MemoryLadder()
    outbox = Outbox()
    brands = config.brands

    def brand_of(name: str) -> BrandView:
        brand = brands.get(name)
        return BrandView(brand.name if brand else name, brand.timezone if brand else "UTC")

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
            seq = thread.state.open_turn
            open_turn = ladder.turns.get(f"{key[0]}:{key[1]}:{seq}") if seq else None
            advance = advance_thread(thread.state, open_turn, items, engine.book, engine.triage)
            rules.update(advance.triage)
            thread.state = advance.state
            for turn in advance.new_turns:
                ladder.put_new(turn)
                thread.seqs.add(turn.seq)
            for turn in advance.changed_turns:
                ladder.apply_clock(turn, tick)
        outbox.now = tick
        check_sla(ladder, outbox, engine.book, brand_of, tick, engine.alert_hours, digests=digests)
        if tick >= end:
            break
        tick = min(tick + timedelta(seconds=check_every), end)
    return _report(threads, ladder, outbox, rules, engine, ordered, start, end, facts_out)


def _report(
    threads: dict[tuple[str, str], _Thread],
    ladder: MemoryLadder,
    outbox: Outbox,
    rules: dict[str, str],
    engine: PolicyEngine,
    messages: list[Message],
    start: datetime,
    end: datetime,
    facts_out: list[Any] | None = None,
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    all_turns: list[Turn] = []
    escalations: dict[str, list[dict[str, str]]] = {}
    for event in ladder.events:
        if event.level:
            entry = {"level": event.level, "at": event.at.isoformat()}
            if "collapsed_into" in event.detail:
                entry["collapsed_into"] = event.detail["collapsed_into"]
            key = f"{event.account_id}:{event.thread_id}:{event.turn_seq}"
            escalations.setdefault(key, []).append(entry)
    for (account, thread_id), thread in threads.items():
        for seq in sorted(thread.seqs):
            turn = ladder.turns[f"{account}:{thread_id}:{seq}"]
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
                    "escalations": escalations.get(turn.key, []),
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
    if facts_out is not None:  # `simulate --summary` builds the weekly summary from these
        facts_out.append((facts, list(ladder.events)))
    summary = week_metrics(facts)
    summary["escalations_sent"] = {
        level: sum(1 for r in rows for e in r["escalations"] if e["level"] == level)
        for level in sorted({e["level"] for r in rows for e in r["escalations"]})
    }
    summary["notifications_published"] = len(outbox.messages)
    summary["notifications_by_kind"] = {
        kind: sum(1 for m in outbox.messages if m["attributes"].get("kind") == kind)
        for kind in sorted({str(m["attributes"].get("kind")) for m in outbox.messages})
    }
    notifications = [{k: v for k, v in m.items() if k != "body"} for m in outbox.messages]
    return {"turns": rows, "notifications": notifications, "summary": summary}


def parse_until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise ConfigError(
            f"--until: expected an ISO 8601 time with an offset, got {text!r}"
        ) from exc

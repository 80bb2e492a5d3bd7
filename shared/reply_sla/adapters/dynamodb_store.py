"""The thread store on one DynamoDB table (single-table design).

Items (pk / sk):
- message  `MSG#<account>#<message id>` / `MSG`: keyed by the platform's id, so re-polling a
  page finds it stored and writes nothing.
- thread   `THREAD#<account>#<thread id>` / `THREAD`: who spoke last, the open turn, a version.
- turn     same pk / `TURN#<seq>`; while a ladder level is pending it carries `due_pk` /
  `due_sk` (the sparse `due` index), while open `open_pk` / `open_sk` (the sparse `open` index).
- event    same pk / `EVT#<seq>#<type>[#level]`: append-only SLA events, one per fact.
- cursor   `ACCOUNT#<account>` / `CURSOR`: the feeds' positions.
Messages, turns and events also carry `week_pk` / `week_sk` (the `week` index) so a weekly
summary queries one brand-week instead of scanning.

A thread's new messages, its state, its turns and their events are written in one transaction,
so a crash leaves either all of them or none, and a re-poll redoes exactly what is missing.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from reply_sla.domain.models import (
    Direction,
    EventType,
    Message,
    SlaEvent,
    ThreadState,
    Turn,
    TurnStatus,
)
from reply_sla.domain.pauses import PauseState, Snooze, TurnSchedule
from reply_sla.domain.summary import WeekColumns, WeekRecords
from reply_sla.domain.weeks import iso_utc, week_bounds, week_of
from reply_sla.errors import StoreConflict, StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUE_INDEX = "due"
WEEK_INDEX = "week"
OPEN_INDEX = "open"
# DynamoDB accepts at most 100 items in one transaction; leave room for thread, turns, events.
MAX_TRANSACTION_ITEMS = 100
_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def _deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoThreadStore:
    """ThreadStore on DynamoDB. `zone_of(brand)` gives the brand's IANA zone for week keys."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        zone_of: Callable[[str], str] = lambda _brand: "UTC",
        due_shards: int = 4,
        retention_days: int = 400,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._zone_of = zone_of
        self._shards = max(1, due_shards)
        self._retention = timedelta(days=retention_days)
        self._sleep = sleep

    # -- keys -------------------------------------------------------------------------------

    @staticmethod
    def _thread_pk(account_id: str, thread_id: str) -> str:
        return f"THREAD#{account_id}#{thread_id}"

    @staticmethod
    def _message_key(account_id: str, message_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"MSG#{account_id}#{message_id}"}, "sk": {"S": "MSG"}}

    def _turn_key(self, turn: Turn) -> dict[str, Any]:
        return {
            "pk": {"S": self._thread_pk(turn.account_id, turn.thread_id)},
            "sk": {"S": f"TURN#{turn.seq:05d}"},
        }

    def _shard(self, turn: Turn) -> str:
        digest = hashlib.sha256(turn.key.encode()).digest()
        return f"DUE#{digest[0] % self._shards}"

    def _week_pk(self, brand: str, instant: datetime) -> str:
        return f"WEEK#{brand}#{week_of(instant, self._zone_of(brand))}"

    # -- calls with retries of throttling -------------------------------------------------------

    def _call(self, name: str, **kwargs: Any) -> Any:
        method = getattr(self._client, name)
        delay = 0.05
        for attempt in range(6):
            try:
                return method(**kwargs)
            except ClientError as exc:
                if _error_code(exc) not in _THROTTLING or attempt == 5:
                    if _error_code(exc) in _THROTTLING:
                        raise StoreUnavailable(f"table {self._table} throttled {name}") from exc
                    raise
                self._sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _batch_get(
        self, keys: Sequence[dict[str, Any]], attributes: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            spec: dict[str, Any] = {"Keys": list(keys[start : start + 100])}
            if attributes:
                names = {f"#a{i}": name for i, name in enumerate(attributes)}
                spec["ProjectionExpression"] = ", ".join(names)
                spec["ExpressionAttributeNames"] = names
            request: dict[str, Any] = {self._table: spec}
            for _ in range(8):
                response = self._call("batch_get_item", RequestItems=request)
                found.extend(response.get("Responses", {}).get(self._table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05)
            else:
                raise StoreUnavailable(f"table {self._table} left keys unprocessed")
        return [_deserialize(item) for item in found]

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs = {"TableName": self._table, **kwargs}
        while True:
            response = self._call("query", **kwargs)
            for item in response.get("Items", []):
                yield _deserialize(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    # -- messages and threads -----------------------------------------------------------------

    def messages_stored(self, account_id: str, message_ids: Sequence[str]) -> set[str]:
        """Which of these platform ids are already stored (one batch read per 100)."""
        keys = [self._message_key(account_id, mid) for mid in dict.fromkeys(message_ids)]
        return {str(item["message_id"]) for item in self._batch_get(keys, ["message_id"])}

    def thread_of(self, account_id: str, message_ids: Sequence[str]) -> dict[str, str]:
        """The thread of each stored message among these ids."""
        keys = [self._message_key(account_id, mid) for mid in dict.fromkeys(message_ids)]
        items = self._batch_get(keys, ["message_id", "thread_id"])
        return {str(i["message_id"]): str(i["thread_id"]) for i in items if i.get("thread_id")}

    def load_threads(
        self, account_id: str, thread_ids: Sequence[str]
    ) -> dict[str, tuple[ThreadState, Turn | None]]:
        """Each existing thread's state and its open turn (absent threads are left out)."""
        keys = [
            {"pk": {"S": self._thread_pk(account_id, tid)}, "sk": {"S": "THREAD"}}
            for tid in dict.fromkeys(thread_ids)
        ]
        states = {
            str(i["thread_id"]): ThreadState.model_validate(i)
            for i in self._batch_get(keys, list(ThreadState.model_fields))
        }
        turn_keys = [
            {
                "pk": {"S": self._thread_pk(account_id, s.thread_id)},
                "sk": {"S": f"TURN#{s.open_turn:05d}"},
            }
            for s in states.values()
            if s.open_turn is not None
        ]
        open_turns = {t.thread_id: t for t in self._load_turns(turn_keys)}
        return {tid: (state, open_turns.get(tid)) for tid, state in states.items()}

    def _load_turns(self, keys: Sequence[dict[str, Any]]) -> list[Turn]:
        return [Turn.model_validate(i) for i in self._batch_get(keys)] if keys else []

    def save_thread(
        self,
        state: ThreadState,
        messages: Sequence[Message],
        new_turns: Sequence[Turn],
        changed_turns: Sequence[Turn],
        events: Sequence[SlaEvent],
        now: datetime,
    ) -> None:
        """Write a thread's new messages, state, turns and events in one transaction.

        `new_turns` are put (they must not exist); `changed_turns` exist and are updated.

        Raises StoreConflict when a message is already stored or the thread moved on since it was
        read (a concurrent poll): nothing is written and the caller re-reads.
        """
        pk = self._thread_pk(state.account_id, state.thread_id)
        expires = int((now + self._retention).timestamp())
        actions: list[dict[str, Any]] = []
        for message in messages:
            actions.append({"Put": self._message_put(message, now, expires)})
        thread_item = {
            "pk": pk,
            "sk": "THREAD",
            **state.model_dump(mode="json"),
            "version": state.version + 1,
            "updated_at": iso_utc(now),
        }
        actions.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _serialize(thread_item),
                    "ConditionExpression": "attribute_not_exists(pk) OR version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(state.version)}},
                }
            }
        )
        for turn in new_turns:
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _serialize(self._turn_item(turn)),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        for turn in changed_turns:
            actions.append(self._turn_update(turn, now))
        for event in events:
            actions.append({"Put": self._event_put(event)})
        if len(actions) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"{len(actions)} writes exceed one transaction; split the messages")
        try:
            self._call("transact_write_items", TransactItems=actions)
        except ClientError as exc:
            if _error_code(exc) in {
                "TransactionCanceledException",
                "ConditionalCheckFailedException",
            }:
                raise StoreConflict(
                    f"thread {state.thread_id} changed while it was written"
                ) from exc
            raise

    def _message_put(self, message: Message, now: datetime, expires: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self._message_key(message.account_id, message.message_id),
        }
        body = {
            **message.model_dump(mode="json"),
            "ingested_at": iso_utc(now),
            "ingest_lag_seconds": max(0.0, (now - message.created_at).total_seconds()),
            "expires_at": expires,
        }
        body.update(self._message_week_keys(message))
        item.update(_serialize(body))
        return {
            "TableName": self._table,
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def _turn_item(self, turn: Turn) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": self._thread_pk(turn.account_id, turn.thread_id),
            "sk": f"TURN#{turn.seq:05d}",
            **turn.model_dump(mode="json"),
            "levels_fired": {k: iso_utc(v) for k, v in turn.levels_fired.items()},
            **self._turn_week_keys(turn),
            "due_iso": iso_utc(turn.due_at),
        }
        if turn.status is TurnStatus.OPEN:
            item["open_pk"] = f"OPEN#{turn.brand}"
            item["open_sk"] = f"{iso_utc(turn.due_at)}#{turn.key}"
        if turn.next_level_at is not None and turn.status is TurnStatus.OPEN:
            item["due_pk"] = self._shard(turn)
            item["due_sk"] = iso_utc(turn.next_level_at)
        return item

    def _turn_update(self, turn: Turn, now: datetime) -> dict[str, Any]:
        """Update only the fields the clock owns, so a level claimed by a concurrent check is
        never overwritten.

        An answered turn that managers were (or may just now be) alerted about stays in the due
        index, so the next check sends the resolved notice to the levels that were alerted."""
        item = self._turn_item(turn)
        owned = [
            "status",
            "inbound_count",
            "replied_at",
            "reply_message_id",
            "response_seconds",
            "breached",
            "closed_reason",
        ]
        names = {f"#{n}": n for n in owned}
        values: dict[str, Any] = {":open": {"S": TurnStatus.OPEN.value}}
        sets: list[str] = []
        removes: list[str] = []
        for field in owned:
            if item.get(field) is None:
                removes.append(f"#{field}")
            else:
                sets.append(f"#{field} = :{field}")
                values[f":{field}"] = _serializer.serialize(_to_dynamo(item[field]))
        condition = "#status = :open"
        if turn.status is TurnStatus.OPEN and not turn.claimed_levels:
            # The clock may have moved the deadline (a priority raise, Meta's window): write the
            # ladder fields too, unless a checker fired a level since the turn was read (then the
            # write conflicts and the poll re-reads and decides again).
            ladder = [
                "priority",
                "policy",
                "target_seconds",
                "due_at",
                "due_iso",
                "open_sk",
                "week_sk",
            ]
            for field in ladder:
                names[f"#{field}"] = field
                sets.append(f"#{field} = :{field}")
                values[f":{field}"] = _serializer.serialize(_to_dynamo(item[field]))
            if turn.next_level is not None and turn.next_level_at is not None:
                sets += ["next_level = :nl", "next_level_at = :nl_at"]
                values[":nl"] = {"S": turn.next_level}
                values[":nl_at"] = {"S": turn.next_level_at.isoformat()}
                if turn.held_until is None:
                    sets.append("due_sk = :nl_due")
                    values[":nl_due"] = {"S": iso_utc(turn.next_level_at)}
            condition += (
                " AND size(levels_fired) = :fired_count AND attribute_not_exists(claim_until)"
            )
            values[":fired_count"] = {"N": str(len(turn.levels_fired))}
        if turn.status is not TurnStatus.OPEN:
            removes += ["open_pk", "open_sk", "next_level", "next_level_at"]
            alerted = bool(turn.levels_fired or turn.claimed_levels) or (
                turn.next_level_at is not None and turn.next_level_at <= now
            )
            if turn.status is TurnStatus.ANSWERED and alerted:
                sets += ["due_pk = :due_pk", "due_sk = :due_sk"]
                values[":due_pk"] = {"S": self._shard(turn)}
                values[":due_sk"] = {"S": iso_utc(now)}
            else:
                removes += ["due_pk", "due_sk"]
        expression = "SET " + ", ".join(sets)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}},
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _event_put(self, event: SlaEvent) -> dict[str, Any]:
        item = {
            "pk": self._thread_pk(event.account_id, event.thread_id),
            "sk": f"EVT#{event.event_id}",
            **event.model_dump(mode="json"),
            **self._event_week_keys(event),
        }
        return {
            "TableName": self._table,
            "Item": _serialize(item),
            "ConditionExpression": "attribute_not_exists(pk)",
        }

    def record_event(self, event: SlaEvent) -> bool:
        """Append an event; False when the same fact was already recorded."""
        try:
            self._call("put_item", **self._event_put(event))
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- cursors ----------------------------------------------------------------------------

    def cursors(self, account_id: str) -> dict[str, str | None]:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "CURSOR"}},
            ConsistentRead=True,
        )
        item = _deserialize(response.get("Item", {}))
        feeds = item.get("feeds", {})
        return {str(k): (str(v) if v is not None else None) for k, v in feeds.items()}

    def save_cursors(
        self, account_id: str, cursors: Mapping[str, str | None], now: datetime
    ) -> None:
        item = {
            "pk": f"ACCOUNT#{account_id}",
            "sk": "CURSOR",
            "feeds": {k: v for k, v in cursors.items() if v is not None},
            "last_poll_at": iso_utc(now),
        }
        self._call("put_item", TableName=self._table, Item=_serialize(item))

    def last_polls(self, account_ids: Sequence[str]) -> dict[str, datetime]:
        """When each account was last polled successfully."""
        from reply_sla.domain.weeks import parse_iso

        keys = [{"pk": {"S": f"ACCOUNT#{a}"}, "sk": {"S": "CURSOR"}} for a in account_ids]
        items = self._batch_get(keys, ["pk", "last_poll_at"]) if keys else []
        return {
            str(i["pk"]).removeprefix("ACCOUNT#"): parse_iso(str(i["last_poll_at"]))
            for i in items
            if i.get("last_poll_at")
        }

    # -- people acting on turns ------------------------------------------------------------------

    def get_turn(self, account_id: str, thread_id: str, seq: int) -> Turn | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={
                "pk": {"S": self._thread_pk(account_id, thread_id)},
                "sk": {"S": f"TURN#{seq:05d}"},
            },
            ConsistentRead=True,
        )
        item = response.get("Item")
        return Turn.model_validate(_deserialize(item)) if item else None

    def dismiss_turn(self, turn: Turn, reason: str, by: str, now: datetime) -> bool:
        """Close an open turn as needing no reply, with the `dismissed` event, atomically.
        False when it was no longer open (answered or dismissed meanwhile)."""
        event = SlaEvent.of_turn(
            turn, EventType.DISMISSED, now, detail={"reason": reason[:500], "by": by[:100]}
        )
        update = {
            "Update": {
                "TableName": self._table,
                "Key": self._turn_key(turn),
                "UpdateExpression": (
                    "SET #status = :dismissed, closed_reason = :reason "
                    "REMOVE due_pk, due_sk, open_pk, open_sk, next_level, next_level_at"
                ),
                "ConditionExpression": "#status = :open",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":dismissed": {"S": TurnStatus.DISMISSED.value},
                    ":open": {"S": TurnStatus.OPEN.value},
                    ":reason": {"S": f"dismissed: {reason[:200]}"},
                },
            }
        }
        try:
            self._call(
                "transact_write_items", TransactItems=[update, {"Put": self._event_put(event)}]
            )
        except ClientError as exc:
            if _error_code(exc) in {
                "TransactionCanceledException",
                "ConditionalCheckFailedException",
            }:
                return False
            raise
        return True

    # -- snoozes (a person pauses a turn's clock) ------------------------------------------------

    @staticmethod
    def _pause_state(item: Mapping[str, Any]) -> PauseState:
        return PauseState.model_validate(
            {
                "pauses": item.get("pauses", []),
                "snooze": item.get("snooze"),
                "paused_seconds": item.get("paused_seconds", 0.0),
                "paused_calendar_seconds": item.get("paused_calendar_seconds", 0.0),
            }
        )

    def _snooze_shard(self, turn: Turn) -> str:
        return "SNOOZE#" + self._shard(turn).removeprefix("DUE#")

    def get_thread(self, account_id: str, thread_id: str) -> ThreadState | None:
        """One thread's state (a single consistent read; no batch permission needed)."""
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={"pk": {"S": self._thread_pk(account_id, thread_id)}, "sk": {"S": "THREAD"}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return ThreadState.model_validate(_deserialize(item)) if item else None

    def get_turn_pauses(
        self, account_id: str, thread_id: str, seq: int
    ) -> tuple[Turn, PauseState] | None:
        """A turn with its pauses and running snooze (a consistent read)."""
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={
                "pk": {"S": self._thread_pk(account_id, thread_id)},
                "sk": {"S": f"TURN#{seq:05d}"},
            },
            ConsistentRead=True,
        )
        if not response.get("Item"):
            return None
        item = _deserialize(response["Item"])
        return Turn.model_validate(item), self._pause_state(item)

    def save_pause(
        self,
        turn: Turn,
        seen: PauseState,
        state: PauseState,
        schedule: TurnSchedule,
        events: Sequence[SlaEvent],
        now: datetime,
    ) -> bool:
        """Write a turn's new pauses, snooze and moved schedule with their events, atomically.

        The turn stays out of the due index until `schedule.next_level_at`; a running snooze is
        also marked in the index's `SNOOZE#` partitions (which the checker never reads) at its
        end, so `ended_snoozes` finds it. False when the turn changed since it was read as
        (`turn`, `seen`): answered, dismissed, a level claimed or fired, or snoozed by someone
        else.
        """
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":open": {"S": TurnStatus.OPEN.value},
            ":now": {"S": iso_utc(now)},
            ":due": {"S": schedule.due_at.isoformat()},
            ":due_iso": {"S": iso_utc(schedule.due_at)},
            ":open_sk": {"S": f"{iso_utc(schedule.due_at)}#{turn.key}"},
            ":week_sk": {"S": self._turn_week_sk(turn.key, schedule.due_at)},
            ":pauses": {
                "L": [{"L": [{"S": iso_utc(a)}, {"S": iso_utc(b)}]} for a, b in state.pauses]
            },
            ":paused": _serializer.serialize(_to_dynamo(float(state.paused_seconds))),
            ":paused_cal": _serializer.serialize(_to_dynamo(float(state.paused_calendar_seconds))),
        }
        sets = [
            "due_at = :due",
            "due_iso = :due_iso",
            "open_sk = :open_sk",
            "week_sk = :week_sk",
            "pauses = :pauses",
            "paused_seconds = :paused",
            "paused_calendar_seconds = :paused_cal",
        ]
        removes = ["held_until"]
        if schedule.next_level is not None and schedule.next_level_at is not None:
            sets += [
                "next_level = :next",
                "next_level_at = :next_at",
                "due_pk = :shard",
                "due_sk = :next_due",
            ]
            values[":next"] = {"S": schedule.next_level}
            values[":next_at"] = {"S": schedule.next_level_at.isoformat()}
            values[":shard"] = {"S": self._shard(turn)}
            values[":next_due"] = {"S": iso_utc(schedule.next_level_at)}
        else:
            removes += ["next_level", "next_level_at", "due_pk", "due_sk"]
        if state.snooze is not None:
            sets += [
                "snooze = :snooze",
                "snoozed_at = :snoozed_at",
                "snoozed_until = :snoozed_until",
            ]
            values[":snoozed_at"] = {"S": state.snooze.since.isoformat()}
            values[":snooze"] = _serializer.serialize(
                _to_dynamo(state.snooze.model_dump(mode="json"))
            )
            values[":snoozed_until"] = {"S": state.snooze.until.isoformat()}
        else:
            removes += ["snooze", "snoozed_at", "snoozed_until"]
        condition = "#status = :open AND (attribute_not_exists(claim_until) OR claim_until <= :now)"
        if turn.next_level is None:
            condition += " AND attribute_not_exists(next_level)"
        else:
            condition += " AND next_level = :seen_level"
            values[":seen_level"] = {"S": turn.next_level}
        if seen.snooze is None:
            condition += " AND attribute_not_exists(snooze)"
        else:
            condition += " AND snooze.since = :seen_since"
            values[":seen_since"] = {"S": seen.snooze.model_dump(mode="json")["since"]}
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._turn_key(turn),
                    "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        if state.snooze is not None or seen.snooze is not None:
            items.append({"Put": self._snooze_mark(turn, state.snooze, now)})
        items += [{"Put": self._event_put(event)} for event in events]
        try:
            self._call("transact_write_items", TransactItems=items)
        except ClientError as exc:
            if _error_code(exc) in {
                "TransactionCanceledException",
                "ConditionalCheckFailedException",
            }:
                return False
            raise
        return True

    def _snooze_mark(self, turn: Turn, snooze: Snooze | None, now: datetime) -> dict[str, Any]:
        """The turn's snooze marker: in the due index under `SNOOZE#` while a snooze runs."""
        item: dict[str, Any] = {
            "pk": self._thread_pk(turn.account_id, turn.thread_id),
            "sk": f"SNOOZE#{turn.seq:05d}",
            "brand": turn.brand,
            "account_id": turn.account_id,
            "thread_id": turn.thread_id,
            "turn_seq": turn.seq,
            "expires_at": int((now + self._retention).timestamp()),
        }
        if snooze is not None:
            item.update(
                until=iso_utc(snooze.until),
                due_pk=self._snooze_shard(turn),
                due_sk=iso_utc(snooze.until),
            )
        return {"TableName": self._table, "Item": _serialize(item)}

    def ended_snoozes(self, now: datetime, limit: int = 500) -> list[tuple[str, str, int]]:
        """(account, thread, turn seq) of snoozes whose end has come, from their markers."""
        found: list[tuple[str, str, int]] = []
        for item in self._due_items("SNOOZE", now, limit):
            found.append((str(item["account_id"]), str(item["thread_id"]), int(item["turn_seq"])))
            if len(found) >= limit:
                return found
        return found

    def clear_snooze_mark(self, account_id: str, thread_id: str, seq: int, until: datetime) -> None:
        """Take an ended snooze's marker out of the index (unless a newer snooze replaced it)."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key={
                    "pk": {"S": self._thread_pk(account_id, thread_id)},
                    "sk": {"S": f"SNOOZE#{seq:05d}"},
                },
                UpdateExpression="REMOVE due_pk, due_sk",
                ConditionExpression="due_sk <= :until",
                ExpressionAttributeValues={":until": {"S": iso_utc(until)}},
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise

    def open_turns_paused(self, brand: str) -> list[tuple[Turn, PauseState]]:
        """Every open turn of a brand with its pauses, earliest deadline first."""
        return [
            (Turn.model_validate(item), self._pause_state(item))
            for item in self._query(
                IndexName=OPEN_INDEX,
                KeyConditionExpression="open_pk = :p",
                ExpressionAttributeValues={":p": {"S": f"OPEN#{brand}"}},
            )
        ]

    def use_action_link(
        self, turn: Turn, token_id: str, expires_at: datetime, now: datetime
    ) -> bool:
        """Record that an e-mail action link was used; False when it had been used before."""
        item = {
            "pk": self._thread_pk(turn.account_id, turn.thread_id),
            "sk": f"LINK#{token_id}",
            "turn_seq": turn.seq,
            "used_at": iso_utc(now),
            "expires_at": int((expires_at + timedelta(days=1)).timestamp()),
        }
        try:
            self._call(
                "put_item",
                TableName=self._table,
                Item=_serialize(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def action_link_used(self, turn: Turn, token_id: str) -> datetime | None:
        """When an e-mail action link was used, or None."""
        from reply_sla.domain.weeks import parse_iso

        response = self._call(
            "get_item",
            TableName=self._table,
            Key={
                "pk": {"S": self._thread_pk(turn.account_id, turn.thread_id)},
                "sk": {"S": f"LINK#{token_id}"},
            },
            ConsistentRead=True,
        )
        item = response.get("Item")
        return parse_iso(item["used_at"]["S"]) if item else None

    # -- channel health -----------------------------------------------------------------------

    def record_poll_error(self, account_id: str, kind: str, detail: str, now: datetime) -> None:
        """Remember why an account's last poll failed (what the health check reports)."""
        self._call(
            "update_item",
            TableName=self._table,
            Key={"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "HEALTH"}},
            UpdateExpression=(
                "SET last_error_at = :at, last_error_kind = :kind, last_error = :detail"
            ),
            ExpressionAttributeValues={
                ":at": {"S": iso_utc(now)},
                ":kind": {"S": kind},
                ":detail": {"S": detail[:500]},
            },
        )

    def account_health(self, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Each account's health record merged with its last successful poll."""
        keys = [
            {"pk": {"S": f"ACCOUNT#{a}"}, "sk": {"S": sk}}
            for a in dict.fromkeys(account_ids)
            for sk in ("HEALTH", "CURSOR")
        ]
        merged: dict[str, dict[str, Any]] = {a: {} for a in account_ids}
        for item in self._batch_get(keys) if keys else []:
            account = str(item.pop("pk")).removeprefix("ACCOUNT#")
            item.pop("sk", None)
            item.pop("feeds", None)
            merged.setdefault(account, {}).update(item)
        return merged

    def set_health(
        self, account_id: str, state: str, now: datetime, *, first_seen: bool = False
    ) -> bool:
        """Move an account to `up` or `down`; True only for the caller that made the change."""
        if first_seen:
            update, condition = "SET first_seen = :now", "attribute_not_exists(first_seen)"
            values = {":now": {"S": iso_utc(now)}}
        else:
            update = "SET #state = :state, state_changed_at = :now"
            condition = (
                "attribute_not_exists(#state) OR #state <> :state"
                if state == "down"
                else "#state = :down"
            )
            values = {":state": {"S": state}, ":now": {"S": iso_utc(now)}}
            if state != "down":
                values[":down"] = {"S": "down"}
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key={"pk": {"S": f"ACCOUNT#{account_id}"}, "sk": {"S": "HEALTH"}},
                UpdateExpression=update,
                ConditionExpression=condition,
                **({"ExpressionAttributeNames": {"#state": "state"}} if not first_seen else {}),
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- the ladder -------------------------------------------------------------------------

    def _due_items(self, prefix: str, now: datetime, limit: int) -> Iterator[dict[str, Any]]:
        """Items of the sparse due index at or before `now`, shard by shard (`DUE#n` for ladder
        levels, `SNOOZE#n` for snooze ends)."""
        for shard in range(self._shards):
            yield from self._query(
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_pk = :p AND due_sk <= :now",
                ExpressionAttributeValues={
                    ":p": {"S": f"{prefix}#{shard}"},
                    ":now": {"S": iso_utc(now)},
                },
                Limit=limit,
            )

    def due_turns(self, now: datetime, limit: int = 500) -> list[Turn]:
        """Turns whose next level is due, from the sparse due index (never a scan)."""
        turns: list[Turn] = []
        for item in self._due_items("DUE", now, limit):
            turns.append(Turn.model_validate(item))
            if len(turns) >= limit:
                return turns
        return turns

    def next_due_at(self) -> datetime | None:
        """The earliest pending level time in the due index (one item read per shard)."""
        from reply_sla.domain.weeks import parse_iso

        earliest: datetime | None = None
        for shard in range(self._shards):
            response = self._call(
                "query",
                TableName=self._table,
                IndexName=DUE_INDEX,
                KeyConditionExpression="due_pk = :p",
                ExpressionAttributeValues={":p": {"S": f"DUE#{shard}"}},
                ProjectionExpression="due_sk",
                Limit=1,
            )
            for item in response.get("Items", []):
                at = parse_iso(item["due_sk"]["S"])
                earliest = at if earliest is None or at < earliest else earliest
        return earliest

    def claim_levels(
        self, turn: Turn, levels: Sequence[str], now: datetime, lease_until: datetime
    ) -> bool:
        """Claim the ladder levels due now (one message will carry them); exactly one caller wins.

        The claim is a lease: the turn stays in the due index at `lease_until`, so if the
        claimer dies before `confirm_levels`, a later check publishes the levels again instead
        of losing them. A claim whose lease has not run out cannot be taken.
        """
        names = {"#status": "status", **{f"#l{i}": lvl for i, lvl in enumerate(levels)}}
        values: dict[str, Any] = {
            ":open": {"S": TurnStatus.OPEN.value},
            ":level": {"S": turn.next_level or ""},
            ":now": {"S": iso_utc(now)},
            ":claimed": {"L": [{"S": lvl} for lvl in levels]},
            ":until": {"S": iso_utc(lease_until)},
        }
        fired = ", ".join(
            f"levels_fired.#l{i} = if_not_exists(levels_fired.#l{i}, :now)"
            for i in range(len(levels))
        )
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._turn_key(turn),
                UpdateExpression=(
                    f"SET {fired}, claimed_levels = :claimed, claim_until = :until, due_sk = :until"
                ),
                ConditionExpression=(
                    "#status = :open AND next_level = :level AND "
                    "(attribute_not_exists(claim_until) OR claim_until <= :now)"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def confirm_levels(
        self,
        turn: Turn,
        lease_until: datetime,
        next_level: tuple[str, datetime] | None,
        events: Sequence[SlaEvent],
    ) -> None:
        """After the publish: record the levels' events and move the turn to its next level,
        in one transaction. If the turn was answered meanwhile the events are still recorded and
        the due entry is left to the resolved notice."""
        values: dict[str, Any] = {
            ":open": {"S": TurnStatus.OPEN.value},
            ":until": {"S": iso_utc(lease_until)},
        }
        if next_level is None:
            expression = (
                "REMOVE claimed_levels, claim_until, held_until, next_level, next_level_at, "
                "due_pk, due_sk"
            )
        else:
            expression = (
                "SET next_level = :next, next_level_at = :next_at, due_sk = :next_due "
                "REMOVE claimed_levels, claim_until, held_until"
            )
            values[":next"] = {"S": next_level[0]}
            values[":next_at"] = {"S": next_level[1].isoformat()}
            values[":next_due"] = {"S": iso_utc(next_level[1])}
        update = {
            "Update": {
                "TableName": self._table,
                "Key": self._turn_key(turn),
                "UpdateExpression": expression,
                "ConditionExpression": "#status = :open AND claim_until = :until",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        }
        try:
            self._call(
                "transact_write_items",
                TransactItems=[update, *({"Put": self._event_put(e)} for e in events)],
            )
            return
        except ClientError as exc:
            if _error_code(exc) not in {
                "TransactionCanceledException",
                "ConditionalCheckFailedException",
            }:
                raise
        # Answered, or the lease was taken over: the facts still happened.
        for event in events:
            self.record_event(event)
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._turn_key(turn),
                UpdateExpression="REMOVE claimed_levels, claim_until",
                ConditionExpression="claim_until = :until",
                ExpressionAttributeValues={":until": {"S": iso_utc(lease_until)}},
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise

    def release_claim(
        self, turn: Turn, levels: Sequence[str], lease_until: datetime, retry_at: datetime
    ) -> None:
        """Undo a claim whose message could not be published, so the next run retries it."""
        names = {f"#l{i}": lvl for i, lvl in enumerate(levels)}
        removes = ["claimed_levels", "claim_until", *(f"levels_fired.{n}" for n in names)]
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._turn_key(turn),
                UpdateExpression="SET due_sk = :retry REMOVE " + ", ".join(removes),
                ConditionExpression="claim_until = :until AND attribute_exists(due_pk)",
                **({"ExpressionAttributeNames": names} if names else {}),
                ExpressionAttributeValues={
                    ":until": {"S": iso_utc(lease_until)},
                    ":retry": {"S": iso_utc(retry_at)},
                },
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise

    def take_resolved(self, turn: Turn) -> bool:
        """Take a closed turn's pending resolved notice off the due index; one caller wins."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._turn_key(turn),
                UpdateExpression="REMOVE due_pk, due_sk, claimed_levels, claim_until",
                ConditionExpression="attribute_exists(due_pk) AND #status <> :open",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":open": {"S": TurnStatus.OPEN.value}},
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def restore_resolved(self, turn: Turn, retry_at: datetime) -> None:
        """Put a resolved notice that could not be published back for the next run."""
        self._call(
            "update_item",
            TableName=self._table,
            Key=self._turn_key(turn),
            UpdateExpression="SET due_pk = :shard, due_sk = :retry",
            ExpressionAttributeValues={
                ":shard": {"S": self._shard(turn)},
                ":retry": {"S": iso_utc(retry_at)},
            },
        )

    def defer_level(self, turn: Turn, level: str, until: datetime) -> bool:
        """Hold a due level until `until` (quiet hours); False if the turn moved on meanwhile."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._turn_key(turn),
                UpdateExpression="SET due_sk = :until, held_until = :until",
                ConditionExpression="#status = :open AND next_level = :level",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":open": {"S": TurnStatus.OPEN.value},
                    ":level": {"S": level},
                    ":until": {"S": iso_utc(until)},
                },
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # -- reading for summaries ----------------------------------------------------------------

    def week_items(self, brand: str, week: str) -> tuple[list[Message], list[Turn], list[SlaEvent]]:
        """The brand-week's inbound messages, turns opened or due in it, and the events a
        summary counts (SUMMARY_EVENTS; a thread's every event: `thread_events`).

        Turns due in the week that opened in an earlier week are read from those weeks'
        partitions by a key range on their deadline (see `_turn_week_keys`), never filtered.
        """
        counter = _ReadCount()
        inbound = [
            Message.model_validate(item)
            for item in self._week_query(brand, week, "MSG#", counter, _MESSAGE_FIELDS)
        ]
        events = [
            SlaEvent.model_validate(item) for item in self._week_query(brand, week, "EVT#", counter)
        ]
        return inbound, self._week_turns(brand, week, counter), events

    def thread_events(self, account_id: str, thread_id: str) -> list[SlaEvent]:
        """Every event of one thread, `turn_opened` and `replied` included, in time order (the
        thread's own partition, not the week index)."""
        found = [
            SlaEvent.model_validate(item)
            for item in self._query(
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={
                    ":p": {"S": self._thread_pk(account_id, thread_id)},
                    ":s": {"S": "EVT#"},
                },
                ConsistentRead=True,
            )
        ]
        return sorted(found, key=lambda event: event.at)

    def open_turns(self, brand: str) -> list[Turn]:
        """Every open turn of a brand, earliest deadline first (the sparse open index)."""
        return [
            Turn.model_validate(item)
            for item in self._query(
                IndexName=OPEN_INDEX,
                KeyConditionExpression="open_pk = :p",
                ExpressionAttributeValues={":p": {"S": f"OPEN#{brand}"}},
            )
        ]

    # -- weekly aggregates -------------------------------------------------------------------
    #
    # Week keys (the `week` index, `week_pk` = `WEEK#<brand>#<YYYY-Www>` in the brand's zone):
    # - inbound message `MSG#<created>#<account>#<id>`, brand post `OUT#<created>#<account>#<id>`;
    # - turn, in the week it opened: `TURN#<due>#<turn key>`, so the turns due in a week that
    #   opened earlier are one key range of each earlier week (whatever moves `due_at` moves
    #   `week_sk` with it, as it does `due_iso` and `open_sk`);
    # - event `EVT#<type>#<at>#<account>#<thread>#<event id>`, only of the types a summary counts
    #   (SUMMARY_EVENTS: levels, dismissals, snoozes); `turn_opened` and `replied` events are in
    #   the table, not the index.
    # Weekly aggregates: `AGG#<brand>` / `SCOPES#<week>#<n>` and `AUTHORS#<week>#<n>`, JSON
    # documents cut into pieces under DynamoDB's item size.

    def _turn_week_sk(self, turn_key: str, due_at: datetime) -> str:
        return f"TURN#{iso_utc(due_at)}#{turn_key}"

    def _turn_week_keys(self, turn: Turn) -> dict[str, str]:
        return {
            "week_pk": self._week_pk(turn.brand, turn.opened_at),
            "week_sk": self._turn_week_sk(turn.key, turn.due_at),
        }

    def _message_week_keys(self, message: Message) -> dict[str, str]:
        prefix = {Direction.INBOUND: "MSG", Direction.OUTBOUND: "OUT"}.get(message.direction)
        if prefix is None:  # bots and staff-only notes are no part of a summary
            return {}
        return {
            "week_pk": self._week_pk(message.brand, message.created_at),
            "week_sk": (
                f"{prefix}#{iso_utc(message.created_at)}#{message.account_id}#{message.message_id}"
            ),
        }

    def _event_week_keys(self, event: SlaEvent) -> dict[str, str]:
        # Only the events a summary reads are copied into the week index: `turn_opened` and
        # `replied` (most events) stay out of it, each an index write and its storage saved.
        if event.type not in SUMMARY_EVENTS:
            return {}
        return {
            "week_pk": self._week_pk(event.brand, event.at),
            "week_sk": (
                f"EVT#{event.type.value}#{iso_utc(event.at)}#{event.account_id}#"
                f"{event.thread_id}#{event.event_id}"
            ),
        }

    def _paged(
        self, counter: _ReadCount, *, parse_times: bool = True, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """A query's items as plain values (timestamps as UTC datetimes, or left as the text the
        table holds without `parse_times`), counting reads.

        The items skip botocore's shape-by-shape parsing (most of the CPU time of reading a busy
        week): their DynamoDB JSON is taken from the response as it came (see `_raw_items`)."""
        plain = _plain_item if parse_times else _plain_values
        self._client.meta.events.register(
            "before-parse.dynamodb.Query", _raw_items, unique_id="replysla-raw-query-items"
        )
        kwargs = {"TableName": self._table, **kwargs}
        while True:
            _RAW.on = True
            try:
                response = self._call("query", **kwargs)
            finally:
                _RAW.on = False
            counter.requests += 1
            counter.items += int(response.get("ScannedCount", len(response.get("Items", []))))
            for item in response.get("Items", []):
                yield plain(item)
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def _read_all(
        self, plan: Sequence[tuple[Callable[[dict[str, Any]], Any], dict[str, Any]]]
    ) -> tuple[list[list[Any]], _ReadCount]:
        """Run independent queries side by side (a week's reads wait on DynamoDB far more than
        on Python); each result is its query's items made into models, in the plan's order."""
        from concurrent.futures import ThreadPoolExecutor

        def run(
            step: tuple[Callable[[dict[str, Any]], Any], dict[str, Any]],
        ) -> tuple[list[Any], _ReadCount]:
            model, spec = step
            counter = _ReadCount()
            # Items handed over as read (`_as_read`) keep their times as the table's text.
            items = self._paged(counter, parse_times=model is not _as_read, **spec)
            return [model(item) for item in items], counter

        total = _ReadCount()
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            results = list(pool.map(run, plan))
        for _items, counter in results:
            total.requests += counter.requests
            total.items += counter.items
        return [items for items, _counter in results], total

    def _week_specs(
        self,
        brand: str,
        week: str,
        prefix: str,
        fields: Sequence[str] = (),
        days: bool = False,
    ) -> list[dict[str, Any]]:
        """Query specs for the items of one week-partition whose `week_sk` starts with `prefix`;
        with `days`, one per day of the week (`<prefix><timestamp>` split at each midnight), so
        they can be read side by side."""
        bounds: list[tuple[str, str]] = [(prefix, prefix + "~")]
        if days:
            start, _end = week_bounds(week, self._zone_of(brand))
            cuts = [prefix + iso_utc(start + timedelta(days=d)) for d in range(1, 7)]
            bounds = list(itertools.pairwise([prefix, *cuts, prefix + "~"]))
        specs = []
        for low, high in bounds:
            spec: dict[str, Any] = {
                "IndexName": WEEK_INDEX,
                # BETWEEN is inclusive; no key equals a bound (every key goes on after it).
                "KeyConditionExpression": "week_pk = :p AND week_sk BETWEEN :a AND :b",
                "ExpressionAttributeValues": {
                    ":p": {"S": f"WEEK#{brand}#{week}"},
                    ":a": {"S": low},
                    ":b": {"S": high},
                },
            }
            if fields:
                names = {f"#f{i}": name for i, name in enumerate(fields)}
                spec["ProjectionExpression"] = ", ".join(names)
                spec["ExpressionAttributeNames"] = names
            specs.append(spec)
        return specs

    def _week_query(
        self,
        brand: str,
        week: str,
        prefix: str,
        counter: _ReadCount,
        fields: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        for spec in self._week_specs(brand, week, prefix, fields):
            yield from self._paged(counter, **spec)

    def _turn_specs(self, brand: str, week: str) -> list[dict[str, Any]]:
        """Turns opened in the week (by day of their deadline), then those due in it that
        opened in the weeks before (one key range in each)."""
        from reply_sla.domain.weeks import shift_week

        specs = self._week_specs(brand, week, "TURN#", days=True)
        start, end = week_bounds(week, self._zone_of(brand))
        for back in range(1, DUE_LOOKBACK_WEEKS + 1):
            specs.append(
                {
                    "IndexName": WEEK_INDEX,
                    "KeyConditionExpression": "week_pk = :p AND week_sk BETWEEN :a AND :b",
                    "ExpressionAttributeValues": {
                        ":p": {"S": f"WEEK#{brand}#{shift_week(week, -back)}"},
                        # [start, end): `TURN#<end>#key` sorts after `TURN#<end>`.
                        ":a": {"S": f"TURN#{iso_utc(start)}"},
                        ":b": {"S": f"TURN#{iso_utc(end)}"},
                    },
                }
            )
        return specs

    def _week_turns(self, brand: str, week: str, counter: _ReadCount) -> list[Turn]:
        results, read = self._read_all(
            [(Turn.model_validate, spec) for spec in self._turn_specs(brand, week)]
        )
        counter.items += read.items
        counter.requests += read.requests
        turns: dict[str, Turn] = {}
        for found in results:
            for turn in found:
                turns.setdefault(turn.key, turn)
        return list(turns.values())

    def week_records(self, brand: str, week: str, *, as_columns: bool = False) -> WeekRecords:
        """What a weekly summary reads of one brand-week: inbound messages and brand posts (only
        the fields it counts), the turns opened or due in the week, and the events it counts.

        Every read is a key range of the `week` index, read side by side: the items read are the
        week's own (no filter discards any), and `items_read` / `requests` say what it cost.
        With `as_columns`, the messages and turns go straight from their items into
        `WeekColumns` (no model is validated per item: most of the CPU time of a busy week).
        """
        event = SlaEvent.model_validate
        message: Callable[[dict[str, Any]], Any] = Message.model_validate
        turn: Callable[[dict[str, Any]], Any] = Turn.model_validate
        if as_columns:
            # The items as read, times as the table's text: the columns parse the times they
            # use and a breach row shows the text (no time of a million items is parsed only
            # to be written back as text).
            message = turn = _as_read
        Step = tuple[Callable[[dict[str, Any]], Any], dict[str, Any]]
        parts: dict[str, list[Step]] = {
            "inbound": [
                (message, spec)
                for spec in self._week_specs(brand, week, "MSG#", _MESSAGE_FIELDS, days=True)
            ],
            "outbound": [
                (message, spec)
                for spec in self._week_specs(brand, week, "OUT#", _MESSAGE_FIELDS, days=True)
            ],
            "turns": [(turn, spec) for spec in self._turn_specs(brand, week)],
            "events": [
                (event, spec)
                for kind in SUMMARY_EVENTS
                for spec in self._week_specs(brand, week, f"EVT#{kind.value}#")
            ],
        }
        plan = [step for steps in parts.values() for step in steps]
        results, counter = self._read_all(plan)
        found: dict[str, list[Any]] = {}
        position = 0
        for name, steps in parts.items():
            chunk = results[position : position + len(steps)]
            found[name] = [item for part in chunk for item in part]
            position += len(steps)
        if as_columns:
            columns = WeekColumns()
            columns.add_messages(itertools.chain(found["inbound"], found["outbound"]))
            columns.add_stored_turns(found["turns"])
            return WeekRecords(
                inbound=[],
                outbound=[],
                turns=[],
                events=found["events"],
                items_read=counter.items,
                requests=counter.requests,
                columns=columns,
            )
        turns: dict[str, Turn] = {}
        for model in found["turns"]:
            turns.setdefault(model.key, model)
        return WeekRecords(
            inbound=found["inbound"],
            outbound=found["outbound"],
            turns=list(turns.values()),
            events=found["events"],
            items_read=counter.items,
            requests=counter.requests,
        )

    def overdue_turns(self, brand: str, now: datetime) -> list[Turn]:
        """Open turns whose deadline passed before `now` (a key range of the open index)."""
        counter = _ReadCount()
        return [
            Turn.model_validate(item)
            for item in self._paged(
                counter,
                IndexName=OPEN_INDEX,
                KeyConditionExpression="open_pk = :p AND open_sk < :now",
                ExpressionAttributeValues={
                    ":p": {"S": f"OPEN#{brand}"},
                    ":now": {"S": iso_utc(now)},
                },
            )
        ]

    def put_week_aggregate(
        self, brand: str, week: str, aggregate: Mapping[str, Any], now: datetime
    ) -> None:
        """Store (or replace) a week's aggregate: its scopes' figures and its breach authors."""
        import json

        pk = f"AGG#{brand}"
        expires = int((now + timedelta(days=AGGREGATE_DAYS)).timestamp())
        head = {k: v for k, v in aggregate.items() if k != "breach_authors"}
        pieces = {
            "SCOPES": _json_pieces(json.dumps(head, separators=(",", ":"))),
            "AUTHORS": _json_pieces(
                json.dumps(list(aggregate.get("breach_authors", [])), separators=(",", ":"))
            ),
        }
        requests: list[dict[str, Any]] = []
        for part, texts in pieces.items():
            keep = {f"{part}#{week}#{n:04d}" for n in range(len(texts))}
            requests += [
                {
                    "PutRequest": {
                        "Item": _serialize(
                            {
                                "pk": pk,
                                "sk": sk,
                                "doc": text,
                                "pieces": len(texts),
                                "expires_at": expires,
                            }
                        )
                    }
                }
                for sk, text in zip(sorted(keep), texts, strict=True)
            ]
            stale = self._paged(
                _ReadCount(),
                KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
                ExpressionAttributeValues={":p": {"S": pk}, ":s": {"S": f"{part}#{week}#"}},
                ProjectionExpression="pk, sk",
            )
            requests += [
                {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": str(item["sk"])}}}}
                for item in stale
                if str(item["sk"]) not in keep
            ]
        self._batch_write(requests)

    def week_aggregates(
        self, brand: str, weeks: Sequence[str], author_weeks: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Stored aggregates by week: `scopes` and `escalations` for `weeks`, `breach_authors`
        for `author_weeks` (two key ranges; missing weeks are absent)."""
        import json

        pk = f"AGG#{brand}"
        found: dict[str, dict[str, Any]] = {}
        counter = _ReadCount()
        for part, wanted in (("SCOPES", weeks), ("AUTHORS", author_weeks)):
            if not wanted:
                continue
            texts: dict[str, list[tuple[str, str]]] = {}
            for item in self._paged(
                counter,
                KeyConditionExpression="pk = :p AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues={
                    ":p": {"S": pk},
                    ":a": {"S": f"{part}#{min(wanted)}#"},
                    ":b": {"S": f"{part}#{max(wanted)}#~"},
                },
            ):
                _part, week, piece = str(item["sk"]).split("#", 2)
                if week in wanted:
                    texts.setdefault(week, []).append((piece, str(item["doc"])))
            for week, parts in texts.items():
                document = json.loads("".join(text for _n, text in sorted(parts)))
                entry = found.setdefault(week, {})
                if part == "SCOPES":
                    entry.update(document)
                else:
                    entry["breach_authors"] = document
        return found

    def _batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._table: list(requests[start : start + 25])}
            for _ in range(8):
                response = self._call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                self._sleep(0.05)
            else:
                raise StoreUnavailable(f"table {self._table} left writes unprocessed")


# Queries of one week read side by side.
READ_THREADS = 8
# Turns due in a week are read from the weeks they opened in, this many weeks back: a deadline
# more than 4 weeks after its turn opened counts where the turn opened, not where it fell due.
DUE_LOOKBACK_WEEKS = 4
# Stored weekly aggregates are kept as long as the summaries (two years).
AGGREGATE_DAYS = 730
# JSON pieces of an aggregate stay well under DynamoDB's 400 KB item limit.
AGGREGATE_PIECE_CHARS = 100_000
# What a summary counts of a week's events (it skips `turn_opened` and `replied`: the turns
# themselves say when they opened and were answered).
SUMMARY_EVENTS = (
    EventType.WARNING,
    EventType.BREACHED,
    EventType.ESCALATED,
    EventType.DISMISSED,
    EventType.SNOOZED,
    EventType.RESUMED,
)
# What a summary reads of a message: who, where, when, and whether it was a reply or private.
_MESSAGE_FIELDS = (
    "brand",
    "account_id",
    "channel",
    "message_id",
    "thread_id",
    "parent_id",
    "author_id",
    "created_at",
    "direction",
    "private",
)
# Stored as ISO text; read as UTC datetimes (stdlib `timezone.utc`, which compares and converts
# fastest when a summary handles a million of them).
_TIME_FIELDS = frozenset(
    {
        "created_at",
        "opened_at",
        "due_at",
        "replied_at",
        "next_level_at",
        "claim_until",
        "held_until",
        "snoozed_at",
        "snoozed_until",
        "at",
    }
)


_RAW = threading.local()


def _raw_items(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """Before botocore parses a Query response the store asked for raw: take its `Items` out
    of the body as DynamoDB JSON (what botocore's parser would rebuild, item by item, from the
    same JSON) and give them back untouched after the parse."""
    if not getattr(_RAW, "on", False) or response_dict.get("status_code") != 200:
        return
    import json

    body = json.loads(response_dict["body"])
    customized_response_dict["Items"] = body.pop("Items", [])
    response_dict["body"] = json.dumps(body).encode()


@dataclass
class _ReadCount:
    requests: int = 0
    items: int = 0


def _plain(value: Any) -> Any:
    """One DynamoDB attribute value as a plain Python value (numbers as int or float)."""
    for kind, raw in value.items():
        if kind == "S":
            return raw
        if kind == "N":
            return int(raw) if raw.lstrip("-").isdigit() else float(raw)
        if kind == "M":
            return {k: _plain(v) for k, v in raw.items()}
        if kind == "L":
            return [_plain(v) for v in raw]
        if kind == "BOOL":
            return bool(raw)
        if kind == "NULL":
            return None
    return _from_dynamo(_deserializer.deserialize(value))


def _as_read(item: dict[str, Any]) -> dict[str, Any]:
    return item


def _plain_values(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in item.items()}


def _plain_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out = _plain_values(item)
    for name in _TIME_FIELDS.intersection(out):
        text = out[name]
        if isinstance(text, str):
            out[name] = datetime.fromisoformat(text)
    return out


def _json_pieces(text: str) -> list[str]:
    return [
        text[i : i + AGGREGATE_PIECE_CHARS] for i in range(0, len(text), AGGREGATE_PIECE_CHARS)
    ] or [""]

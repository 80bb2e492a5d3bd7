"""DynamoDB requests per stored message, counted on moto with the real store and poll service.

Prints figures; not part of `make test`. Run: `make bench`.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moto import mock_aws  # noqa: E402

from reply_sla.adapters.dynamodb_store import DynamoThreadStore  # noqa: E402
from reply_sla.config import AccountConfig  # noqa: E402
from reply_sla.domain.models import Direction, Message  # noqa: E402
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound  # noqa: E402
from reply_sla.local.provision import provision_table  # noqa: E402
from reply_sla.services.polling import poll_account  # noqa: E402
from tests.fakes import FakeChannel  # noqa: E402

WRITES = {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteItem"}
T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)
ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"t": "x"}
)


def _message(i: int, minutes: int, direction: Direction, thread: str) -> Message:
    return Message(
        brand="acme",
        account_id=ACCOUNT.id,
        channel="mastodon",
        message_id=f"{i:08d}",
        thread_id=thread,
        author_id="brand" if direction is Direction.OUTBOUND else f"c{i}",
        created_at=T0 + timedelta(minutes=minutes),
        text="question",
        direction=direction,
    )


def page(threads: int, replies: bool) -> list[Message]:
    out = []
    for t in range(threads):
        out.append(_message(2 * t, t, Direction.INBOUND, f"t{t}"))
        if replies:
            out.append(_message(2 * t + 1, t + 20, Direction.OUTBOUND, f"t{t}"))
    return out


def measure(messages: list[Message]) -> tuple[float, float, Counter[str]]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1"
    )
    with mock_aws():
        import boto3

        session = boto3.session.Session()
        provision_table(session, None, ROOT / "template.yaml", "bench")
        client = session.client("dynamodb")
        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        client.meta.events.register("before-call.dynamodb.*", count)
        store = DynamoThreadStore(client, "bench")
        channel = FakeChannel(messages)
        poll_account(ACCOUNT, channel, store, FixedWindowPolicy(), ReplyToEveryInbound(), T0)
        first = Counter(calls)
        calls.clear()
        store.save_cursors(ACCOUNT.id, {"all": "0"}, T0)
        calls.clear()
        poll_account(ACCOUNT, channel, store, FixedWindowPolicy(), ReplyToEveryInbound(), T0)
        again = Counter(calls)
    n = len(messages)
    new_writes = sum(v for k, v in first.items() if k in WRITES) / n
    repoll_writes = sum(v for k, v in again.items() if k in WRITES)
    return new_writes, repoll_writes, first


def main() -> None:
    print("ingest cost (moto, real store and poll service)")
    for label, msgs in (
        ("100 new messages, 50 question+answer threads", page(50, True)),
        ("100 new messages, 100 one-question threads", page(100, False)),
    ):
        new_writes, repoll_writes, calls = measure(msgs)
        total = sum(calls.values()) / len(msgs)
        print(f"  {label}:")
        print(f"    requests per new message     {total:.2f}   {dict(calls)}")
        print(f"    write requests per new msg   {new_writes:.2f}   (target <= 2)")
        print(f"    write requests on re-poll    {repoll_writes}      (the cursor only)")


if __name__ == "__main__":
    main()

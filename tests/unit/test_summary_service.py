"""build_weekly_summary with in-memory ports: the files and their layout, the stored aggregate
that the next week's trends read, the notice and what it says about its link."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reply_sla.domain.models import Turn
from reply_sla.domain.summary import WeekRecords
from reply_sla.domain.weeks import week_of
from reply_sla.ports import SignedLink
from reply_sla.services.summary import (
    FILES,
    build_weekly_summary,
    latest_prefix,
    link_note,
    week_prefix,
)
from tests.fakes import RecordingNotifier
from tests.unit.test_summary_week import EVENTS, MESSAGES, NOW, T9, WEEK_TURNS

MADRID = "Europe/Madrid"


@dataclass
class WeekStore:
    """The summary's part of the ThreadStore, in memory: records by week, stored aggregates."""

    records: dict[str, WeekRecords] = field(default_factory=dict)
    overdue: list[Turn] = field(default_factory=list)
    aggregates: dict[str, dict[str, Any]] = field(default_factory=dict)
    asked: list[tuple[list[str], list[str]]] = field(default_factory=list)

    def week_records(self, brand: str, week: str, *, as_columns: bool = False) -> WeekRecords:
        return self.records.get(week, WeekRecords([], [], [], []))

    def overdue_turns(self, brand: str, now: datetime) -> list[Turn]:
        return [t for t in self.overdue if t.due_at < now]

    def put_week_aggregate(
        self, brand: str, week: str, aggregate: Mapping[str, Any], now: datetime
    ) -> None:
        self.aggregates[week] = json.loads(json.dumps(aggregate))

    def week_aggregates(
        self, brand: str, weeks: Sequence[str], author_weeks: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        self.asked.append((list(weeks), list(author_weeks)))
        found: dict[str, dict[str, Any]] = {}
        for week in weeks:
            if week in self.aggregates:
                found[week] = {
                    k: v for k, v in self.aggregates[week].items() if k != "breach_authors"
                }
        for week in author_weeks:
            if week in self.aggregates:
                found.setdefault(week, {})["breach_authors"] = self.aggregates[week][
                    "breach_authors"
                ]
        return found


@dataclass
class MemoryBucket:
    credentials: str = "long-lived"
    expiry_known: bool = True
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = (body, content_type)

    def download_link(self, key: str, expires_seconds: int) -> str:
        return f"https://bucket.example/{key}?X-Amz-Expires={expires_seconds}"

    def signed_link(self, key: str, expires_seconds: int) -> SignedLink:
        seconds = expires_seconds if self.expiry_known or self.credentials == "long-lived" else 0
        seconds = seconds if self.credentials == "long-lived" else min(seconds, 3 * 3600)
        return SignedLink(
            url=f"https://bucket.example/{key}?X-Amz-Expires={seconds}",
            expires_at=NOW + timedelta(seconds=seconds),
            credentials=self.credentials,
            expiry_known=self.expiry_known,
        )


def _records() -> WeekRecords:
    return WeekRecords(
        inbound=[m for m in MESSAGES if m.direction.value == "inbound"],
        outbound=[m for m in MESSAGES if m.direction.value == "outbound"],
        turns=list(WEEK_TURNS),
        events=list(EVENTS),
        items_read=42,
        requests=7,
    )


def build(store: WeekStore, bucket: MemoryBucket, notifier=None, week="2026-W47", **kw):
    return build_weekly_summary("acme", "ACME", MADRID, week, store, bucket, notifier, NOW, **kw)


def test_the_four_files_go_to_the_week_and_to_latest():
    store, bucket = WeekStore({"2026-W47": _records()}, [T9]), MemoryBucket()
    report = build(store, bucket)
    names = ["summary.json", "summary.csv", "breaches.csv", "summary.html"]
    assert sorted(bucket.objects) == sorted(
        [week_prefix("acme", "2026-W47") + n for n in names]
        + [latest_prefix("acme") + n for n in names]
    )
    for name in names:
        body, content_type = bucket.objects[f"summaries/acme/2026-W47/{name}"]
        assert bucket.objects[f"summaries/acme/latest/{name}"] == (body, content_type)
        assert content_type == FILES[name]
    assert report.items_read == 42 and report.requests == 7
    assert report.file_bytes["summary.html"] == len(
        bucket.objects["summaries/acme/2026-W47/summary.html"][0]
    )


def test_a_backfill_leaves_latest_alone():
    bucket = MemoryBucket()
    build(WeekStore({"2026-W47": _records()}), bucket, update_latest=False)
    assert not [k for k in bucket.objects if "/latest/" in k]


def test_the_next_week_reads_this_weeks_aggregate_for_its_trends_and_customers_at_risk():
    store, bucket = WeekStore({"2026-W47": _records()}, [T9]), MemoryBucket()
    build(store, bucket)
    assert "2026-W47" in store.aggregates
    # When W48 is built a week later (no new activity)
    later = build_weekly_summary(
        "acme", "ACME", MADRID, "2026-W48", store, bucket, None, NOW + timedelta(days=7)
    )
    summary = json.loads(bucket.objects["summaries/acme/2026-W48/summary.json"][0])
    # Then it asked for the 7 weeks before it, and the 3 before it for breach authors
    assert store.asked[-1] == (
        [f"2026-W{n}" for n in range(41, 48)],
        ["2026-W45", "2026-W46", "2026-W47"],
    )
    # and its trends end with W47's figures, then its own
    assert summary["trends"]["metrics"]["sla_attainment"][-2:] == [0.4286, None]
    assert summary["trends"]["metrics"]["turns_opened"][-2:] == [7, 0]
    # ana breached twice in W47: still at risk within 4 weeks
    assert [p["author_id"] for p in summary["metrics"]["customers_at_risk"]] == ["ana"]
    assert later.headline["customers_at_risk"] == 1


def test_the_notice_has_the_headline_figures_findings_and_the_link():
    notifier = RecordingNotifier()
    report = build(WeekStore({"2026-W47": _records()}, [T9]), MemoryBucket(), notifier)
    [(subject, body, attributes)] = notifier.published
    assert attributes == {"brand": "acme", "level": "summary", "audience": ["managers", "team"]}
    assert subject == "[replysla] ACME week 2026-W47: 43% on time, 4 breaches"
    assert "Answered on time:       43% (3 of 7 due)" in body
    assert "Response rate:          83% of 7 to answer" in body
    assert "Customers at risk:      1" in body and "Still overdue now:      2" in body
    assert "week 2026-W47 (Mon 16 Nov to Sun 22 Nov, Europe/Madrid)" in body
    assert "- 3 of 4 breaches were Messenger DMs sent on a Saturday." in body
    assert report.link in body
    assert "The link works for 7 days, until Mon 30 Nov 2026 07:00 CET." in body
    assert "replysla summaries download --brand acme --week 2026-W47" in body


def test_the_notice_carries_no_customer_text():
    notifier = RecordingNotifier()
    records = _records()
    hostile = [
        t.model_copy(update={"author_handle": "<script>x</script>", "text": "=cmd|'/C calc'!A0"})
        for t in records.turns
    ]
    store = WeekStore({"2026-W47": WeekRecords(records.inbound, records.outbound, hostile, [])})
    build(store, MemoryBucket(), notifier)
    [(_subject, body, _)] = notifier.published
    assert "<script>" not in body and "calc" not in body


@pytest.mark.parametrize(
    ("credentials", "known", "expected"),
    [
        ("long-lived", True, "The link works for 7 days, until Mon 30 Nov 2026 07:00 CET."),
        (
            "session",
            True,
            "The link works until Mon 23 Nov 2026 10:00 CET: it was signed with temporary AWS "
            "credentials that expire then",
        ),
        (
            "session",
            False,
            "signed with this function's temporary AWS credentials: it works until they "
            "expire, which can be within hours",
        ),
    ],
)
def test_the_notice_says_how_long_the_link_really_works(credentials, known, expected):
    notifier = RecordingNotifier()
    bucket = MemoryBucket(credentials=credentials, expiry_known=known)
    report = build(WeekStore({"2026-W47": _records()}), bucket, notifier)
    assert expected in notifier.published[0][1]
    assert expected in report.link_note


def test_link_note_never_promises_more_than_the_link():
    link = SignedLink("https://x", datetime(2026, 11, 30, 6, tzinfo=UTC), "session", False)
    assert "never after Mon 30 Nov 2026 07:00 CET" in link_note(link, MADRID)


def test_built_twice_as_of_the_same_time_the_files_are_identical():
    first, second = MemoryBucket(), MemoryBucket()
    build(WeekStore({"2026-W47": _records()}, [T9]), first)
    build(WeekStore({"2026-W47": _records()}, [T9]), second)
    assert first.objects == second.objects


def test_the_week_label_is_the_weeks_own():
    assert week_of(NOW - timedelta(days=1), MADRID) == "2026-W47"

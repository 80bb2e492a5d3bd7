"""Silent stretches: the waits' union cut at every brand post, longest first, checked against a
plain enumeration of every piece."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reply_sla.domain.silence import silent_stretches, waiting_union

EPOCH = datetime(2026, 11, 16, tzinfo=UTC)


def stretches(waits, posts, **kw):
    return silent_stretches(
        sorted(a for a, _ in waits), sorted(b for _, b in waits), sorted(posts), **kw
    )


def naive_pieces(waits, posts):
    """Every piece by brute force: elementary segments between all boundaries, covered ones
    joined unless a post sits between them."""
    points = sorted({p for w in waits for p in w} | set(posts))
    post_set = set(posts)
    pieces: list[tuple[float, float]] = []
    current: tuple[float, float] | None = None
    for p, q in itertools.pairwise(points):
        covered = any(a <= p and q <= b for a, b in waits)
        if not covered:
            if current:
                pieces.append(current)
            current = None
            continue
        if current is not None and p not in post_set:
            current = (current[0], q)
        else:
            if current:
                pieces.append(current)
            current = (p, q)
    if current:
        pieces.append(current)
    return pieces


def overlapping(waits, a, b):
    return sum(1 for s, e in waits if s < b and e > a)


def test_a_post_cuts_a_wait_and_a_reply_ends_it():
    # Given one customer waiting from 0 to 100 (the reply) and a brand post at 30
    result = stretches([(0, 100)], [30, 100])
    # Then the stretches are 30..100 and 0..30, longest first
    assert [(s.start, s.end, s.turns_waiting) for s in result] == [(30, 100, 1), (0, 30, 1)]


def test_overlapping_waits_make_one_stretch_and_count_their_customers():
    result = stretches([(0, 50), (40, 120), (200, 210)], [])
    assert [(s.start, s.end, s.turns_waiting) for s in result] == [
        (0, 120, 2),
        (200, 210, 1),
    ]


def test_touching_waits_join():
    starts, ends = waiting_union([0.0, 10.0], [10.0, 20.0])
    assert (starts, ends) == ([0.0], [20.0])


def test_no_wait_no_stretch():
    assert stretches([], [1, 2, 3]) == []


def test_business_time_decides_the_order():
    # Given two stretches: 0..100 (calendar 100, but only 10 s open) and 200..260 (all open)
    def open_hours(start: datetime, end: datetime) -> float:
        a, b = (start - EPOCH).total_seconds(), (end - EPOCH).total_seconds()
        return max(0.0, min(b, 10) - a) + max(0.0, min(b, 260) - max(a, 200))

    result = stretches(
        [((EPOCH + timedelta(seconds=x)).timestamp(), (EPOCH + timedelta(seconds=y)).timestamp())
         for x, y in ((0, 100), (200, 260))],
        [],
        business=open_hours,
    )  # fmt: skip
    assert [s.business_seconds for s in result] == [60, 10]
    assert [s.calendar_seconds for s in result] == [60, 100]


waits_strategy = st.lists(
    st.tuples(st.integers(0, 500), st.integers(1, 120)).map(lambda t: (t[0], t[0] + t[1])),
    min_size=1,
    max_size=40,
)
posts_strategy = st.lists(st.integers(0, 650), max_size=60)


@settings(max_examples=300, deadline=None)
@given(waits=waits_strategy, posts=posts_strategy, top=st.integers(1, 8))
def test_the_top_stretches_are_the_longest_pieces(waits, posts, top):
    # Given any waits and posts, When the top stretches are taken
    result = stretches(waits, posts, top=top)
    # Then they are the longest pieces a brute-force enumeration finds
    pieces = naive_pieces(waits, posts)
    expected = sorted((b - a for a, b in pieces), reverse=True)[:top]
    assert [s.calendar_seconds for s in result] == expected
    for s in result:
        assert (s.start, s.end) in pieces
        assert s.turns_waiting == overlapping(waits, s.start, s.end)


@settings(max_examples=200, deadline=None)
@given(waits=waits_strategy, posts=posts_strategy)
def test_the_top_by_business_time_matches_a_brute_force_ranking(waits, posts):
    # A clock open in the first half of every 100 s
    def half_open(start: datetime, end: datetime) -> float:
        a, b = start.timestamp(), end.timestamp()
        total, t = 0.0, a
        while t < b:
            block_end = (t // 100) * 100 + 100
            open_end = (t // 100) * 100 + 50
            total += max(0.0, min(b, open_end) - t)
            t = block_end
        return total

    result = stretches(waits, posts, business=half_open, top=3)
    pieces = naive_pieces(waits, posts)
    measured = sorted(
        (
            half_open(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC))
            for a, b in pieces
        ),
        reverse=True,
    )[:3]
    assert [s.business_seconds for s in result] == measured

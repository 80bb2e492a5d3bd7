"""Silent stretches (SLA_SEMANTICS §7): customers waited and the brand posted nothing.

A stretch is a maximal stretch of time in which at least one turn was waiting and the brand
posted nothing on the scope's accounts: the union of the waits, cut at every brand post (a reply
that closes a turn is a post, so a wait's end is always a cut). Stretches are ranked by business
time, the brand's calendar (calendar time when it has none).

Pure and fast (a million waits in well under a second): waits come as separately sorted start
and end timestamps, and the longest pieces are found from the gaps between posts, so business
time is computed only for the few stretches that can make the top.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

Elapsed = Callable[[datetime, datetime], float]


@dataclass(frozen=True)
class Stretch:
    start: float
    end: float
    business_seconds: float
    turns_waiting: int

    @property
    def calendar_seconds(self) -> float:
        return self.end - self.start


def waiting_union(
    starts: Sequence[float], ends: Sequence[float]
) -> tuple[list[float], list[float]]:
    """Maximal intervals covered by at least one wait (touching waits join), as their sorted
    starts and ends.

    With starts and ends each sorted, the k-th smallest start is never after the k-th smallest
    end, and a covered stretch ends at ends[k] exactly when starts[k + 1] comes after it.
    """
    n = len(starts)
    if n == 0:
        return [], []
    cuts = [k for k in range(n - 1) if starts[k + 1] > ends[k]]
    return [starts[0], *(starts[k + 1] for k in cuts)], [*(ends[k] for k in cuts), ends[-1]]


def _pieces_by_length(
    union_starts: list[float], union_ends: list[float], posts: Sequence[float]
) -> Iterator[tuple[float, float, float]]:
    """Every piece of the union between cuts, as (calendar length, start, end), longest first.

    A piece either lies between two consecutive posts inside one covered interval, or touches an
    interval's edge. Edge pieces are few (two per interval); inner pieces are taken from the
    longest gaps between posts, in growing batches, skipping gaps that leave the union.
    """
    edges: list[tuple[float, float, float]] = []
    for a, b in zip(union_starts, union_ends, strict=True):
        first = bisect_right(posts, a)
        last = bisect_left(posts, b) - 1
        if first > last:  # no post inside: the whole interval is one piece
            edges.append((b - a, a, b))
            continue
        if posts[first] > a:
            edges.append((posts[first] - a, a, posts[first]))
        if b > posts[last]:
            edges.append((b - posts[last], posts[last], b))
    edges.sort(reverse=True)
    gaps = [q - p for p, q in itertools.pairwise(posts)]
    inner = _inner_gaps(gaps, posts, union_starts, union_ends)
    edge_iter = iter(edges)
    next_edge = next(edge_iter, None)
    next_inner = next(inner, None)
    while next_edge is not None or next_inner is not None:
        if next_inner is None or (next_edge is not None and next_edge >= next_inner):
            assert next_edge is not None
            yield next_edge
            next_edge = next(edge_iter, None)
        else:
            yield next_inner
            next_inner = next(inner, None)


def _inner_gaps(
    gaps: list[float],
    posts: Sequence[float],
    union_starts: list[float],
    union_ends: list[float],
) -> Iterator[tuple[float, float, float]]:
    """Gaps between consecutive posts that lie inside one covered interval, longest first."""
    wanted = 64
    floor = float("inf")
    while floor > 0.0 and gaps:
        # The gaps at least as long as the `wanted`-th longest, not yet given, longest first.
        ceiling, floor = floor, heapq.nlargest(min(wanted, len(gaps)), gaps)[-1]
        ranked = sorted(
            (k for k, gap in enumerate(gaps) if floor <= gap < ceiling),
            key=lambda k: (-gaps[k], k),
        )
        for k in ranked:
            p, q = posts[k], posts[k + 1]
            i = bisect_right(union_starts, p) - 1
            # Strictly inside one covered interval; pieces at its edges are the edge pieces.
            if i >= 0 and union_starts[i] < p < q < union_ends[i]:
                yield (q - p, p, q)
        if wanted >= len(gaps):
            return
        wanted *= 4


def silent_stretches(
    wait_starts: Sequence[float],
    wait_ends: Sequence[float],
    posts: Sequence[float],
    *,
    business: Elapsed | None = None,
    top: int = 5,
) -> list[Stretch]:
    """The `top` longest stretches, longest business time first.

    `wait_starts` and `wait_ends` are the sorted starts and the sorted ends of the waits
    (already clipped to the period); `posts` the sorted instants the brand posted.
    """
    if not wait_starts or top < 1:
        return []
    union_starts, union_ends = waiting_union(wait_starts, wait_ends)
    best: list[tuple[float, float, float]] = []  # (measured, start, end)
    for length, a, b in _pieces_by_length(union_starts, union_ends, posts):
        # Business time is at most calendar time: once the top is full and the next piece is
        # no longer than its shortest member, nothing later can enter it.
        if len(best) >= top and best[-1][0] >= length:
            break
        measured = length if business is None else business(_dt(a), _dt(b))
        best.append((measured, a, b))
        best.sort(key=lambda row: (-row[0], row[1]))
        del best[top:]
    return [
        Stretch(
            start=a,
            end=b,
            business_seconds=measured,
            # Waits overlapping [a, b): started before b and not ended by a.
            turns_waiting=bisect_left(wait_starts, b) - bisect_right(wait_ends, a),
        )
        for measured, a, b in best
    ]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)

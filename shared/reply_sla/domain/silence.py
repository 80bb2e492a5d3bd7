"""Silent stretches (SLA_SEMANTICS §7): customers waited and the brand posted nothing.

A stretch is a maximal stretch of time in which at least one turn was waiting and the brand
posted nothing on the scope's accounts: the union of the waits, cut at every brand post (a reply
that closes a turn is a post, so a wait's end is always a cut). Stretches are ranked by business
time, the brand's calendar (calendar time when it has none).

Pure and fast (a million waits in well under a second): waits come as separately sorted start
and end timestamps, and the longest pieces are found from the gaps between posts, so business
time is computed only for the few stretches that can make the top. A scope of several accounts
passes each account's waits as they are: the union of their unions is the union of all waits,
so no million-wait list is merged.
"""

from __future__ import annotations

import heapq
import itertools
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

Elapsed = Callable[[datetime, datetime], float]
# One group of waits (an account's): its sorted starts and its sorted ends.
Waits = tuple[Sequence[float], Sequence[float]]


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
    # k where starts[k + 1] > ends[k], in C loops (a million waits per scope)
    cuts = list(
        itertools.compress(range(n - 1), map(operator.gt, itertools.islice(starts, 1, None), ends))
    )
    return [starts[0], *(starts[k + 1] for k in cuts)], [*(ends[k] for k in cuts), ends[-1]]


def union_of_unions(unions: Sequence[Waits]) -> Waits:
    """The union of several groups' waits, from each group's own union (`waiting_union`)."""
    if len(unions) == 1:
        return unions[0]
    return waiting_union(
        sorted(itertools.chain.from_iterable(u[0] for u in unions)),
        sorted(itertools.chain.from_iterable(u[1] for u in unions)),
    )


def _pieces_by_length(
    union_starts: Sequence[float], union_ends: Sequence[float], posts: Sequence[float]
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
    gaps = list(map(operator.sub, itertools.islice(posts, 1, None), posts))
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
    union_starts: Sequence[float],
    union_ends: Sequence[float],
) -> Iterator[tuple[float, float, float]]:
    """Gaps between consecutive posts that lie inside one covered interval, longest first."""
    wanted = 64
    floor = float("inf")
    while floor > 0.0 and gaps:
        # The gaps at least as long as the `wanted`-th longest, not yet given, longest first.
        ceiling, floor = floor, heapq.nlargest(min(wanted, len(gaps)), gaps)[-1]
        # The gaps at least `floor` long, found in a C loop; the few of them not below
        # `ceiling` were given by an earlier batch.
        long_enough = itertools.compress(range(len(gaps)), map(partial(operator.le, floor), gaps))
        ranked = sorted(
            (k for k in long_enough if gaps[k] < ceiling),
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
    return silent_stretches_of([(wait_starts, wait_ends)], posts, business=business, top=top)


def silent_stretches_of(
    waits: Sequence[Waits],
    posts: Sequence[float],
    *,
    business: Elapsed | None = None,
    top: int = 5,
    unions: Sequence[Waits] | None = None,
) -> list[Stretch]:
    """`silent_stretches` of the waits of several groups (a scope's accounts) together.

    `waits` holds each group's sorted starts and sorted ends; `posts` all the groups' posts,
    sorted; `unions`, when known, each group's `waiting_union`, in the same order.
    """
    if unions is None:
        unions = [waiting_union(starts, ends) for starts, ends in waits]
    kept = [(group, union) for group, union in zip(waits, unions, strict=True) if group[0]]
    waits = [group for group, _union in kept]
    if not waits or top < 1:
        return []
    union_starts, union_ends = union_of_unions([union for _group, union in kept])
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
            turns_waiting=sum(
                bisect_left(starts, b) - bisect_right(ends, a) for starts, ends in waits
            ),
        )
        for measured, a, b in best
    ]


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)

"""The segment planner against an in-memory list with Stripe's semantics: no gaps, no duplicates, true ranges."""

from __future__ import annotations

import bisect
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from source_stripe import Segment, advance, split


def _page(times: list[int], seg: Segment, limit: int) -> tuple[list[int], bool]:
    """Positions (oldest first in `times`) of one newest-first page of `seg`, and has_more."""
    assert seg.gte is not None and seg.lt is not None
    lo, hi = bisect.bisect_left(times, seg.gte), bisect.bisect_left(times, seg.lt)
    top = hi - 1 if seg.after is None else min(hi - 1, int(seg.after) - 1)
    positions = list(range(top, lo - 1, -1))
    return positions[:limit], len(positions) > limit


def _drain(times: list[int], gte: int, lt: int, limit: int, target: int, max_split: int) -> tuple[list[int], list]:
    todo = [Segment(gte, lt)]
    seen: list[int] = []
    completed: list[tuple[int, int]] = []
    while todo:
        seg = todo.pop()
        positions, more = _page(times, seg, limit)
        out = advance(
            seg,
            [times[p] for p in positions],
            str(positions[-1]) if positions else None,
            more,
            target_objects=target,
            max_split=max_split,
        )
        seen += positions[: out.emit]
        if out.completed:
            completed.append(out.completed)
        todo += out.replacements
    return seen, completed


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 60), max_size=900), st.integers(1, 7), st.integers(100, 400), st.integers(2, 6))
def test_every_object_once_and_ranges_tile(raw: list[int], limit: int, target: int, max_split: int) -> None:
    times = sorted(raw)
    seen, completed = _drain(times, 0, 61, limit, target, max_split)
    assert sorted(seen) == list(range(len(times)))  # no gaps, no duplicates
    covered = sorted(completed)
    assert covered[0][0] == 0 and covered[-1][1] == 61
    for (_, b), (c, _) in itertools.pairwise(covered):
        assert b == c  # adjacent, no overlap, no hole


def test_dense_segment_is_subdivided_and_boundary_second_reread_once() -> None:
    times = sorted([5] * 50 + list(range(10, 1000)))
    seg = Segment(0, 1000)
    positions, more = _page(times, seg, 100)
    out = advance(seg, [times[p] for p in positions], str(positions[-1]), more, target_objects=100, max_split=4)
    oldest = times[positions[-1]]
    assert len(out.replacements) == 4 and all(r.after is None for r in out.replacements)
    assert out.emit == sum(1 for p in positions if times[p] > oldest)
    assert out.replacements[-1].lt == oldest + 1 and out.completed == (oldest + 1, 1000)


def test_one_crowded_second_paginates_with_cursor() -> None:
    times = [7] * 250
    seen, completed = _drain(times, 0, 10, 100, 100, 4)
    assert sorted(seen) == list(range(250))
    assert sorted(completed)[0][0] == 0


def test_split_gives_adjacent_whole_seconds() -> None:
    parts = split(10, 13, 8)
    assert [(p.gte, p.lt) for p in parts] == [(10, 11), (11, 12), (12, 13)]
    assert Segment.from_json(Segment(1, 2, "x", 1).to_json()) == Segment(1, 2, "x", 1)


def test_a_dense_segment_whose_newest_part_is_empty_is_still_split() -> None:
    # Objects only in the oldest 1,000 seconds of a 1,000,000-second segment: the density is that of the page's own
    # seconds, not of the whole empty stretch above it (which made the old estimate tiny: no split, one sequence).
    times = sorted(t // 10 for t in range(10_000))
    seg = Segment(0, 1_000_000)
    positions, more = _page(times, seg, 100)
    out = advance(seg, [times[p] for p in positions], str(positions[-1]), more, target_objects=2000, max_split=16)
    assert len(out.replacements) == 5 and all(r.after is None for r in out.replacements)

"""Pure backfill planning: segments of `created` seconds, what one page completes, when to subdivide.

A segment is a half-open span of whole seconds `[gte, lt)` plus an optional cursor. Lists come newest first, so
after a page whose oldest object was created at second `c`, every object created in `[c + 1, lt)` has been seen,
but objects created at `c` itself may continue on the next page. Hence:

* continuing a segment keeps its bounds and carries the cursor (`starting_after` = last id, `after_created` = c);
  `[after_created + 1, lt)` is then known complete;
* subdividing drops the cursor and the page's objects at second `c`: the rest `[gte, c + 1)` is split into fresh
  parts (no cursor), so those objects are read again exactly once, by the part holding `c`. A cursor is never
  carried into a split part (that is how gaps happen).
Parts are adjacent half-open spans of whole seconds, so each second belongs to exactly one part.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Segment:
    """Seconds `[gte, lt)` still to read; `after`/`after_created` is the cursor inside it.

    `gte`/`lt` are None for streams without a `created` filter (one sequential segment). `variant` picks one of
    the stream's parameter sets when a single list cannot show everything (prices: active and archived).
    """

    gte: int | None
    lt: int | None
    after: str | None = None
    after_created: int | None = None
    variant: int = 0

    @property
    def open_lt(self) -> int | None:
        """Upper bound of what is not yet complete: the cursor's second + 1, or `lt`."""
        if self.after is not None and self.after_created is not None and self.lt is not None:
            return min(self.lt, self.after_created + 1)
        return self.lt

    def to_json(self) -> list[Any]:
        """Compact form for the state: [gte, lt, after, after_created, variant]."""
        return [self.gte, self.lt, self.after, self.after_created, self.variant]

    @classmethod
    def from_json(cls, value: list[Any]) -> Segment:
        """Inverse of `to_json` (a four-element form from older states is variant 0)."""
        gte, lt, after, after_created, variant = (list(value) + [None] * 5)[:5]
        return cls(gte, lt, after, after_created, int(variant or 0))


@dataclass(frozen=True)
class PageOutcome:
    """What to do with one page: emit its first `emit` objects, mark `completed` done, replace the segment."""

    emit: int
    completed: tuple[int, int] | None
    replacements: tuple[Segment, ...]


def split(gte: int, lt: int, parts: int, variant: int = 0) -> list[Segment]:
    """`[gte, lt)` cut into up to `parts` adjacent fresh segments of whole seconds (none empty)."""
    parts = max(1, min(parts, lt - gte))
    bounds = sorted({gte + (lt - gte) * j // parts for j in range(parts + 1)})
    return [Segment(a, b, variant=variant) for a, b in itertools.pairwise(bounds)]


def advance(
    segment: Segment,
    times: list[int],
    last_id: str | None,
    has_more: bool,
    *,
    target_objects: int,
    max_split: int,
) -> PageOutcome:
    """Plan after a page of `segment`: `times` are the page's creation seconds (newest first)."""
    if not has_more or not times or last_id is None:
        done = None
        if segment.gte is not None and segment.open_lt is not None and segment.gte < segment.open_lt:
            done = (segment.gte, segment.open_lt)
        return PageOutcome(len(times), done, ())
    oldest = times[-1]
    top = segment.open_lt
    unfiltered = segment.gte is None or segment.lt is None or top is None
    if not unfiltered and segment.after is None and segment.gte is not None and top is not None:
        newer = sum(1 for t in times if t > oldest)
        rest = oldest + 1 - segment.gte
        if newer and rest > 1:
            # Density from the seconds the page actually spans: an empty newest stretch of the segment
            # (`top` far above the page's newest object) says nothing about how dense the rest is.
            seconds_seen = max(1, times[0] + 1 - oldest)
            estimate = len(times) / seconds_seen * rest
            if estimate > target_objects:
                parts = min(max_split, math.ceil(estimate / target_objects))
                parts_ = split(segment.gte, oldest + 1, parts, segment.variant)
                return PageOutcome(newer, (oldest + 1, top), tuple(parts_))
    completed = None
    if not unfiltered and top is not None and oldest + 1 < top:
        completed = (oldest + 1, top)
    cursor = Segment(segment.gte, segment.lt, last_id, oldest if not unfiltered else None, segment.variant)
    return PageOutcome(len(times), completed, (cursor,))

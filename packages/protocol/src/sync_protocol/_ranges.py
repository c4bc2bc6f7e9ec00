"""Half-open time ranges and the algebra the engine needs to track what a sync has covered.

Timestamps are always parsed, timezone-aware UTC datetimes: two ranges are compared by instant, never as strings.
A missing bound is unbounded on that side.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class TimeRange(BaseModel):
    """A half-open interval of time: `gte` inclusive, `lt` exclusive; a missing bound is unbounded."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    gte: datetime | None = Field(default=None, description="Inclusive lower bound (RFC 3339 UTC); null = unbounded.")
    lt: datetime | None = Field(default=None, description="Exclusive upper bound (RFC 3339 UTC); null = unbounded.")

    @field_validator("gte", "lt")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a timezone (RFC 3339), e.g. 2024-01-01T00:00:00Z")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.gte is not None and self.lt is not None and self.gte > self.lt:
            raise ValueError(f"time range is reversed: gte {self.gte.isoformat()} > lt {self.lt.isoformat()}")
        return self

    @property
    def is_empty(self) -> bool:
        """True when the range holds no instant (gte == lt)."""
        return self.gte is not None and self.lt is not None and self.gte >= self.lt

    def contains(self, instant: datetime) -> bool:
        """Whether `instant` (timezone-aware) lies inside the range."""
        return (self.gte is None or instant >= self.gte) and (self.lt is None or instant < self.lt)


def _start_key(r: TimeRange) -> datetime:
    return r.gte if r.gte is not None else datetime.min.replace(tzinfo=UTC)


def _ends_before(a_lt: datetime | None, b_gte: datetime | None) -> bool:
    """True when a range ending at `a_lt` ends strictly before one starting at `b_gte` (a gap between them)."""
    if a_lt is None or b_gte is None:
        return False
    return a_lt < b_gte


def _max_end(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return None
    return max(a, b)


def merge_ranges(ranges: Iterable[TimeRange]) -> list[TimeRange]:
    """Union of `ranges`: sorted, with overlapping and adjacent ranges joined and empty ones dropped."""
    ordered = sorted((r for r in ranges if not r.is_empty), key=_start_key)
    merged: list[TimeRange] = []
    for r in ordered:
        if merged and not _ends_before(merged[-1].lt, r.gte):
            last = merged[-1]
            merged[-1] = TimeRange(gte=last.gte, lt=_max_end(last.lt, r.lt))
        else:
            merged.append(r)
    return merged


def intersect(a: TimeRange, b: TimeRange) -> TimeRange | None:
    """The overlap of two ranges, or None when they share no instant."""
    gte = a.gte if b.gte is None else b.gte if a.gte is None else max(a.gte, b.gte)
    lt = a.lt if b.lt is None else b.lt if a.lt is None else min(a.lt, b.lt)
    if gte is not None and lt is not None and gte >= lt:
        return None
    return TimeRange(gte=gte, lt=lt)


def subtract_ranges(requested: TimeRange, covered: Iterable[TimeRange]) -> list[TimeRange]:
    """The parts of `requested` not covered by any range in `covered`, in order: the gaps left to sync."""
    gaps: list[TimeRange] = []
    cursor = requested.gte
    cursor_unbounded = requested.gte is None
    for r in merge_ranges(covered):
        piece = intersect(r, requested)
        if piece is None:
            continue
        if cursor_unbounded:
            if piece.gte is not None:
                gaps.append(TimeRange(gte=None, lt=piece.gte))
        elif piece.gte is not None and cursor is not None and piece.gte > cursor:
            gaps.append(TimeRange(gte=cursor, lt=piece.gte))
        cursor_unbounded = False
        cursor = piece.lt
        if cursor is None:
            return gaps
    if cursor_unbounded:
        return [requested]
    if requested.lt is None or (cursor is not None and cursor < requested.lt):
        gaps.append(TimeRange(gte=cursor, lt=requested.lt))
    return gaps


def covered_fraction(requested: TimeRange, covered: Iterable[TimeRange]) -> float | None:
    """Share of `requested` covered by `covered`, in [0, 1]; None when `requested` is unbounded on a side.

    An empty requested range counts as fully covered.
    """
    if requested.gte is None or requested.lt is None:
        return None
    total = (requested.lt - requested.gte).total_seconds()
    if total <= 0:
        return 1.0
    done = 0.0
    for r in merge_ranges(covered):
        piece = intersect(r, requested)
        if piece is not None and piece.gte is not None and piece.lt is not None:
            done += (piece.lt - piece.gte).total_seconds()
    return min(1.0, done / total)

"""Range algebra, checked against a brute-force model on a grid of whole seconds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from sync_protocol import TimeRange, covered_fraction, intersect, merge_ranges, subtract_ranges

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def span(a: int, b: int) -> TimeRange:
    return TimeRange(gte=at(a), lt=at(b))


def seconds_in(ranges: list[TimeRange], lo: int = 0, hi: int = 100) -> set[int]:
    return {s for s in range(lo, hi) for r in ranges if r.contains(at(s))}


ranges_st = st.lists(
    st.tuples(st.integers(0, 99), st.integers(0, 30)).map(lambda t: span(t[0], min(100, t[0] + t[1]))),
    max_size=8,
)


@given(ranges_st)
def test_merge_covers_exactly_the_union(ranges: list[TimeRange]) -> None:
    merged = merge_ranges(ranges)
    assert seconds_in(merged) == seconds_in(ranges)
    for a, b in itertools.pairwise(merged):
        assert a.lt is not None and b.gte is not None and a.lt < b.gte, "merged ranges must be sorted and disjoint"


@given(ranges_st, st.integers(0, 99), st.integers(0, 100))
def test_subtract_is_the_complement_within_the_request(ranges: list[TimeRange], a: int, length: int) -> None:
    requested = span(a, min(100, a + length))
    gaps = subtract_ranges(requested, ranges)
    assert seconds_in(gaps) == seconds_in([requested]) - seconds_in(ranges)
    assert all(not g.is_empty for g in gaps)


@given(ranges_st, st.integers(0, 99), st.integers(1, 100))
def test_covered_fraction_matches_counted_seconds(ranges: list[TimeRange], a: int, length: int) -> None:
    requested = span(a, min(100, a + length))
    expected = len(seconds_in([requested]) & seconds_in(ranges)) / len(seconds_in([requested]))
    assert covered_fraction(requested, ranges) == pytest.approx(expected)


def test_adjacent_ranges_merge_into_one() -> None:
    assert merge_ranges([span(5, 10), span(0, 5)]) == [span(0, 10)]


def test_unbounded_sides() -> None:
    everything = TimeRange()
    assert merge_ranges([TimeRange(lt=at(5)), span(3, 8), TimeRange(gte=at(20))]) == [
        TimeRange(lt=at(8)),
        TimeRange(gte=at(20)),
    ]
    assert subtract_ranges(everything, [span(3, 8)]) == [TimeRange(lt=at(3)), TimeRange(gte=at(8))]
    assert subtract_ranges(everything, [everything]) == []
    assert subtract_ranges(TimeRange(gte=at(0)), [span(0, 5)]) == [TimeRange(gte=at(5))]
    assert covered_fraction(everything, [span(0, 5)]) is None
    assert intersect(TimeRange(lt=at(5)), TimeRange(gte=at(5))) is None


def test_timestamps_compare_as_instants_not_strings() -> None:
    plus_two = timezone(timedelta(hours=2))
    local = TimeRange(gte=datetime(2024, 1, 1, 2, 0, tzinfo=plus_two), lt=datetime(2024, 1, 1, 3, 0, tzinfo=plus_two))
    assert local == span(0, 3600)
    parsed = TimeRange.model_validate({"gte": "2024-01-01T00:00:00Z", "lt": "2024-01-01T01:00:00.000+00:00"})
    assert merge_ranges([parsed, local]) == [span(0, 3600)]


def test_rejects_naive_and_reversed_ranges() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        TimeRange(gte=datetime(2024, 1, 1))
    with pytest.raises(ValidationError, match="reversed"):
        span(10, 5)

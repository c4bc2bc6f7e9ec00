"""Progress: statuses, counts, coverage, and accumulation across attempts of one run."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from sync_engine._progress import ProgressTracker
from sync_protocol import (
    ConfiguredCatalog,
    StreamProgressStatus,
    StreamState,
    StreamStatus,
    StreamStatusValue,
    SyncState,
    TimeRange,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CATALOG = ConfiguredCatalog.model_validate(
    {
        "streams": [
            {
                "name": "a",
                "json_schema": {},
                "time_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-01-01T04:00:00Z"},
            },
            {"name": "b", "json_schema": {}},
        ]
    }
)


def test_counts_coverage_and_rate() -> None:
    tracker = ProgressTracker("run1", CATALOG, None, started_at=100.0)
    tracker.attempt_started()
    tracker.source_status(StreamStatus(stream="a", status=StreamStatusValue.STARTED))
    assert tracker.changed
    state = SyncState(streams={"a": StreamState(completed_ranges=[TimeRange(gte=T0, lt=T0 + timedelta(hours=1))])})
    tracker.committed(Counter({"a": 40}), "a", state, state_committed=True)
    snap = tracker.snapshot(now=110.0)
    assert snap.record_count == 40 and snap.state_count == 1
    assert snap.records_per_s == 4.0
    assert snap.streams["a"].covered_fraction == 0.25
    assert snap.streams["a"].status is StreamProgressStatus.STARTED
    assert snap.streams["b"].status is StreamProgressStatus.NOT_STARTED


def test_errored_stays_errored_and_a_started_stream_is_never_completed_by_the_end_of_input() -> None:
    tracker = ProgressTracker("run1", CATALOG, None, started_at=0.0)
    tracker.source_status(StreamStatus(stream="a", status=StreamStatusValue.STARTED))
    tracker.source_status(StreamStatus(stream="b", status=StreamStatusValue.STARTED))
    tracker.stream_errored("a", "boom")
    tracker.source_status(StreamStatus(stream="a", status=StreamStatusValue.COMPLETE))
    tracker.all_committed()
    snap = tracker.snapshot(1.0)
    assert snap.streams["a"].status is StreamProgressStatus.ERRORED and snap.streams["a"].error == "boom"
    assert snap.streams["b"].status is StreamProgressStatus.STARTED
    assert snap.streams["b"].covered_fraction is None
    assert tracker.errored_streams == ["a"]
    assert tracker.unfinished_streams(["a", "b"]) == ["b"]


def test_complete_holds_once_committed() -> None:
    tracker = ProgressTracker("run1", CATALOG, None, started_at=0.0)
    tracker.source_status(StreamStatus(stream="b", status=StreamStatusValue.COMPLETE), committed=False)
    assert tracker.unfinished_streams(["b"]) == ["b"]
    tracker.all_committed()
    assert tracker.unfinished_streams(["b"]) == []


def test_progress_accumulates_over_attempts_of_the_same_run_only() -> None:
    first = ProgressTracker("run1", CATALOG, None, started_at=0.0)
    first.attempt_started()
    first.committed(Counter({"b": 10}), "b", SyncState(), state_committed=True)
    previous = first.snapshot(5.0)

    resumed = ProgressTracker("run1", CATALOG, previous, started_at=100.0)
    resumed.attempt_started()
    resumed.committed(Counter({"b": 5}), "b", SyncState(), state_committed=True)
    snap = resumed.snapshot(102.0)
    assert (snap.record_count, snap.attempts, snap.elapsed_s) == (15, 2, 7.0)
    assert resumed.invocation_snapshot(102.0).record_count == 5

    other_run = ProgressTracker("run2", CATALOG, previous, started_at=0.0)
    assert other_run.snapshot(1.0).record_count == 0


def test_complete_waits_until_the_destination_committed_the_stream() -> None:
    tracker = ProgressTracker("run1", CATALOG, None, started_at=0.0)
    tracker.source_status(StreamStatus(stream="b", status=StreamStatusValue.STARTED))
    tracker.source_status(StreamStatus(stream="b", status=StreamStatusValue.COMPLETE), committed=False)
    assert tracker.snapshot(1.0).streams["b"].status is StreamProgressStatus.STARTED
    assert tracker.snapshot(1.0).streams["b"].covered_fraction is None
    tracker.stream_committed("b")
    snap = tracker.snapshot(2.0)
    assert snap.streams["b"].status is StreamProgressStatus.COMPLETE and snap.streams["b"].covered_fraction == 1.0

"""Progress over a pipeline's lifetime, counters from connectors, rates and announced ranges. Pure logic."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sync_engine._progress import ProgressTracker, lifetime_totals
from sync_protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    RunProgress,
    Stats,
    StreamProgress,
    StreamState,
    StreamStatus,
    StreamStatusValue,
    SyncState,
    TimeRange,
)

CATALOG = ConfiguredCatalog(
    streams=[ConfiguredStream(name="a", json_schema={}), ConfiguredStream(name="b", json_schema={})]
)


def test_lifetime_totals_add_runs_up() -> None:
    earlier = RunProgress(
        record_count=900, state_count=9, request_count=9, streams={"a": StreamProgress(record_count=900)}
    )
    run = RunProgress(run_id="r2", record_count=100, state_count=1, request_count=2, elapsed_s=2.0,
                      streams={"a": StreamProgress(record_count=100, inserted_count=40, updated_count=60)})  # fmt: skip
    total = lifetime_totals(earlier, run)
    assert (total.record_count, total.state_count, total.request_count) == (1000, 10, 11)
    assert total.streams["a"].record_count == 1000 and total.streams["a"].inserted_count == 40
    assert total.run_id is None and lifetime_totals(None, run).record_count == 100


def test_counters_from_connectors_are_summed_per_stream_and_run() -> None:
    tracker = ProgressTracker("r", CATALOG, None, started_at=0.0)
    tracker.stats(Stats(stream="a", request_count=3))
    tracker.stats(Stats(request_count=2))
    tracker.stats(Stats(stream="b", inserted_count=5, updated_count=1))
    tracker.stats(Stats(stream="b", inserted_count=2))
    tracker.stats(Stats(stream="not-configured", request_count=100, inserted_count=100))
    snap = tracker.snapshot(1.0)
    assert snap.request_count == 105, "requests count for the run even when the stream is unknown"
    assert snap.streams["a"].request_count == 3
    assert (snap.streams["b"].inserted_count, snap.streams["b"].updated_count, snap.streams["b"].deleted_count) == (
        7,
        1,
        None,
    )


def test_an_announced_range_makes_coverage_real_from_the_first_page() -> None:
    tracker = ProgressTracker("r", CATALOG, None, started_at=0.0)
    announced = TimeRange(gte=datetime(2024, 1, 1, tzinfo=UTC), lt=datetime(2024, 1, 11, tzinfo=UTC))
    tracker.source_status(StreamStatus(stream="a", status=StreamStatusValue.STARTED, time_range=announced))
    half = TimeRange(gte=datetime(2024, 1, 1, tzinfo=UTC), lt=datetime(2024, 1, 6, tzinfo=UTC))
    state = SyncState(streams={"a": StreamState(completed_ranges=[half])})
    tracker.committed(Counter({"a": 10}), "a", state, state_committed=True)
    snap = tracker.snapshot(2.0)
    assert snap.streams["a"].covered_fraction == 0.5
    assert snap.states_per_s == 0.5 and snap.records_per_s == 5.0

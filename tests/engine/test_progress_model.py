"""What a caller reads to learn what happened: lifetime totals, request counts, the catalog first, system errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_engine import Engine
from sync_engine.blocking import sync
from sync_protocol import (
    ConfiguredCatalogMessage,
    EndMessage,
    FailureType,
    RecordMessage,
    RunStatus,
    StartMessage,
)

from .harness import pipeline, run_sync

STREAMS = {"a": 300, "b": 150}


def test_two_full_runs_show_totals_growing_beside_the_runs_own_figures(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS, "page_size": 50})
    first, _ = run_sync(p)
    second, messages = run_sync(p)
    assert first.status is second.status is RunStatus.SUCCEEDED
    assert first.pipeline_progress.record_count == 450
    assert second.progress.record_count == 0 and second.request_progress.record_count == 0, "nothing new to read"
    assert second.pipeline_progress.record_count == 450, "the lifetime total keeps the first run's records"
    assert second.pipeline_progress.state_count == first.pipeline_progress.state_count
    assert second.pipeline_progress.elapsed_s > first.pipeline_progress.elapsed_s

    again = pipeline(tmp_path / "again", {"streams": STREAMS, "page_size": 50})
    run_sync(again)
    again.source.config = {"streams": {"a": 600, "b": 150}, "page_size": 50}
    again.adopt_checkpoint = True
    grown, _ = run_sync(again)
    assert grown.request_progress.record_count == 300
    assert grown.pipeline_progress.record_count == 750
    assert grown.pipeline_progress.streams["a"].record_count == 600
    [end] = [m for m in messages if isinstance(m, EndMessage)]
    assert end.end.pipeline_progress is not None and end.end.pipeline_progress.record_count == 450


@pytest.mark.timeout(300)  # two engine runs; a busy machine starts connectors slowly
def test_two_consecutive_full_runs_add_up(tmp_path: Path) -> None:
    overwrite = [{"name": name, "destination_sync_mode": "overwrite"} for name in STREAMS]
    p = pipeline(tmp_path, {"streams": STREAMS, "page_size": 50}, streams=overwrite)
    first, _ = run_sync(p)
    second, _ = run_sync(p)
    assert first.status is second.status is RunStatus.SUCCEEDED
    assert first.progress.record_count == second.progress.record_count == 450, "an overwrite reads it all again"
    assert (first.pipeline_progress.record_count, second.pipeline_progress.record_count) == (450, 900)
    assert (first.pipeline_progress.request_count, second.pipeline_progress.request_count) == (9, 18)
    assert second.pipeline_progress.state_count == 2 * first.pipeline_progress.state_count
    assert second.pipeline_progress.streams["a"].record_count == 600
    assert second.pipeline_progress.attempts == 2


@pytest.mark.timeout(300)
def test_a_full_refresh_reads_again_and_keeps_the_lifetime_totals(tmp_path: Path) -> None:
    incremental = pipeline(tmp_path, {"streams": STREAMS, "page_size": 50})
    run_sync(incremental)
    refreshed = sync(Engine(incremental), full_refresh=True)
    assert refreshed.progress.record_count == 450, "read from the start"
    assert refreshed.pipeline_progress.record_count == 900, "the lifetime totals survive a full refresh"


def test_request_counts_reported_by_the_source_are_summed(tmp_path: Path) -> None:
    result, _ = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 50}))
    assert result.progress.request_count == 9, "one per page: 6 of a, 3 of b"
    assert result.progress.streams["a"].request_count == 6
    assert result.pipeline_progress.request_count == 9


def test_the_configured_catalog_comes_before_any_record(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS}, streams=[{"name": "b", "fields": ["name"]}])
    _, messages = run_sync(p)
    assert isinstance(messages[0], StartMessage)
    catalog = messages[1]
    assert isinstance(catalog, ConfiguredCatalogMessage)
    [stream] = catalog.configured_catalog.streams
    assert stream.name == "b" and set(stream.json_schema["properties"]) == {"id", "name"}
    assert stream.time_range is not None and stream.time_range.lt is not None, "the range the run fixed"
    assert not any(isinstance(m, RecordMessage) for m in messages[:2])


def test_exhausted_retries_are_a_system_error_and_a_refused_key_is_the_users(tmp_path: Path) -> None:
    flaky = {"streams": STREAMS, "failures": [{"kind": "transient_error", "after_records": 10}]}
    exhausted, _ = run_sync(pipeline(tmp_path / "flaky", flaky, max_attempts=2))
    assert exhausted.status is RunStatus.SYSTEM_ERROR
    assert exhausted.failure_type is FailureType.TRANSIENT_ERROR

    refused = {"streams": STREAMS, "failures": [{"kind": "auth_error", "after_records": 10}]}
    bad_key, _ = run_sync(pipeline(tmp_path / "refused", refused))
    assert bad_key.status is RunStatus.FAILED
    assert bad_key.failure_type is FailureType.AUTH_ERROR

    rejected = {"streams": STREAMS, "failures": [{"kind": "global_error", "after_records": 10}]}
    bad_config, _ = run_sync(pipeline(tmp_path / "rejected", rejected))
    assert (bad_config.status, bad_config.failure_type) == (RunStatus.FAILED, FailureType.CONFIG_ERROR)

    crash = {"streams": STREAMS, "failures": [{"kind": "crash", "after_records": 10}]}
    crashed, _ = run_sync(pipeline(tmp_path / "crash", crash))
    assert crashed.status is RunStatus.SYSTEM_ERROR, "a connector that dies without a word is infrastructure"

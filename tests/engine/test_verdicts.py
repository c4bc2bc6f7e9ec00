"""A verdict of `succeeded` is earned: streams the source never finished, bad lines, broken stores and retries."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sync_engine import Engine, FileStateStore, MemoryStateStore, PipelineConfigError
from sync_engine.blocking import sync
from sync_protocol import (
    ErrorLevel,
    Message,
    RunStatus,
    StreamProgressStatus,
    StreamStatusMessage,
    StreamStatusValue,
    SyncState,
)

from .harness import expected_ids, ids_by_stream, pipeline, run_sync

STREAMS = {"a": 300, "b": 300}


def load(tmp_path: Path) -> SyncState:
    saved = FileStateStore(tmp_path / "state").load("default")
    assert saved is not None
    return saved


@pytest.mark.parametrize("kind", ["exit_clean", "never_start"])
def test_a_source_that_exits_0_with_a_stream_unfinished_has_not_succeeded(tmp_path: Path, kind: str) -> None:
    once = tmp_path / "once"
    source: dict[str, Any] = {"streams": STREAMS, "page_size": 50}
    if kind == "exit_clean":  # output cut short, e.g. process.exit() with stdout still queued
        source["failures"] = [{"kind": kind, "stream": "b", "after_records": 420, "once_file": str(once)}]
        # pages apart, as an API's are: the SDK writes a source's lines within 20 ms, so a's completion has left
        # before the exit, which cuts off b's last records
        source["page_delay_s"] = 0.1
    else:
        source["never_start"] = ["b"]
    result, _ = run_sync(pipeline(tmp_path, source))

    assert result.status is RunStatus.PARTIAL and not result.has_more
    [error] = [e for e in result.errors if "without finishing" in e.message]
    assert error.level is ErrorLevel.STREAM and "stream(s) b" in error.message
    assert result.progress.streams["a"].status is StreamProgressStatus.COMPLETE
    assert result.progress.streams["b"].status is not StreamProgressStatus.COMPLETE
    assert result.progress.streams["b"].covered_fraction != 1.0
    saved = load(tmp_path)
    assert not saved.finished, "the checkpoint stays open so the next run resumes the stream"

    source.pop("never_start", None)
    again, _ = run_sync(pipeline(tmp_path, source, adopt_checkpoint=True))
    assert again.status is RunStatus.SUCCEEDED, again.errors
    assert again.run_id == result.run_id, "the same run resumes, with the same fixed ranges"
    assert {k: set(v) for k, v in ids_by_stream(tmp_path).items()} == expected_ids(STREAMS)


def test_a_source_that_reports_a_transient_error_and_exits_0_is_retried(tmp_path: Path) -> None:
    once = tmp_path / "once"
    failure = {"kind": "transient_then_exit_clean", "after_records": 200, "once_file": str(once)}
    result, _ = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 50, "failures": [failure]}))
    assert once.exists()
    assert result.status is RunStatus.SUCCEEDED, result.errors
    assert result.progress.attempts == 2
    assert {k: set(v) for k, v in ids_by_stream(tmp_path).items()} == expected_ids(STREAMS)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("truncate", "source wrote an invalid message"),
        ("bad_utf8", "source wrote invalid UTF-8"),
        ("naive_emitted_at", "UTC offset"),
    ],
)
def test_a_bad_source_line_is_the_sources_error_and_never_reaches_the_destination(
    tmp_path: Path, kind: str, expected: str
) -> None:
    failure = {"kind": kind, "stream": "a", "after_records": 120}
    result, _ = run_sync(pipeline(tmp_path, {"streams": {"a": 300}, "page_size": 50, "failures": [failure]}))
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any(expected in e.message for e in result.errors), result.errors
    assert "x" not in ids_by_stream(tmp_path).get("a", []), "the bad record was not forwarded"
    assert not load(tmp_path).finished


def test_the_upper_bound_of_a_range_is_fixed_once_per_run(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": {"a": 200, "b": 200, "c": 200}, "page_size": 100}, state_limit=1)
    first, _ = run_sync(p)
    assert first.has_more
    bounds = {name: r.lt for name, r in load(tmp_path).run_ranges.items()}
    assert set(bounds) == {"a", "b", "c"} and all(bounds.values())
    for _ in range(12):  # state limit 1 with 3 streams: each continuation must still converge
        result, _ = run_sync(p)
        assert result.run_id == first.run_id
        assert {name: r.lt for name, r in result.state.run_ranges.items()} == bounds
        if not result.has_more:
            break
    assert result.status is RunStatus.SUCCEEDED and not result.has_more
    assert load(tmp_path).finished


def test_a_checkpoint_that_cannot_be_saved_stops_the_run_before_data_moves(tmp_path: Path) -> None:
    class BrokenStore(MemoryStateStore):
        def save(self, key: str, state: SyncState) -> None:
            raise OSError("disk full")

    result = sync(Engine(pipeline(tmp_path, {"streams": STREAMS}), store=BrokenStore()))
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any("cannot save the checkpoint" in e.message for e in result.errors)
    assert ids_by_stream(tmp_path) == {}, "no data moved past a checkpoint that could not be written"


def test_a_store_failing_mid_run_stops_the_data_within_a_page(tmp_path: Path) -> None:
    class FailingLater(MemoryStateStore):
        saves = 0

        def save(self, key: str, state: SyncState) -> None:
            FailingLater.saves += 1
            if FailingLater.saves > 2:
                raise OSError("disk full")
            super().save(key, state)

    p = pipeline(tmp_path, {"streams": {"a": 5000}, "page_size": 50, "page_delay_s": 0.02}, checkpoint_interval_s=0)
    result = sync(Engine(p, store=FailingLater()))
    assert result.status is RunStatus.SYSTEM_ERROR
    assert len(ids_by_stream(tmp_path)["a"]) < 2500, "the source was stopped when the store failed"


def test_a_destination_stream_error_isolates_that_stream(tmp_path: Path) -> None:
    fault = {"kind": "stream_error", "stream": "a", "after_records": 150}
    result, _ = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 50}, {"fault": fault}))
    assert result.status is RunStatus.PARTIAL, result.errors
    assert result.progress.streams["a"].status is StreamProgressStatus.ERRORED
    assert result.progress.streams["b"].status is StreamProgressStatus.COMPLETE
    assert set(ids_by_stream(tmp_path)["b"]) == expected_ids({"b": 300})["b"]
    committed_a = result.state.streams["a"].data["next"] if "a" in result.state.streams else 0
    assert committed_a <= len(set(ids_by_stream(tmp_path).get("a", []))), "no state claims rows it did not write"

    again, _ = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 50}, adopt_checkpoint=True))
    assert again.status is RunStatus.SUCCEEDED
    assert {k: set(v) for k, v in ids_by_stream(tmp_path).items()} == expected_ids(STREAMS)


def test_errored_streams_are_skipped_on_the_remaining_attempts_of_the_run(tmp_path: Path) -> None:
    once = tmp_path / "once"
    failures = [
        {"kind": "stream_error", "stream": "a", "after_records": 60},
        {"kind": "transient_error", "stream": "b", "after_records": 200, "once_file": str(once)},
    ]
    result, messages = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 50, "failures": failures}))
    assert result.status is RunStatus.PARTIAL and result.progress.attempts == 2
    started = Counter(
        m.stream_status.stream
        for m in messages
        if isinstance(m, StreamStatusMessage) and m.stream_status.status is StreamStatusValue.STARTED
    )
    assert started == {"a": 1, "b": 2}, "the errored stream was not read again by the retry"


def test_the_retry_budget_survives_a_crash_between_attempts(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS, "page_size": 50}, state_limit=1, max_attempts=2)
    run_sync(p)  # leaves an open checkpoint
    state_file = FileStateStore(tmp_path / "state").path_for("default")
    raw = orjson.loads(state_file.read_bytes())
    raw["failed_attempts"] = 1  # what an engine killed during its backoff leaves behind
    state_file.write_bytes(orjson.dumps(raw))

    once = tmp_path / "once"
    failure = {"kind": "transient_error", "after_records": 10, "once_file": str(once)}
    result, _ = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 50, "failures": [failure]},
                                  max_attempts=2, adopt_checkpoint=True))  # fmt: skip
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any("gave up after 2 attempt(s)" in e.message for e in result.errors), result.errors
    assert load(tmp_path).failed_attempts == 0, "the next invocation gets a fresh budget"


def test_duplicate_stream_selections_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(PipelineConfigError, match="selected more than once: a"):
        pipeline(tmp_path, {"streams": STREAMS}, streams=[{"name": "a"}, {"name": "b"}, {"name": "a"}])


def test_records_of_an_overwrite_stream_after_its_complete_fail_the_run(tmp_path: Path) -> None:
    source = tmp_path / "late.sh"
    record = '{"type":"record","record":{"stream":"s","data":{"id":"%s"},"emitted_at":"2024-01-01T00:00:00Z"}}'
    source.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        'spec) echo \'{"type":"spec","spec":{"config":{"type":"object"}}}\';;\n'
        'discover) echo \'{"type":"catalog","catalog":{"streams":[{"name":"s","json_schema":{},'
        '"primary_key":[["id"]]}]}}\';;\n'
        f"read) echo '{record % 1}'\n"
        '  echo \'{"type":"stream_status","stream_status":{"stream":"s","status":"complete"}}\'\n'
        f"  echo '{record % 2}';;\n"
        "esac\n"
    )
    source.chmod(0o755)
    p = pipeline(tmp_path, {}, streams=[{"name": "s", "destination_sync_mode": "overwrite"}])
    p.source.command, p.source.config = [str(source)], {}
    messages: list[Message] = []
    result = sync(Engine(p), messages.append)
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any("after reporting it complete" in e.message for e in result.errors), result.errors
    assert ids_by_stream(tmp_path) == {"s": ["1"]}

"""Error levels, retries, broken echoes, limits and hung connectors, through real subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sync_engine import FileStateStore
from sync_protocol import ErrorLevel, RunStatus, StreamProgressStatus

from .harness import duplicates, expected_ids, ids_by_stream, pipeline, run_sync

STREAMS = {"a": 300, "b": 300}


def assert_complete(tmp_path: Path, streams: dict[str, int]) -> None:
    got = ids_by_stream(tmp_path)
    assert {k: set(v) for k, v in got.items()} == expected_ids(streams)


def test_stream_error_leaves_the_others_complete_and_the_run_partial(tmp_path: Path) -> None:
    source = {"streams": STREAMS, "failures": [{"kind": "stream_error", "stream": "a", "after_records": 150}]}
    result, _ = run_sync(pipeline(tmp_path, source))
    assert result.status is RunStatus.PARTIAL
    assert result.progress.streams["a"].status is StreamProgressStatus.ERRORED
    assert result.progress.streams["b"].status is StreamProgressStatus.COMPLETE
    assert set(ids_by_stream(tmp_path)["b"]) == expected_ids({"b": 300})["b"]
    assert result.state.streams["a"].data == {"next": 100}, "the errored stream keeps its committed progress"

    # The next run resumes the gap of the errored stream only.
    clean = pipeline(tmp_path, {"streams": STREAMS}, adopt_checkpoint=True)  # the same pipeline, fault removed
    result, _ = run_sync(clean)
    assert result.status is RunStatus.SUCCEEDED
    assert_complete(tmp_path, STREAMS)
    assert result.request_progress.streams["a"].record_count == 200


def test_global_error_fails_the_run_and_keeps_what_was_committed(tmp_path: Path) -> None:
    source = {"streams": STREAMS, "failures": [{"kind": "global_error", "after_records": 250}]}
    result, _ = run_sync(pipeline(tmp_path, source))
    assert result.status is RunStatus.FAILED
    assert any(e.level is ErrorLevel.GLOBAL and "gave up on purpose" in e.message for e in result.errors)
    saved = FileStateStore(tmp_path / "state").load("default")
    assert saved is not None and not saved.finished
    assert saved.streams["a"].data == {"next": 200}
    assert len(ids_by_stream(tmp_path)["a"]) >= 200


def test_transient_crash_is_retried_from_the_checkpoint(tmp_path: Path) -> None:
    once = tmp_path / "failed-once"
    source = {
        "streams": STREAMS,
        "page_size": 50,
        "failures": [{"kind": "transient_error", "after_records": 420, "once_file": str(once)}],
    }
    result, _ = run_sync(pipeline(tmp_path, source))
    assert result.status is RunStatus.SUCCEEDED, result.errors
    assert once.exists()
    assert result.progress.attempts == 2
    assert_complete(tmp_path, STREAMS)
    assert duplicates(ids_by_stream(tmp_path)["b"]) <= 50, "re-delivery bounded by one page"


def test_destination_transient_failure_is_retried_with_a_fresh_fence(tmp_path: Path) -> None:
    once = str(tmp_path / "failed-once")
    p = pipeline(
        tmp_path, {"streams": STREAMS}, {"fault": {"kind": "transient_error", "after_records": 350, "once_file": once}}
    )
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED, result.errors
    assert result.progress.attempts == 2
    assert_complete(tmp_path, STREAMS)


def test_retries_are_bounded(tmp_path: Path) -> None:
    source = {"streams": STREAMS, "failures": [{"kind": "transient_error", "after_records": 10}]}
    result, _ = run_sync(pipeline(tmp_path, source, max_attempts=2))
    assert result.status is RunStatus.SYSTEM_ERROR
    assert result.progress.attempts == 2
    assert "gave up after 2 attempt(s)" in result.errors[-1].message


def test_garbage_output_fails_with_the_line_named(tmp_path: Path) -> None:
    source = {"streams": STREAMS, "failures": [{"kind": "garbage", "after_records": 0}]}
    result, _ = run_sync(pipeline(tmp_path, source))
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any(
        "source wrote an invalid message at line" in e.message and "not json" in e.message for e in result.errors
    )


@pytest.mark.parametrize("fault", ["skip_echo", "reorder_echo"])
def test_broken_echoes_are_detected_and_state_never_advances_past_them(tmp_path: Path, fault: str) -> None:
    p = pipeline(tmp_path, {"streams": {"a": 500}}, {"fault": {"kind": fault, "after_records": 200}})
    result, _ = run_sync(p)
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any(
        "out of order" in e.message or "never sent" in e.message or "without confirming" in e.message
        for e in result.errors
    ), result.errors
    saved = FileStateStore(tmp_path / "state").load("default")
    assert saved is not None
    assert saved.streams["a"].data["next"] <= 200


@pytest.mark.parametrize("victim", ["source", "destination"])
def test_connector_killed_then_second_run_completes_without_loss(tmp_path: Path, victim: str) -> None:
    crash = {"kind": "crash", "after_records": 350, "once_file": str(tmp_path / "crashed")}
    if victim == "source":
        p = pipeline(tmp_path, {"streams": STREAMS, "failures": [crash]})
    else:
        p = pipeline(tmp_path, {"streams": STREAMS}, {"fault": crash})
    result, _ = run_sync(p)
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any(f"{victim} was killed by signal 9" in e.message for e in result.errors)
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    assert_complete(tmp_path, STREAMS)
    assert sum(duplicates(ids) for ids in ids_by_stream(tmp_path).values()) <= 100


def test_time_limit_returns_has_more_and_the_next_run_finishes(tmp_path: Path) -> None:
    # 5 s of paging; the limit leaves room for the connectors' start-up on a busy machine
    p = pipeline(tmp_path, {"streams": {"a": 1000}, "page_size": 20, "page_delay_s": 0.1}, time_limit_s=2.5)
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED and result.has_more
    first = len(ids_by_stream(tmp_path)["a"])
    assert 0 < first < 1000
    assert result.state.streams["a"].data["next"] <= first
    p.time_limit_s = None
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED and not result.has_more
    assert_complete(tmp_path, {"a": 1000})
    assert result.progress.attempts == 2, "progress is cumulative across the attempts of one run_id"


def test_state_limit_stops_after_n_checkpoints(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": {"a": 500}, "page_size": 50}, state_limit=3)
    result, _ = run_sync(p)
    assert result.has_more
    assert result.state.streams["a"].data == {"next": 150}
    assert len(ids_by_stream(tmp_path)["a"]) == 150


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_hung_source_is_killed_at_the_time_limit_without_zombies(tmp_path: Path) -> None:
    pid_file = tmp_path / "source.pid"
    source = {"streams": {"a": 100}, "pid_file": str(pid_file), "failures": [{"kind": "hang", "after_records": 30}]}
    result, _ = run_sync(pipeline(tmp_path, source, time_limit_s=1.5, grace_s=0.5))
    assert result.has_more
    assert _gone(int(pid_file.read_text())), "the source must be dead and reaped (a zombie would still answer)"


def test_hung_destination_is_killed_after_the_drain_timeout(tmp_path: Path) -> None:
    p = pipeline(
        tmp_path,
        {"streams": {"a": 3000}},
        {"fault": {"kind": "hang", "after_records": 10}},
        time_limit_s=3.0,  # room for the connectors to start on a busy machine
        drain_timeout_s=1.0,
        grace_s=0.5,
    )
    result, _ = run_sync(p)
    assert result.status is RunStatus.SYSTEM_ERROR
    assert any("destination" in e.message and "killed" in e.message for e in result.errors), result.errors

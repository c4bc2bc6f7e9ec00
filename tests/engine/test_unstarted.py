"""No call raises without a verdict: when `spec`, `discover` or `setup` fails, a sync still emits `start` and `end`
(status and failure type), and the API raises one `EngineError` that keeps level, failure type and culprit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sync_engine import Engine, EngineError, FileStateStore, Pipeline, PipelineConfigError
from sync_engine.blocking import sync
from sync_protocol import (
    End,
    EndMessage,
    ErrorLevel,
    ErrorMessage,
    FailureType,
    Message,
    RunStatus,
    Start,
    StartMessage,
    encode_message,
)

from tests.fixtures.connectors import CONNECTORS_DIR

from .harness import ids_by_stream, pipeline, run_sync

STREAMS = {"a": 120, "b": 80}
SECRET = "sk_test_never_print_me_42"


def misbehaving(script: str) -> list[str]:
    """The test connector `script`, run through the wrapper that fails one command as `MISBEHAVE` says."""
    return [sys.executable, str(CONNECTORS_DIR / "misbehaving.py"), script]


def failing_sync(p: Pipeline) -> tuple[EngineError, list[Message]]:
    messages: list[Message] = []
    with pytest.raises(EngineError) as caught:
        sync(Engine(p), messages.append)
    return caught.value, messages


def verdict(messages: list[Message]) -> tuple[Start, list[ErrorMessage], End]:
    """The `start`, the errors after it and the `end` of a run; `end` is the last message."""
    [start_at] = [i for i, m in enumerate(messages) if isinstance(m, StartMessage)]
    start, last = messages[start_at], messages[-1]
    assert isinstance(start, StartMessage) and isinstance(last, EndMessage)
    return start.start, [m for m in messages[start_at:] if isinstance(m, ErrorMessage)], last.end


@pytest.mark.parametrize("failure", [FailureType.AUTH_ERROR, FailureType.CONFIG_ERROR])
def test_a_key_refused_at_discover_ends_failed_with_the_failure_type(tmp_path: Path, failure: FailureType) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS, "api_key": SECRET, "discover_fails": failure.value})
    error, messages = failing_sync(p)

    assert (error.level, error.failure_type) == (ErrorLevel.GLOBAL, failure)
    assert (error.connector, error.command) == ("source", "discover")
    assert "was refused" in str(error) and SECRET not in str(error)
    start, errors, end = verdict(messages)
    assert end.status is RunStatus.FAILED and end.failure_type is failure and not end.has_more
    assert [e.error.failure_type for e in errors] == [failure]
    assert error.result is not None and error.result.status is RunStatus.FAILED
    assert error.result.run_id == start.run_id and error.result.failure_type is failure
    assert SECRET.encode() not in b"".join(encode_message(m) for m in messages)
    assert ids_by_stream(tmp_path) == {}


def test_a_destination_whose_setup_crashes_is_a_system_error(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS})
    p.destination.command, p.destination.env = misbehaving("jsonl_destination.py"), {"MISBEHAVE": "setup:killed"}
    error, messages = failing_sync(p)

    assert (error.level, error.failure_type) == (ErrorLevel.GLOBAL, FailureType.SYSTEM_ERROR)
    assert (error.connector, error.command) == ("destination", "setup")
    assert "killed by signal" in str(error) or "exited with code" in str(error)
    _, _, end = verdict(messages)
    assert end.status is RunStatus.SYSTEM_ERROR and end.failure_type is FailureType.SYSTEM_ERROR


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("exit", "exited with code 3; stderr: misbehaving on purpose"),
        ("garbage", "wrote an invalid message"),
        ("silent", "expected one SpecMessage, got 0"),
        ("hang", "did not finish within 2 s"),
    ],
)
def test_a_source_whose_spec_fails_is_a_system_error_naming_it(tmp_path: Path, how: str, says: str) -> None:
    p = pipeline(tmp_path, {"streams": STREAMS}, command_timeout_s=2)
    p.source.command, p.source.env = misbehaving("synthetic_source.py"), {"MISBEHAVE": f"spec:{how}"}
    error, messages = failing_sync(p)

    assert (error.connector, error.command, error.failure_type) == ("source", "spec", FailureType.SYSTEM_ERROR)
    assert says in str(error)
    start, _, end = verdict(messages)
    assert start.starting_state is None, "the checkpoint cannot be named before the configs are validated"
    assert end.status is RunStatus.SYSTEM_ERROR and end.ending_state is None


def test_a_resumed_run_that_cannot_discover_keeps_its_run_and_checkpoint(tmp_path: Path) -> None:
    first, _ = run_sync(pipeline(tmp_path, {"streams": STREAMS, "page_size": 20}, state_limit=1))
    assert first.has_more
    store = FileStateStore(tmp_path / "state")
    before = store.load("default")

    p = pipeline(tmp_path, {"streams": STREAMS, "discover_fails": "auth_error"}, adopt_checkpoint=True)
    error, messages = failing_sync(p)
    start, _, end = verdict(messages)
    assert start.run_id == first.run_id and start.starting_state == before
    assert end.ending_state == before and store.load("default") == before, "nothing committed, nothing changed"
    assert end.run_progress is not None and end.run_progress.record_count == first.progress.record_count
    assert end.pipeline_progress is not None and end.pipeline_progress.record_count == first.progress.record_count
    assert error.result is not None and error.result.state == before


def test_an_invalid_selection_raises_its_own_type_after_start_and_end(tmp_path: Path) -> None:
    messages: list[Message] = []
    p = pipeline(tmp_path, {"streams": STREAMS}, streams=[{"name": "nope"}])
    with pytest.raises(PipelineConfigError, match="unknown stream") as caught:
        sync(Engine(p), messages.append)
    _, _, end = verdict(messages)
    assert end.status is RunStatus.FAILED and end.failure_type is FailureType.CONFIG_ERROR
    assert caught.value.result is not None and caught.value.result.status is RunStatus.FAILED


def test_a_source_that_cannot_be_started_for_read_still_gets_an_end(tmp_path: Path) -> None:
    source = tmp_path / "vanishing.sh"
    source.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        'spec) echo \'{"type":"spec","spec":{"config":{"type":"object"}}}\';;\n'
        'discover) chmod -x "$0"; echo \'{"type":"catalog","catalog":{"streams":[{"name":"s","json_schema":{},'
        '"primary_key":[["id"]]}]}}\';;\n'
        "esac\n"
    )
    source.chmod(0o755)
    p = pipeline(tmp_path, {})
    p.source.command, p.source.config = [str(source)], {}
    messages: list[Message] = []
    result = sync(Engine(p), messages.append)
    _, errors, end = verdict(messages)
    assert end.status is RunStatus.FAILED and end.failure_type is FailureType.CONFIG_ERROR
    assert result.status is RunStatus.FAILED and any("cannot start source" in e.error.message for e in errors)

"""Small pieces of the operator surface: connectors beside the interpreter, unsplittable commands, stream names
that look like markup, and the run summary line."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from sync_engine._errors import ConnectorCommandError
from sync_engine._process import locate, split_command
from sync_engine._result import SyncResult
from sync_engine._summary import summary_line
from sync_engine._view import ProgressView
from sync_protocol import ProgressMessage, RunProgress, RunStatus, StreamProgress, SyncState


def test_connectors_beside_the_interpreter_come_before_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    beside = Path(sys.executable).parent / "sync-engine"
    assert beside.exists()
    decoy = tmp_path / "sync-engine"
    decoy.write_text("#!/bin/sh\n")
    decoy.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert locate("sync-engine") == str(beside)
    monkeypatch.setenv("PATH", "")
    assert split_command("sync-engine --x") == ["sync-engine", "--x"], "the pipeline's argv is kept as written"
    assert locate("no-such-connector-here") is None
    assert os.environ["PATH"] == ""


def test_an_unbalanced_quote_is_a_command_error() -> None:
    with pytest.raises(ConnectorCommandError, match="cannot be split"):
        split_command('python "my source.py')


def test_stream_names_are_never_markup() -> None:
    stream = io.StringIO()
    progress = RunProgress(elapsed_s=1.0, record_count=3, streams={"[red]x": StreamProgress(record_count=3)})
    with ProgressView(stream) as view:
        view.show(ProgressMessage(progress=progress))
    assert "[red]x" in stream.getvalue()


def test_the_summary_line_says_what_happened() -> None:
    progress = RunProgress(
        elapsed_s=2.25,
        record_count=1204,
        streams={"a": StreamProgress(record_count=1200), "b": StreamProgress(record_count=4, status="errored")},
    )
    result = SyncResult(
        run_id="r",
        status=RunStatus.PARTIAL,
        has_more=True,
        state=SyncState(),
        progress=progress,
        request_progress=progress,
        pipeline_progress=progress,
    )
    assert summary_line(result) == (
        "sync partial: 1,204 records in 2 streams, 2.2 s; errored: b; more to read: run again to continue"
    )


def test_the_blocking_api_inside_a_running_loop_says_to_await() -> None:
    import anyio
    from sync_engine import ConnectorSettings, Engine, MemoryStateStore, Pipeline
    from sync_engine.blocking import spec

    engine = Engine(
        Pipeline(source=ConnectorSettings(command="true"), destination=ConnectorSettings(command="true")),
        store=MemoryStateStore(),
    )

    async def inside_a_notebook() -> None:
        with pytest.raises(RuntimeError, match=r"use `await engine.spec\(...\)`"):
            spec(engine)

    anyio.run(inside_a_notebook)

"""The way to a run is short: a connector's spec is asked once and then read from the cache (until the connector
changes), and the source's discover runs beside the destination's spec, its messages still after `start`."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import orjson
import pytest
from sync_engine import Engine, EngineError, PipelineConfigError
from sync_engine._cli import run
from sync_engine.blocking import sync
from sync_protocol import ErrorMessage, LogMessage, Message, RunStatus, StartMessage

from tests.fixtures.connectors import CONNECTORS_DIR, python_connector

from .harness import pipeline, run_sync

SECRET = "sk_test_start_up_secret_77"


def wrapper(tmp_path: Path, script: str) -> Path:
    """An executable of its own that runs `script` through the test wrapper (which logs each command)."""
    path = tmp_path / f"{script.removesuffix('.py')}.sh"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{CONNECTORS_DIR / "misbehaving.py"}" {script} "$@"\n')
    path.chmod(0o755)
    return path


def commands(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def cli_sync(tmp_path: Path, source: Path, *extra: str, env: dict[str, str] | None = None) -> int:
    argv = [
        "sync",
        "--source", str(source),
        "--source-config", orjson.dumps({"streams": {"a": 3}, "api_key": SECRET}).decode(),
        "--destination", " ".join(python_connector("jsonl_destination.py")),
        "--destination-config", orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode(),
        "--state-file", str(tmp_path / "states"),
        "--json", *extra,
    ]  # fmt: skip
    err = io.StringIO()
    code = run(argv, stdout=io.BytesIO(), stderr=err, stdin=io.StringIO(), env=env or dict(os.environ))
    assert code == 0, err.getvalue()
    return code


def test_a_second_sync_reads_the_spec_from_the_cache_until_the_connector_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_spec_cache: Path
) -> None:
    log = tmp_path / "commands.log"
    monkeypatch.setenv("COMMAND_LOG", str(log))
    source = wrapper(tmp_path, "synthetic_source.py")

    cli_sync(tmp_path, source)
    assert commands(log) == ["synthetic_source.py spec", "synthetic_source.py discover", "synthetic_source.py read"]
    log.unlink()
    cli_sync(tmp_path, source)
    assert commands(log) == ["synthetic_source.py discover", "synthetic_source.py read"], "spec came from the cache"

    log.unlink()
    os.utime(source, ns=(0, source.stat().st_mtime_ns + 1_000_000))  # reinstalled or edited
    cli_sync(tmp_path, source)
    assert commands(log)[0] == "synthetic_source.py spec"

    entries = list((private_spec_cache / "sync-engine" / "specs").iterdir())
    assert entries and not any(SECRET.encode() in entry.read_bytes() for entry in entries)


def test_a_corrupt_entry_is_asked_again_and_the_cache_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_spec_cache: Path
) -> None:
    log = tmp_path / "commands.log"
    monkeypatch.setenv("COMMAND_LOG", str(log))
    source = wrapper(tmp_path, "synthetic_source.py")
    cli_sync(tmp_path, source)
    for entry in (private_spec_cache / "sync-engine" / "specs").iterdir():
        entry.write_bytes(b'{"format": 1, "key": "tru')  # cut short
    log.unlink()
    cli_sync(tmp_path, source)
    assert "synthetic_source.py spec" in commands(log)

    for turned_off, env in (("--no-spec-cache",), None), ((), {**os.environ, "SYNC_ENGINE_NO_SPEC_CACHE": "1"}):
        log.unlink()
        cli_sync(tmp_path, source, *turned_off, env=env)
        assert "synthetic_source.py spec" in commands(log)


def test_discover_runs_beside_the_destination_spec_and_reports_after_start(tmp_path: Path) -> None:
    log = tmp_path / "commands.log"
    p = pipeline(tmp_path, {"streams": {"a": 5}, "api_key": SECRET, "discover_log": f"found 1 stream ({SECRET})"})
    p.source.command = [sys.executable, str(CONNECTORS_DIR / "misbehaving.py"), "synthetic_source.py"]
    p.source.env = {"COMMAND_LOG": str(log)}
    p.destination.command = [sys.executable, str(CONNECTORS_DIR / "misbehaving.py"), "jsonl_destination.py"]
    # the destination's spec waits (up to 60 s, then fails) until the source's discover has started
    p.destination.env = {"COMMAND_LOG": str(log), "MISBEHAVE": "spec:wait", "WAIT_FOR": "synthetic_source.py discover"}

    result, messages = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    # the two specs start side by side (either may log first); discover follows the source's, and the
    # destination's spec could only finish once discover had started
    first = commands(log)[:3]
    assert sorted(first) == ["jsonl_destination.py spec", "synthetic_source.py discover", "synthetic_source.py spec"]
    assert first.index("synthetic_source.py spec") < first.index("synthetic_source.py discover")
    kinds = [m.type for m in messages]
    logs = [m for m in messages if isinstance(m, LogMessage) and "found 1 stream" in m.log.message]
    assert len(logs) == 1 and kinds.index("start") < messages.index(logs[0]) < kinds.index("configured_catalog")
    assert SECRET not in logs[0].log.message


def test_an_invalid_destination_config_is_reported_and_the_early_discover_dropped(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": {"a": 5}, "discover_log": "discovered early", "discover_fails": "auth_error"})
    p.destination.config = {"path": 42}
    messages: list[Message] = []
    with pytest.raises(PipelineConfigError, match="destination config") as caught:
        sync(Engine(p), messages.append)
    assert caught.value.connector == "destination" and caught.value.result is not None
    assert caught.value.result.status is RunStatus.FAILED
    assert [m.type for m in messages] == ["start", "error", "end"]
    assert not any(isinstance(m, LogMessage) for m in messages), "what the dropped discover said is dropped too"


def test_a_failing_destination_spec_wins_over_a_failing_early_discover(tmp_path: Path) -> None:
    p = pipeline(tmp_path, {"streams": {"a": 5}, "discover_fails": "auth_error"})
    p.destination.command = [sys.executable, str(CONNECTORS_DIR / "misbehaving.py"), "jsonl_destination.py"]
    p.destination.env = {"MISBEHAVE": "spec:exit"}
    messages: list[Message] = []
    with pytest.raises(EngineError) as caught:
        sync(Engine(p), messages.append)
    assert (caught.value.connector, caught.value.command) == ("destination", "spec")
    errors = [m for m in messages if isinstance(m, ErrorMessage)]
    assert len(errors) == 1 and "exited with code 3" in errors[0].error.message
    assert isinstance(messages[0], StartMessage) and messages[-1].type == "end"

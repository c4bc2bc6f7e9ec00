"""Through the `sync-engine` executable: whose checkpoint is whose, one run at a time, and orderly shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from sync_engine import FileStateStore

from tests.fixtures.connectors import python_connector

from .harness import expected_ids, ids_by_stream

STREAMS = {"a": 400, "b": 400}


def cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-m", "sync_engine", *args, "--no-progress"] if args[0] == "sync" else [
        sys.executable, "-m", "sync_engine", *args
    ]  # fmt: skip


def flags(tmp_path: Path, out: str, source: dict[str, Any] | None = None) -> list[str]:
    """Flag-driven pipeline: synthetic source → JSONL file `out`, no pipeline name given."""
    return [
        "--source", " ".join(python_connector("synthetic_source.py")),
        "--source-config", orjson.dumps(source or {"streams": STREAMS}).decode(),
        "--destination", " ".join(python_connector("jsonl_destination.py")),
        "--destination-config", orjson.dumps({"path": str(tmp_path / out)}).decode(),
    ]  # fmt: skip


def rows(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_a_second_destination_gets_its_own_checkpoint(tmp_path: Path) -> None:
    state = ["--state-file", str(tmp_path / "state")]
    first = subprocess.run(cli("sync", *flags(tmp_path, "one.jsonl"), *state), capture_output=True, check=False)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cli("sync", *flags(tmp_path, "two.jsonl"), *state), capture_output=True, check=False)
    assert second.returncode == 0, second.stderr
    assert rows(tmp_path / "one.jsonl") == rows(tmp_path / "two.jsonl") == 800, "the second destination got all"
    assert len(list((tmp_path / "state").glob("*.json"))) == 2


def test_one_checkpoint_file_never_serves_another_pipeline(tmp_path: Path) -> None:
    state = ["--state-file", str(tmp_path / "shared.json")]
    first = subprocess.run(cli("sync", *flags(tmp_path, "one.jsonl"), *state), capture_output=True, check=False)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(cli("sync", *flags(tmp_path, "two.jsonl"), *state), capture_output=True, check=False)
    assert second.returncode == 2
    message = second.stderr.decode()
    assert "belongs to a different pipeline" in message and "destination.config.path" in message
    assert "--name" in message and str(tmp_path) not in message.split("differ")[0], "names keys, never values"
    assert rows(tmp_path / "two.jsonl") == 0


def test_two_runs_of_one_pipeline_never_share_its_checkpoint(tmp_path: Path) -> None:
    slow = {"streams": STREAMS, "page_size": 20, "page_delay_s": 0.5}  # still running when the second starts
    args = cli("sync", *flags(tmp_path, "out.jsonl", slow), "--state-file", str(tmp_path / "state"), "--name", "p")
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first.stdout is not None
        assert b'"start"' in first.stdout.readline(), "the first run is under way"
        second = subprocess.run(args, capture_output=True, check=False, timeout=60)
        assert second.returncode == 2
        assert b"another run of pipeline 'p' is in progress" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)


def test_sigterm_commits_saves_ends_and_leaves_nothing_behind(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    pid_file = tmp_path / "source.pid"
    source = {"streams": STREAMS, "page_size": 20, "page_delay_s": 0.05, "pid_file": str(pid_file)}
    args = cli("sync", *flags(tmp_path, "out.jsonl", source), "--state-file", str(tmp_path / "state"), "--name", "p")
    engine = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(temp)}
    )
    assert engine.stdout is not None
    for line in engine.stdout:  # wait for a first committed checkpoint
        if b'"source_state"' in line:
            break
    engine.send_signal(signal.SIGTERM)
    out, err = engine.communicate(timeout=60)
    assert engine.returncode == 128 + signal.SIGTERM, err.decode()

    end = orjson.loads(out.splitlines()[-1])
    assert end["type"] == "end" and end["end"]["has_more"] is True, "an orderly end, resumable"
    saved = FileStateStore(tmp_path / "state").load("p")
    assert saved is not None and not saved.finished
    written = ids_by_stream(tmp_path)
    for stream, stream_state in saved.streams.items():
        assert stream_state.data["next"] <= len(set(written[stream])), "the checkpoint is never ahead of the data"
    assert end["end"]["ending_state"]["streams"] == orjson.loads(saved.model_dump_json())["streams"]
    assert list(temp.iterdir()) == [], "the private config files (secrets) are removed"
    pid = int(pid_file.read_text())
    time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]

    done = subprocess.run(args, capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {k: set(v) for k, v in ids_by_stream(tmp_path).items()} == expected_ids(STREAMS)


def test_a_source_whose_child_keeps_its_stdout_open_is_not_waited_for(tmp_path: Path) -> None:
    source = tmp_path / "leaky.sh"
    source.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        'spec) echo \'{"type":"spec","spec":{"config":{"type":"object"}}}\';;\n'
        'discover) echo \'{"type":"catalog","catalog":{"streams":[{"name":"s","json_schema":{}}]}}\';;\n'
        "read) sleep 60 &\n"
        '  echo \'{"type":"record","record":{"stream":"s","data":{"id":"1"},"emitted_at":"2024-01-01T00:00:00Z"}}\'\n'
        '  echo \'{"type":"stream_status","stream_status":{"stream":"s","status":"complete"}}\';;\n'
        "esac\n"
    )
    source.chmod(0o755)
    args = [
        *cli("sync", "--source", str(source), "--source-config", "{}"),
        "--destination", " ".join(python_connector("jsonl_destination.py")),
        "--destination-config", orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode(),
        "--state-file", str(tmp_path / "state"),
    ]  # fmt: skip
    pipeline_file = tmp_path / "p.json"
    pipeline_file.write_bytes(orjson.dumps({"source": {"command": str(source)}, "destination": {"command": "x"},
                                            "grace_s": 1.0}))  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([*args, "--pipeline", str(pipeline_file)], capture_output=True, check=False, timeout=50)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20, "did not wait for the child that held the source's stdout"
    assert rows(tmp_path / "out.jsonl") == 1

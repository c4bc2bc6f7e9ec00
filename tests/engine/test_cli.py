"""The `sync-engine` command line as a user runs it: flags or a YAML pipeline, NDJSON out, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fixtures.connectors import CONNECTORS_DIR, python_connector

ENGINE = [sys.executable, "-m", "sync_engine"]


def engine(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ENGINE, *args], capture_output=True, cwd=cwd, timeout=120, check=False)


def flags(tmp_path: Path, source_config: Mapping[str, object], *extra: str) -> list[str]:
    return [
        "--source", " ".join(python_connector("synthetic_source.py")),
        "--source-config", orjson.dumps(source_config).decode(),
        "--destination", " ".join(python_connector("jsonl_destination.py")),
        "--destination-config", orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode(),
        "--state-file", str(tmp_path / "state.json"),
        *extra,
    ]  # fmt: skip


def messages(done: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def test_sync_with_flags_prints_ndjson_without_records_and_exits_0(tmp_path: Path) -> None:
    done = engine("sync", *flags(tmp_path, {"streams": {"a": 30, "b": 5}}), "--streams", "a", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = messages(done)
    kinds = {m["type"] for m in out}
    assert {"start", "progress", "end", "source_state"} <= kinds and "record" not in kinds
    assert out[-1]["type"] == "end"
    assert len((tmp_path / "out.jsonl").read_bytes().splitlines()) == 30
    assert b"\x1b[" not in done.stderr, "no live view when stderr is not a terminal"


def test_sync_from_a_yaml_pipeline_with_a_config_file(tmp_path: Path) -> None:
    (tmp_path / "source.json").write_text('{"streams": {"a": 12}}')
    (tmp_path / "pipeline.yaml").write_text(
        "name: nightly\n"
        f"source:\n  command: {' '.join(python_connector('synthetic_source.py'))}\n  config: source.json\n"
        f"destination:\n  command: {' '.join(python_connector('jsonl_destination.py'))}\n"
        f"  config: {{path: {tmp_path / 'out.jsonl'}}}\n"
        "state:\n  path: states\n"
    )
    done = engine("sync", "--pipeline", "pipeline.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "states" / "nightly.json").exists()


def test_partial_run_exits_3(tmp_path: Path) -> None:
    source = {"streams": {"a": 50, "b": 50}, "failures": [{"kind": "stream_error", "stream": "a"}]}
    done = engine("sync", *flags(tmp_path, source), cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert messages(done)[-1]["end"]["status"] == "partial"


def test_failed_run_exits_1(tmp_path: Path) -> None:
    source = {"streams": {"a": 50}, "failures": [{"kind": "global_error"}]}
    done = engine("sync", *flags(tmp_path, source), cwd=tmp_path)
    assert done.returncode == 1


def test_time_limit_with_more_to_do_still_exits_0(tmp_path: Path) -> None:
    source = {"streams": {"a": 300}, "page_size": 10, "page_delay_s": 0.1}
    done = engine("sync", *flags(tmp_path, source), "--time-limit", "1", cwd=tmp_path)
    assert done.returncode == 0
    assert messages(done)[-1]["end"]["has_more"] is True


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["sync", "--bogus"], "unrecognized arguments"),
        (["sync"], "no source"),
        (["sync", "--pipeline", "missing.yaml"], "cannot read pipeline file"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    done = engine(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert expected in done.stderr.decode()
    assert done.stderr.decode().count("\n") == 1
    assert done.stdout == b""


def test_a_connector_not_found_exits_2_with_a_verdict_on_stdout(tmp_path: Path) -> None:
    done = engine("sync", "--source", "no-such-connector-exe", "--destination", "cat", cwd=tmp_path)
    assert done.returncode == 2
    assert "connector command not found" in done.stderr.decode() and done.stderr.decode().count("\n") == 1
    out = messages(done)
    assert [m["type"] for m in out] == ["start", "error", "end"]
    assert out[-1]["end"]["status"] == "failed" and out[-1]["end"]["failure_type"] == "config_error"


@pytest.mark.parametrize(
    ("setting", "code", "status", "failure_type"),
    [
        ({"source_config": {"discover_fails": "auth_error"}}, 1, "failed", "auth_error"),
        ({"destination_env": "setup:exit"}, 4, "system_error", "system_error"),
    ],
)
def test_a_failed_discover_or_setup_still_ends_with_start_and_end(
    tmp_path: Path, setting: dict[str, Any], code: int, status: str, failure_type: str
) -> None:
    args = flags(tmp_path, {"streams": {"a": 5}, **setting.get("source_config", {})})
    env = {**os.environ, "MISBEHAVE": setting.get("destination_env", "")}
    wrapped = [sys.executable, str(CONNECTORS_DIR / "misbehaving.py"), "jsonl_destination.py"]
    args[args.index("--destination") + 1] = " ".join(wrapped)
    done = subprocess.run([*ENGINE, "sync", *args], capture_output=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == code, done.stderr
    out = messages(done)
    assert out[0]["type"] == "start" and out[-1]["type"] == "end"
    assert (out[-1]["end"]["status"], out[-1]["end"]["failure_type"]) == (status, failure_type)
    assert not (tmp_path / "out.jsonl").exists()


def test_invalid_connector_config_exits_2_without_echoing_secrets(tmp_path: Path) -> None:
    source = {"streams": "nope", "api_key": "sk_live_do_not_print_me"}
    done = engine("sync", *flags(tmp_path, source), cwd=tmp_path)
    assert done.returncode == 2
    assert "source config does not match its spec" in done.stderr.decode()
    assert b"sk_live_do_not_print_me" not in done.stdout + done.stderr


def test_check_discover_spec(tmp_path: Path) -> None:
    base = flags(tmp_path, {"streams": {"a": 1}})[:-2]
    done = engine("check", *base, cwd=tmp_path)
    assert done.returncode == 0
    assert [m["connection_status"]["status"] for m in messages(done) if m["type"] == "connection_status"] == [
        "succeeded", "succeeded"
    ]  # fmt: skip
    done = engine("discover", *base, cwd=tmp_path)
    assert [s["name"] for s in messages(done)[-1]["catalog"]["streams"]] == ["a"]
    done = engine("spec", *base, "--connector", "destination", cwd=tmp_path)
    assert "path" in messages(done)[0]["spec"]["config"]["properties"]


def test_failed_check_exits_1_and_redacts(tmp_path: Path) -> None:
    base = flags(tmp_path, {"streams": {"a": 1}, "check_fails": True, "api_key": "sk_test_abcdef123"})[:-2]
    done = engine("check", *base, "--connector", "source", cwd=tmp_path)
    assert done.returncode == 1
    assert b"sk_test_abcdef123" not in done.stdout + done.stderr
    assert messages(done)[-1]["connection_status"]["status"] == "failed"


def test_a_connector_written_against_the_previous_schema_still_syncs(tmp_path: Path) -> None:
    """The shell connector predates `stats`, `configured_catalog`, request counts and lifetime totals: it sends
    none of them, reads no catalog or state, and its state is a plain `{"next": n}`. It must sync unchanged."""
    shell = str(CONNECTORS_DIR / "shell_connector.sh")
    own = subprocess.run([shell, "read", "--config", '{"count": 2}'], capture_output=True, check=True, timeout=60)
    assert {orjson.loads(line)["type"] for line in own.stdout.splitlines()} == {
        "stream_status",
        "record",
        "source_state",
    }
    args = [
        "--source", shell, "--source-config", '{"count": 7}',
        "--destination", shell, "--destination-config", orjson.dumps({"path": str(tmp_path / "out.jsonl")}).decode(),
        "--state-file", str(tmp_path / "state.json"), "--json",
    ]  # fmt: skip
    for runs in (1, 2):
        done = engine("sync", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        end = messages(done)[-1]["end"]
        assert isinstance(end, dict) and end["status"] == "succeeded" and end.get("failure_type") is None
        assert (end["run_progress"]["record_count"], end["run_progress"]["request_count"]) == (7, 0)
        assert end["pipeline_progress"]["record_count"] == 7 * runs, "it reads everything each time: totals add up"
    rows = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [r["record"]["data"]["n"] for r in rows] == list(range(7)) * 2
    state = orjson.loads((tmp_path / "state.json").read_bytes())
    assert state["streams"]["numbers"]["data"] == {"next": 7}

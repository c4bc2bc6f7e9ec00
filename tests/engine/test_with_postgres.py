"""The engine's completion and ordering rules with destination-postgres, a real server and real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from sync_engine import Pipeline, validate_pipeline
from sync_protocol import (
    Message,
    RecordMessage,
    RunStatus,
    StreamProgress,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
    encode_message,
)
from sync_protocol.sdk import record, stream_state

from tests.fixtures.connectors import python_connector

from .harness import run_sync

ROWS = 3000


def pg_pipeline(tmp_path: Path, url: str, schema: str, source: dict[str, Any], **extra: Any) -> Pipeline:
    return validate_pipeline(
        {
            "name": "pg",
            "source": {"command": python_connector("synthetic_source.py"), "config": source},
            "destination": {"command": "destination-postgres", "config": {"url": url, "schema": schema}},
            "streams": [{"name": "a", "destination_sync_mode": "overwrite"}],  # incremental: a cursor to ignore
            "state": {"store": "file", "path": str(tmp_path / "state")},
            "retry_backoff_s": 0.05,
            "grace_s": 2.0,
            **extra,
        }
    )


def names_in(url: str, schema: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT _sync_raw->>'name', count(*) FROM {} GROUP BY 1").format(sql.Identifier(schema, "a"))
        ).fetchall()
    return {str(name): int(count) for name, count in rows}


def source(version: str, **extra: Any) -> dict[str, Any]:
    return {"streams": {"a": ROWS}, "page_size": 100, "template": {"name": version}, **extra}


@pytest.mark.parametrize("limit", ["time_limit_s", "state_limit"])
def test_a_limited_run_never_swaps_a_partial_overwrite_in(
    tmp_path: Path, postgres_url: str, pg_schema: str, limit: str
) -> None:
    first, _ = run_sync(pg_pipeline(tmp_path, postgres_url, pg_schema, source("v1")))
    assert first.status is RunStatus.SUCCEEDED, first.errors
    assert names_in(postgres_url, pg_schema) == {"v1": ROWS}

    slow = source("v2", page_delay_s=0.05)
    stop = {"time_limit_s": 1.5} if limit == "time_limit_s" else {"state_limit": 5}
    limited, _ = run_sync(pg_pipeline(tmp_path, postgres_url, pg_schema, slow, adopt_checkpoint=True, **stop))
    assert limited.has_more and limited.status is RunStatus.SUCCEEDED
    assert names_in(postgres_url, pg_schema) == {"v1": ROWS}, "the old table stays until the new one is complete"

    for _ in range(3):
        resumed, _ = run_sync(pg_pipeline(tmp_path, postgres_url, pg_schema, source("v2"), adopt_checkpoint=True))
        if not resumed.has_more:
            break
    assert resumed.status is RunStatus.SUCCEEDED
    assert names_in(postgres_url, pg_schema) == {"v2": ROWS}, "the resumed overwrite is whole"


def test_sigterm_never_swaps_a_partial_overwrite_in(tmp_path: Path, postgres_url: str, pg_schema: str) -> None:
    run_sync(pg_pipeline(tmp_path, postgres_url, pg_schema, source("v1")))
    p = pg_pipeline(tmp_path, postgres_url, pg_schema, source("v2", page_delay_s=0.05), adopt_checkpoint=True)
    pipeline_file = tmp_path / "p.json"
    pipeline_file.write_bytes(orjson.dumps(p.model_dump(mode="json")))
    engine = subprocess.Popen(
        [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(pipeline_file), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert engine.stdout is not None
    for line in engine.stdout:
        if b'"progress"' in line and b'"record_count":0,' not in line:
            break
    engine.send_signal(signal.SIGTERM)
    engine.communicate(timeout=60)
    assert engine.returncode == 128 + signal.SIGTERM
    assert names_in(postgres_url, pg_schema) == {"v1": ROWS}


GLOBAL_THEN_STREAM = """#!/bin/sh
T=2024-01-01T00:00:00Z
rec() { printf '{"type":"record","record":{"stream":"%s","data":{"id":"%s"},"emitted_at":"%s"}}\\n' "$1" "$2" "$T"; }
S='"json_schema":{"type":"object","properties":{"id":{"type":"string"}}},"primary_key":[["id"]]'
case "$1" in
spec) echo '{"type":"spec","spec":{"config":{"type":"object"}}}';;
discover) echo '{"type":"catalog","catalog":{"streams":[{"name":"full",'"$S"'},{"name":"inc",'"$S"'}]}}';;
read)
  rec full f1; rec full f2
  echo '{"type":"source_state","source_state":{"state_type":"global","data":{"g":1}}}'
  rec inc i1
  echo '{"type":"source_state","source_state":{"stream":"inc","data":{"n":1}}}'
  echo '{"type":"stream_status","stream_status":{"stream":"inc","status":"complete"}}'
  rec full f3
  echo '{"type":"stream_status","stream_status":{"stream":"full","status":"complete"}}';;
esac
"""


def test_a_destination_holding_a_global_state_may_commit_later_stream_states(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    script = tmp_path / "global_source.sh"
    script.write_text(GLOBAL_THEN_STREAM)
    script.chmod(0o755)
    p = pg_pipeline(tmp_path, postgres_url, pg_schema, {})
    p.source.command, p.source.config = [str(script)], {}
    p.streams = validate_pipeline(
        {
            "source": {"command": "x"},
            "destination": {"command": "x"},
            "streams": [{"name": "full", "destination_sync_mode": "overwrite"}, {"name": "inc"}],
        }
    ).streams
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED, result.errors
    assert result.state.global_state == {"g": 1} and result.state.streams["inc"].data == {"n": 1}


SCRIPTED_SOURCE = """#!/bin/sh
case "$1" in
spec) echo '{"type":"spec","spec":{"config":{"type":"object"}}}';;
discover) echo '{"type":"catalog","catalog":{"streams":[{"name":"s","json_schema":{"type":"object",\
"properties":{"id":{"type":"string"},"n":{"type":"integer"}}},"primary_key":[["id"]]}]}}';;
read) cat "$(dirname "$0")/messages.ndjson";;
esac
"""


def test_the_destinations_row_counts_reach_the_run_progress(tmp_path: Path, postgres_url: str, pg_schema: str) -> None:
    script = tmp_path / "scripted_source.sh"
    script.write_text(SCRIPTED_SOURCE)
    script.chmod(0o755)
    p = pg_pipeline(tmp_path, postgres_url, pg_schema, {})
    p.source.command, p.source.config = [str(script)], {}
    p.streams = validate_pipeline(
        {"source": {"command": "x"}, "destination": {"command": "x"}, "streams": [{"name": "s"}]}
    ).streams

    def run(records: list[RecordMessage]) -> StreamProgress:
        complete = StreamStatusMessage(stream_status=StreamStatus(stream="s", status=StreamStatusValue.COMPLETE))
        messages: list[Message] = [*records, stream_state("s", {"n": len(records)}), complete]
        (tmp_path / "messages.ndjson").write_bytes(b"".join(encode_message(m) for m in messages))
        result, _ = run_sync(p)
        assert result.status is RunStatus.SUCCEEDED, result.errors
        return result.progress.streams["s"]

    first = [record("s", {"id": f"r{i}", "n": i}) for i in range(20)]
    loaded = run(first)
    assert (loaded.record_count, loaded.inserted_count, loaded.updated_count, loaded.deleted_count) == (20, 20, 0, 0)

    changed = [record("s", {"id": f"r{i}", "n": -i}) for i in range(1, 6)]  # r1..r5 changed, r6..r19 the same
    rerun = run([*first[6:], *changed, record("s", {"id": "new", "n": 0})])
    assert (rerun.record_count, rerun.inserted_count, rerun.updated_count, rerun.deleted_count) == (20, 1, 5, 0)

    deletes = run([record("s", {"id": key}, deleted=True) for key in ("r0", "r1", "missing")])
    assert (deletes.record_count, deletes.inserted_count, deletes.updated_count, deletes.deleted_count) == (3, 0, 0, 2)
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_schema, "s"))).fetchone()
    assert left == (19,)

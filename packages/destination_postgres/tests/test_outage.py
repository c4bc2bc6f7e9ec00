"""A PostgreSQL outage mid-run, through the real engine: the run succeeds and every row is there exactly once.

The server (one of our own, so restarting it disturbs no other test) is stopped after the first checkpoints
are committed and started again a few seconds later. The destination reports the lost connection as
`transient`, the engine restarts both connectors from the last committed state, and the restarted destination
waits (`connect_retry_s`) for the server to come back. A shorter outage than the 30 s of the issue proves the
same thing: what matters is that the restart happens while the server is still down. `append` mode keeps every
row it is given, so a replayed or half-committed batch would show as duplicates.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from sync_testbed.postgres import LocalServer, start_server

from tests.fixtures.connectors import python_connector

from .conftest import COMMAND

STREAMS = {"a": 3_000, "b": 3_000}


def _committed_states(url: str, schema: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, "_sync_state"))
            ).fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def test_an_outage_mid_run_ends_with_every_row_exactly_once(tmp_path: Path) -> None:
    server = start_server()
    if not isinstance(server, LocalServer):
        server.stop()
        pytest.skip("needs the machine's PostgreSQL binaries to restart the server")
    try:
        schema = "outage"
        pipeline: dict[str, Any] = {
            "name": "outage",
            "source": {
                "command": python_connector("synthetic_source.py"),
                "config": {"streams": STREAMS, "page_size": 100, "page_delay_s": 0.03},
            },
            "destination": {
                "command": COMMAND,
                "config": {"url": server.url, "schema": schema, "max_state_delay_s": 0.05, "connect_retry_s": 30},
            },
            "streams": [{"name": name, "destination_sync_mode": "append"} for name in STREAMS],
            "state": {"store": "file", "path": str(tmp_path / "state")},
            "max_attempts": 4,
            "retry_backoff_s": 0.2,
        }
        path = tmp_path / "pipeline.json"
        path.write_bytes(orjson.dumps(pipeline))
        with subprocess.Popen(
            [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(path), "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as engine:
            deadline = time.monotonic() + 60
            while _committed_states(server.url, schema) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert engine.poll() is None, "the run ended before the outage"
            server.restart("fast", down_s=4.0)
            out, err = engine.communicate(timeout=120)
        lines = [orjson.loads(line) for line in out.splitlines()]
        end = lines[-1]["end"]
        errors = [m["error"] for m in lines if m["type"] == "error"]
        assert engine.returncode == 0 and end["status"] == "succeeded", (end, errors, err[-2000:])
        assert any(e["level"] == "transient" for e in errors)  # the outage was seen, and survived
        with psycopg.connect(server.url) as conn:
            for name, total in STREAMS.items():
                query = sql.SQL("SELECT count(*), count(DISTINCT id) FROM {}").format(sql.Identifier(schema, name))
                assert conn.execute(query).fetchone() == (total, total)
    finally:
        server.stop()

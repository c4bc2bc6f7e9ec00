"""kill -9 between COPY and commit: nothing half-written, the state not advanced past the data."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from typing import Any

import orjson
import psycopg
from psycopg import sql
from sync_protocol import encode_message
from sync_protocol.sdk import record, stream_state

from .conftest import ONE_STREAM_CATALOG, write_argv


def test_kill_between_copy_and_commit(config: dict[str, Any], pg_schema: str, postgres_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        argv = write_argv(tmp, config, ONE_STREAM_CATALOG)
        with subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as process:
            try:
                _crash_mid_batch(process, pg_schema, postgres_url)
            finally:
                process.kill()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        table = sql.Identifier(pg_schema, "s")
        ids = [i for (i,) in db.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(table))]
        assert ids == list(range(10))  # the killed batch left nothing behind
        state = db.execute(sql.SQL("SELECT state FROM {}").format(sql.Identifier(pg_schema, "_sync_state")))
        assert state.fetchone() == ({"data": 10, "completed_ranges": []},)  # and the state did not advance


def _crash_mid_batch(process: subprocess.Popen[bytes], pg_schema: str, postgres_url: str) -> None:
    """Commit one batch, then kill the writer while its next batch waits to commit (after COPY + merge)."""
    assert process.stdin is not None and process.stdout is not None
    first = b"".join(encode_message(record("s", {"id": i})) for i in range(10))
    process.stdin.write(first + encode_message(stream_state("s", 10)))
    process.stdin.flush()
    committed = orjson.loads(process.stdout.readline())
    assert committed["stats"] == {"stream": "s", "inserted_count": 10, "updated_count": 0, "deleted_count": 0}
    echoed = orjson.loads(process.stdout.readline())
    assert echoed["source_state"]["data"] == 10  # the first batch is committed
    state_table = sql.Identifier(pg_schema, "_sync_state")
    with psycopg.connect(postgres_url) as blocker, psycopg.connect(postgres_url, autocommit=True) as observer:
        # hold the state table: the next batch COPYs and merges, then waits for this lock before commit
        blocker.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(state_table))
        second = b"".join(encode_message(record("s", {"id": i})) for i in range(10, 30))
        process.stdin.write(second + encode_message(stream_state("s", 30)))
        process.stdin.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND application_name = 'destination-postgres' AND query LIKE 'INSERT INTO %%_sync_state%%'"
            ).fetchone()
            if waiting and waiting[0]:
                break
            time.sleep(0.05)
        else:
            activity = observer.execute(
                "SELECT application_name, wait_event_type, state, query FROM pg_stat_activity"
            ).fetchall()
            raise AssertionError(f"the writer never reached the state update: {activity}")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        blocker.rollback()

"""`sync-engine state` over the PostgreSQL store: list leaves destination-postgres's own rows alone, reset deletes."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import orjson
import psycopg
from psycopg import sql
from sync_engine import PostgresStateStore
from sync_engine._cli import run
from sync_protocol import StreamState, SyncState

from tests.fixtures.connectors import python_connector


def test_state_commands_over_postgres(postgres_url: str, pg_schema: str) -> None:
    store = PostgresStateStore(postgres_url, pg_schema)
    store.save("nightly", SyncState(run_id="r", streams={"a": StreamState(data=1), "b": StreamState(data=2)}))
    store.save("stream:a", SyncState())  # destination-postgres's per-stream row in the shared table
    pipeline = {
        "name": "nightly",
        "source": {"command": python_connector("synthetic_source.py"), "config": {"streams": {"a": 1, "b": 1}}},
        "destination": {"command": python_connector("jsonl_destination.py"), "config": {"path": "/dev/null"}},
        "state": {"store": "postgres", "url": "${PG_URL}", "db_schema": pg_schema},
    }
    env = {"PG_URL": postgres_url}

    def cli(*argv: str, path: str) -> tuple[int, str, str]:
        out, err = io.BytesIO(), io.StringIO()
        code = run([*argv, "--pipeline", path], stdout=out, stderr=err, stdin=io.StringIO(), env=env)
        return code, out.getvalue().decode(), err.getvalue()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.json"
        path.write_bytes(orjson.dumps(pipeline))
        assert cli("state", "list", path=str(path))[1].split() == ["nightly"]
        assert cli("state", "reset", "--stream", "a", path=str(path))[0] == 0
        shown = orjson.loads(cli("state", "show", path=str(path))[1])
        assert set(shown["streams"]) == {"b"}
        assert cli("state", "reset", path=str(path))[0] == 0
        assert cli("state", "list", path=str(path))[1] == ""
    with psycopg.connect(postgres_url) as conn:
        keys = conn.execute(sql.SQL("SELECT state_key FROM {}").format(sql.Identifier(pg_schema, "_sync_state")))
        assert [row[0] for row in keys] == ["stream:a"]

"""State stores against real backends, and a sync whose checkpoint lives in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql
from sync_engine import FileStateStore, PostgresStateStore
from sync_protocol import RunStatus, StreamState, SyncState

from .harness import pipeline, run_sync


def test_postgres_store_round_trip_in_the_shared_table(postgres_url: str, pg_schema: str) -> None:
    store = PostgresStateStore(postgres_url, pg_schema)
    assert store.load("p") is None
    store.save("p", SyncState(run_id="r1", streams={"a": StreamState(data={"n": 1})}))
    store.save("p", SyncState(run_id="r1", streams={"a": StreamState(data={"n": 2})}))
    loaded = store.load("p")
    assert loaded is not None and loaded.streams["a"].data == {"n": 2}
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            sql.SQL("SELECT state_key, state->'streams'->'a'->'data' FROM {}").format(
                sql.Identifier(pg_schema, "_sync_state")
            )
        ).fetchall()
    assert rows == [("p", {"n": 2})]


def test_sync_with_checkpoints_in_postgres_resumes(tmp_path: Path, postgres_url: str, pg_schema: str) -> None:
    state = {"store": "postgres", "url": postgres_url, "db_schema": pg_schema}
    p = pipeline(tmp_path, {"streams": {"a": 120}, "page_size": 50}, state=state)
    result, _ = run_sync(p)
    assert result.status is RunStatus.SUCCEEDED
    saved = PostgresStateStore(postgres_url, pg_schema).load("default")
    assert saved is not None and saved.finished and saved.streams["a"].data == {"next": 120}
    again, _ = run_sync(p)
    assert again.request_progress.record_count == 0


def test_an_empty_run_still_records_its_checkpoint(tmp_path: Path) -> None:
    result, _ = run_sync(pipeline(tmp_path, {"streams": {"a": 0}}))
    assert result.status is RunStatus.SUCCEEDED
    saved = FileStateStore(tmp_path / "state").load("default")
    assert saved is not None and saved.finished and saved.run_id == result.run_id
    assert saved.progress is not None and saved.progress.record_count == 0

"""State in PostgreSQL: `"<schema>"."_sync_state"(state_key, state, updated_at)`, the table destination-postgres
also writes its per-stream checkpoints to (under `stream:<name>` keys), so both can live in one schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError
from sync_protocol import SyncState

from .._errors import StateLockedError, StateStoreError

TABLE = "_sync_state"


class PostgresStateStore:
    """One row per key; each save is its own committed transaction (an upsert)."""

    def __init__(self, url: str, schema: str = "public", table: str = TABLE) -> None:
        self._url = url
        self._schema = schema
        self._table = table
        self._ready = False

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self._url, autocommit=True)

    def _target(self) -> Any:
        from psycopg import sql

        return sql.Identifier(self._schema, self._table)

    def _ensure(self, conn: Any) -> None:
        if self._ready:
            return
        from psycopg import sql

        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (state_key text PRIMARY KEY, state jsonb NOT NULL, "
                "updated_at timestamptz NOT NULL DEFAULT now())"
            ).format(self._target())
        )
        self._ready = True

    def load(self, key: str) -> SyncState | None:
        from psycopg import sql

        with self._connect() as conn:
            self._ensure(conn)
            row = conn.execute(
                sql.SQL("SELECT state::text FROM {} WHERE state_key = %s").format(self._target()), (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            return SyncState.model_validate_json(row[0])
        except ValidationError as exc:
            raise StateStoreError(
                f"checkpoint {key!r} in {self._schema}.{self._table} is not a valid sync state"
            ) from exc

    def save(self, key: str, state: SyncState) -> None:
        from psycopg import sql

        with self._connect() as conn:
            self._ensure(conn)
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (state_key, state, updated_at) VALUES (%s, %s::jsonb, now()) "
                    "ON CONFLICT (state_key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()"
                ).format(self._target()),
                (key, state.model_dump_json(exclude_none=True)),
            )

    def keys(self) -> list[str]:
        """The engine's checkpoint keys (destination-postgres's own `stream:<name>` rows are left out)."""
        from psycopg import sql

        with self._connect() as conn:
            self._ensure(conn)
            rows = conn.execute(
                sql.SQL("SELECT state_key FROM {} WHERE state_key NOT LIKE %s ORDER BY 1").format(self._target()),
                ("stream:%",),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def delete(self, key: str) -> bool:
        """Remove `key`'s row; False when there was none."""
        from psycopg import sql

        with self._connect() as conn:
            self._ensure(conn)
            cursor = conn.execute(sql.SQL("DELETE FROM {} WHERE state_key = %s").format(self._target()), (key,))
            return bool(cursor.rowcount)

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """A session advisory lock on the key, held on its own connection for the whole run."""
        with self._connect() as conn:
            got = conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (f"{self._schema}.{self._table}:{key}",)
            ).fetchone()
            if not got or not got[0]:
                raise StateLockedError(
                    f"another run of pipeline {key!r} is in progress (it holds the checkpoint's advisory lock in "
                    f"{self._schema}.{self._table}); wait for it to end"
                )
            yield  # closing the connection releases the lock, also when this process dies

"""The `_sync_state` table: this destination's per-stream checkpoints, and the engine's Postgres state store.

Shape (one per target schema):

    "<schema>"."_sync_state" (
        state_key  text        PRIMARY KEY,   -- "stream:<name>", "global", or a key the engine chooses
        state      jsonb       NOT NULL,
        updated_at timestamptz NOT NULL
    )

`stream:<name>` rows hold a `StreamState` (`{"data": <source state>, "completed_ranges": [...]}`), written in
the same transaction as that stream's rows, so it never runs ahead of the data. `global` holds
`{"data": <global source state>}`, written once every stream's earlier records are committed. Any other key
belongs to the engine (it stores its whole checkpoint under a key of its own).
"""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg import sql
from sync_protocol import SourceState, StreamState, TimeRange, merge_ranges

from ._naming import STATE_TABLE

GLOBAL_KEY = "global"


def stream_key(stream: str) -> str:
    """The state key of one stream."""
    return f"stream:{stream}"


def create_sql(schema: str) -> sql.Composed:
    """Idempotent DDL of the state table."""
    return sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (state_key text PRIMARY KEY, state jsonb NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT now())"
    ).format(sql.Identifier(schema, STATE_TABLE))


def read_states(conn: psycopg.Connection[Any], schema: str) -> dict[str, Any]:
    """Every row of the state table, key → state (empty if the table does not exist yet)."""
    exists = conn.execute("SELECT to_regclass(%s)", [sql.Identifier(schema, STATE_TABLE).as_string(conn)]).fetchone()
    if not exists or exists[0] is None:
        return {}
    query = sql.SQL("SELECT state_key, state FROM {}").format(sql.Identifier(schema, STATE_TABLE))
    return dict(conn.execute(query).fetchall())


def next_stream_state(previous: StreamState | None, states: list[SourceState]) -> StreamState:
    """A stream's stored state after committing `states` (in order): the last data, all ranges merged."""
    ranges: list[TimeRange] = list(previous.completed_ranges) if previous else []
    ranges.extend(s.time_range for s in states if s.time_range is not None)
    data = states[-1].data if states else (previous.data if previous else None)
    return StreamState(data=data, completed_ranges=merge_ranges(ranges))


def upsert_state(cur: psycopg.Cursor[Any], schema: str, key: str, state: Any) -> None:
    """Write one state row inside the caller's transaction."""
    # values as literals, never parameters: a '%' in the schema or stream name would be read as a placeholder
    cur.execute(
        sql.SQL(
            "INSERT INTO {} (state_key, state, updated_at) VALUES ({}, {}::jsonb, now())"
            " ON CONFLICT (state_key) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at"
        ).format(sql.Identifier(schema, STATE_TABLE), sql.Literal(key), sql.Literal(orjson.dumps(state).decode()))
    )

"""`write` end to end through the real executable: typed rows, upserts, deletes, states, pass-through."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from sync_protocol import LogMessage, SourceStateMessage, StreamStatusMessage, StreamStatus
from sync_protocol.sdk import record, stream_state
from sync_protocol.testing import ConnectorHarness

from .conftest import catalog, stream

PROPS: dict[str, Any] = {
    "id": {"type": "string"},
    "amount": {"type": ["integer", "null"]},
    "ratio": {"type": "number"},
    "paid": {"type": "boolean"},
    "created_at": {"type": "string", "format": "date-time"},
    "day": {"type": "string", "format": "date"},
    "address": {"type": ["object", "null"], "properties": {"city": {"type": "string"}}},
    "tags": {"type": "array", "items": {"type": "string"}},
    "anything": {},
}


def rows(db: psycopg.Connection[Any], schema: str, table: str, order: str = "id") -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(schema, table), sql.Identifier(order))
    return db.execute(query).fetchall()


def column_types(db: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str]:
    found = db.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [sql.Identifier(schema, table).as_string(db)],
    ).fetchall()
    return dict(found)


def test_typed_columns_and_state(harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any) -> None:
    cat = catalog(stream("charges", PROPS))
    data = {
        "id": "ch_1", "amount": 1250, "ratio": 0.5, "paid": True, "created_at": "2024-05-01T10:00:00Z",
        "day": "2024-05-01", "address": {"city": "Lyon"}, "tags": ["a", "b"], "anything": [1, "x"],
        "extra": "not in schema",
    }
    result = harness.write(config, cat, [record("charges", data), stream_state("charges", {"cursor": 1})])
    assert [s.source_state.data for s in result.states] == [{"cursor": 1}]
    types = column_types(db, pg_schema, "charges")
    assert types["id"] == "text"
    assert types["amount"] == "bigint"
    assert types["ratio"] == "numeric"
    assert types["paid"] == "boolean"
    assert types["created_at"] == "timestamp with time zone"
    assert types["day"] == "date"
    assert types["address"] == "jsonb"
    assert types["tags"] == "jsonb"
    assert types["anything"] == "jsonb"
    assert "extra" not in types
    row = db.execute(
        sql.SQL(
            "SELECT id, amount, ratio, paid, created_at, day::text, address, tags, _sync_raw, _sync_run_id"
            " FROM {}"
        ).format(sql.Identifier(pg_schema, "charges"))
    ).fetchone()
    assert row is not None
    assert row[:4] == ("ch_1", 1250, 0.5, True)
    assert row[4].isoformat() == "2024-05-01T10:00:00+00:00"
    assert row[5:8] == ("2024-05-01", {"city": "Lyon"}, ["a", "b"])
    assert row[8] == data
    assert row[9]
    state = db.execute(
        sql.SQL("SELECT state FROM {} WHERE state_key = 'stream:charges'").format(
            sql.Identifier(pg_schema, "_sync_state")
        )
    ).fetchone()
    assert state == ({"data": {"cursor": 1}, "completed_ranges": []},)

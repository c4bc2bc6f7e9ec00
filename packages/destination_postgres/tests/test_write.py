"""`write` end to end through the real executable: typed rows, upserts, deletes, states, pass-through."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from sync_protocol import (
    ConfiguredCatalog,
    ErrorMessage,
    Log,
    LogLevel,
    LogMessage,
    SourceState,
    SourceStateMessage,
    StateType,
    StreamState,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
    TimeRange,
    UnknownMessage,
)
from sync_protocol.sdk import record, stream_state
from sync_protocol.testing import ConnectorHarness


def catalog(*streams: dict[str, Any]) -> ConfiguredCatalog:
    """A configured catalog from stream dicts (name, json_schema, primary_key, destination_sync_mode)."""
    return ConfiguredCatalog.model_validate({"streams": list(streams)})


def stream(
    name: str, properties: dict[str, Any], *, pk: list[str] | None = None, mode: str = "append_dedup"
) -> dict[str, Any]:
    """One configured stream with an object schema of `properties`."""
    return {
        "name": name,
        "json_schema": {"type": "object", "properties": properties},
        "primary_key": [[p] for p in (pk if pk is not None else ["id"])],
        "destination_sync_mode": mode,
    }


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
        "id": "ch_1",
        "amount": 1250,
        "ratio": 0.5,
        "paid": True,
        "created_at": "2024-05-01T10:00:00Z",
        "day": "2024-05-01",
        "address": {"city": "Lyon"},
        "tags": ["a", "b"],
        "anything": [1, "x"],
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
            "SELECT id, amount, ratio, paid, created_at, day::text, address, tags, _sync_raw, _sync_run_id FROM {}"
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


def count(db: psycopg.Connection[Any], schema: str, table: str) -> int:
    row = db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
    assert row is not None
    return int(row[0])


def test_upsert_noop_and_delete(harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any) -> None:
    cat = catalog(stream("c", {"id": {"type": "string"}, "n": {"type": "integer"}}))
    first = [record("c", {"id": "a", "n": 1}), record("c", {"id": "b", "n": 1}), stream_state("c", 1)]
    harness.write(config, cat, first)
    before = db.execute(
        sql.SQL("SELECT id, _sync_synced_at, _sync_run_id FROM {} ORDER BY id").format(sql.Identifier(pg_schema, "c"))
    ).fetchall()
    # the same input again changes nothing: no-op updates are skipped (same run id and timestamps)
    harness.write(config, cat, first)
    again = db.execute(
        sql.SQL("SELECT id, _sync_synced_at, _sync_run_id FROM {} ORDER BY id").format(sql.Identifier(pg_schema, "c"))
    ).fetchall()
    assert again == before
    # an update, a duplicate within one batch (last wins), a delete, a delete then re-insert
    second = [
        record("c", {"id": "a", "n": 2}),
        record("c", {"id": "a", "n": 3}),
        record("c", {"id": "b"}, deleted=True),
        record("c", {"id": "z", "n": 9}),
        record("c", {"id": "z"}, deleted=True),
        record("c", {"id": "z", "n": 10}),
        stream_state("c", 2),
    ]
    result = harness.write(config, cat, second)
    assert [s.source_state.data for s in result.states] == [2]
    table = sql.Identifier(pg_schema, "c")
    assert db.execute(sql.SQL("SELECT id, n FROM {} ORDER BY id").format(table)).fetchall() == [("a", 3), ("z", 10)]


def test_append_mode_keeps_every_version(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("log", {"id": {"type": "string"}, "n": {"type": "integer"}}, mode="append"))
    complete = StreamStatusMessage(stream_status=StreamStatus(stream="log", status=StreamStatusValue.COMPLETE))
    harness.write(config, cat, [record("log", {"id": "a", "n": 1}), record("log", {"id": "a", "n": 2}), complete])
    # rows after the last checkpoint, in a stream not completed, are not appended: a replay would repeat them
    ended = harness.write(
        config, cat, [record("log", {"id": "a", "n": 3}), stream_state("log", 1), record("log", {"id": "c"})]
    )
    assert [s.source_state.data for s in ended.states] == [1]
    harness.write(config, cat, [record("log", {"id": "b", "n": 1}), stream_state("log", 2)])
    assert count(db, pg_schema, "log") == 4
    harness.write(config, cat, [record("log", {"id": "a"}, deleted=True), record("log", {"id": "a", "n": 4}), complete])
    got = db.execute(sql.SQL("SELECT id, n FROM {} ORDER BY id, n").format(sql.Identifier(pg_schema, "log")))
    assert got.fetchall() == [("a", 4), ("b", 1)]


def test_overwrite_swaps_at_stream_end(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("o", {"id": {"type": "integer"}}, mode="overwrite"))
    complete = StreamStatusMessage(stream_status=StreamStatus(stream="o", status=StreamStatusValue.COMPLETE))
    started = StreamStatusMessage(stream_status=StreamStatus(stream="o", status=StreamStatusValue.STARTED))
    first = harness.write(config, cat, [record("o", {"id": i}) for i in range(5)] + [stream_state("o", "v1"), complete])
    assert [s.source_state.data for s in first.states] == ["v1"]
    assert count(db, pg_schema, "o") == 5
    # input that ends without `complete` never swaps, even when the source sent no status at all
    silent = harness.write(config, cat, [record("o", {"id": 100}), stream_state("o", "v1b")])
    assert silent.states == []
    assert count(db, pg_schema, "o") == 5
    # a run that starts the stream but never completes it leaves the old table and state alone
    partial = harness.write(config, cat, [started, record("o", {"id": 100}), stream_state("o", "v2")])
    assert partial.states == []
    assert count(db, pg_schema, "o") == 5
    # a complete run replaces the table; the state is echoed only after the swap
    done = harness.write(
        config, cat, [started, record("o", {"id": 7}), record("o", {"id": 8}), stream_state("o", "v3"), complete]
    )
    assert [s.source_state.data for s in done.states] == ["v3"]
    got = db.execute(sql.SQL("SELECT id FROM {} ORDER BY id").format(sql.Identifier(pg_schema, "o"))).fetchall()
    assert got == [(7,), (8,)]
    tables = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [pg_schema]).fetchall()
    assert sorted(t for (t,) in tables) == ["_sync_objects", "_sync_state", "o"]


def test_odd_names(harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any) -> None:
    names = ["we\"ird 'name", "Ünïcödé 名前", "x" * 100, "select", "Order By", "_sync_raw"]
    props = {n: {"type": "string"} for n in names}
    props["id"] = {"type": "string"}
    stream_names = ['s"q', "表", "y" * 100, "table", "_sync_state"]
    cat = catalog(*(stream(s, props) for s in stream_names))
    data = {n: f"v-{n[:5]}" for n in names} | {"id": "1"}
    messages: list[Any] = []
    for s in stream_names:
        messages += [record(s, data), stream_state(s, s)]
    result = harness.write(config, cat, messages)
    assert sorted(m.source_state.data for m in result.states) == sorted(stream_names)
    tables = {t for (t,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [pg_schema])}
    assert len(tables) == len(stream_names) + 2
    assert {'s"q', "表", "table"} <= tables
    for t in tables - {"_sync_state", "_sync_objects"}:
        assert count(db, pg_schema, t) == 1
        cols = column_types(db, pg_schema, t)
        assert {"we\"ird 'name", "Ünïcödé 名前", "select", "Order By"} <= set(cols)
        assert sum(1 for c in cols if c.startswith("x" * 40)) == 1
        value = db.execute(
            sql.SQL("SELECT {}, {} FROM {}").format(
                sql.Identifier("we\"ird 'name"), sql.Identifier("select"), sql.Identifier(pg_schema, t)
            )
        ).fetchone()
        assert value == ('v-we"ir', "v-selec")


def test_huge_jsonb_and_awkward_values(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("big", {"id": {"type": "string"}, "blob": {"type": "object"}, "n": {"type": "integer"}}))
    blob = {f"k{i}": 'x\\y\t\n"' * 50 for i in range(20_000)}  # ~8 MB of escapes
    awkward = [
        record("big", {"id": "huge", "blob": blob, "n": 1}),
        record("big", {"id": "nul", "blob": {"s": "a\x00b"}, "n": "not a number"}),
        record("big", {"id": "overflow", "n": 10**30}),
        record("big", {"id": "frac", "n": 1.5}),
        stream_state("big", "done"),
    ]
    result = harness.write(config, cat, awkward)
    assert [s.source_state.data for s in result.states] == ["done"]
    table = sql.Identifier(pg_schema, "big")
    got = dict(db.execute(sql.SQL("SELECT id, n FROM {}").format(table)).fetchall())
    assert got == {"huge": 1, "nul": None, "overflow": None, "frac": None}
    raw = db.execute(sql.SQL("SELECT _sync_raw FROM {} WHERE id = 'huge'").format(table)).fetchone()
    assert raw is not None and raw[0]["blob"] == blob
    kept = db.execute(sql.SQL("SELECT _sync_raw->>'n', blob->>'s' FROM {} WHERE id = 'nul'").format(table)).fetchone()
    assert kept == ("not a number", "a\ufffdb")


def test_failing_stream_is_isolated(harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any) -> None:
    cat = catalog(
        stream("good", {"id": {"type": "string"}}),
        stream("bad", {"id": {"type": "integer"}}),
    )
    messages = [
        record("good", {"id": "g1"}),
        record("bad", {"id": "not-an-integer"}),  # the key cannot be projected: NOT NULL violation
        stream_state("bad", "b1"),
        stream_state("good", "g1"),
        record("good", {"id": "g2"}),
        stream_state("good", "g2"),
        record("unknown", {"id": 1}),
    ]
    result = harness.write(config, cat, messages)
    assert [s.source_state.data for s in result.states] == ["g1", "g2"]
    errors = {e.error.stream: e.error for e in result.of_type(ErrorMessage)}
    assert set(errors) == {"bad", "unknown"}
    assert errors["bad"].level == "stream"
    assert count(db, pg_schema, "good") == 2
    assert count(db, pg_schema, "bad") == 0
    keys = {
        k for (k,) in db.execute(sql.SQL("SELECT state_key FROM {}").format(sql.Identifier(pg_schema, "_sync_state")))
    }
    assert keys == {"stream:good"}


def test_passes_other_messages_through_and_keeps_ranges(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("r", {"id": {"type": "string"}}))
    log = LogMessage(log=Log(level=LogLevel.INFO, message="hello"))
    unknown = b'{"type":"future_kind","future_kind":{"x":1}}\n'
    messages: list[Any] = [
        log,
        record("r", {"id": "1"}),
        stream_state("r", 1, TimeRange(gte=datetime(2024, 1, 1, tzinfo=UTC), lt=datetime(2024, 2, 1, tzinfo=UTC))),
        unknown,
        stream_state("r", 2, TimeRange(gte=datetime(2024, 2, 1, tzinfo=UTC), lt=datetime(2024, 3, 1, tzinfo=UTC))),
        global_state := SourceStateMessage(source_state=SourceState(state_type=StateType.GLOBAL, data={"g": 1})),
    ]
    result = harness.write(config, cat, messages)
    assert any(isinstance(m, LogMessage) and m.log.message == "hello" for m in result.messages)
    assert any(isinstance(m, UnknownMessage) and m.type == "future_kind" for m in result.messages)
    assert [s.source_state.data for s in result.states] == [1, 2, {"g": 1}]
    assert result.states[-1] == global_state
    stored = dict(
        db.execute(sql.SQL("SELECT state_key, state FROM {}").format(sql.Identifier(pg_schema, "_sync_state")))
    )
    assert stored["global"] == {"data": {"g": 1}}
    state = StreamState.model_validate(stored["stream:r"])
    assert state.data == 2
    assert [(r.gte, r.lt) for r in state.completed_ranges] == [
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    ]

"""Idempotent, additive DDL: the schema, the connector's own tables, one typed table per stream; and teardown.

Evolution is additive: a property new to the schema becomes a new column, backfilled from the raw jsonb of the
rows already there; nothing is ever dropped or retyped. A column whose existing type differs from what the
schema now asks for is kept (values that do not fit land as NULL, the raw jsonb keeps them) and reported.
Everything `setup` creates is registered in `_sync_objects`, and `teardown` drops exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sync_protocol import ConfigError, ConfiguredStream, DestinationSyncMode, StreamError

from . import _state_table
from ._config import is_system_schema
from ._naming import (
    HASH_COLUMN,
    HELPER_FUNCTIONS,
    OBJECTS_TABLE,
    RAW_COLUMN,
    RUN_ID_COLUMN,
    STATE_TABLE,
    SYNCED_AT_COLUMN,
    collisions,
    column_name,
    overwrite_table_name,
    table_name,
)
from ._types import JSONB, TEXT, Column, columns_for, helper_functions_sql, projection, same_type


@dataclass(frozen=True)
class StreamTable:
    """Everything the loader needs to know about one stream's table, as it exists in the database."""

    stream: str
    schema: str
    table: str
    columns: tuple[Column, ...]
    """Typed columns written from each record, with their actual types."""
    primary_key: tuple[Column, ...]
    mode: DestinationSyncMode

    @property
    def unique(self) -> bool:
        """Whether rows are merged by primary key (append_dedup, overwrite) rather than appended."""
        return bool(self.primary_key) and self.mode != DestinationSyncMode.APPEND


def lz4_available(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server can compress with lz4 (far cheaper than the default pglz for large jsonb)."""
    row = conn.execute(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    ).fetchone()
    return bool(row and row[0])


def _register(cur: psycopg.Cursor[Any], schema: str, kind: str, name: str, stream: str | None = None) -> None:
    # values as literals, never parameters: a '%' in a quoted name would be read as a placeholder
    cur.execute(
        sql.SQL("INSERT INTO {} (kind, name, stream) VALUES ({}, {}, {}) ON CONFLICT DO NOTHING").format(
            sql.Identifier(schema, OBJECTS_TABLE), sql.Literal(kind), sql.Literal(name), sql.Literal(stream)
        )
    )


def ensure_schema(conn: psycopg.Connection[Any], schema: str) -> None:
    """Create the schema (if missing), the state and registry tables and the helper functions; commits."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"destination-postgres:{schema}"])
        existed = cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone() is not None
        if not existed:
            cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (kind text NOT NULL, name text NOT NULL, stream text,"
                " created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name))"
            ).format(sql.Identifier(schema, OBJECTS_TABLE))
        )
        cur.execute(_state_table.create_sql(schema))
        if not existed:
            _register(cur, schema, "schema", schema)
        for statement in helper_functions_sql(schema):
            cur.execute(statement)
        for name in HELPER_FUNCTIONS:
            _register(cur, schema, "function", name)


def _existing_columns(cur: psycopg.Cursor[Any], schema: str, table: str) -> dict[str, str] | None:
    row = cur.execute("SELECT to_regclass(%s)", [sql.Identifier(schema, table).as_string(cur)]).fetchone()
    if row is None or row[0] is None:
        return None
    cur.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        [sql.Identifier(schema, table).as_string(cur)],
    )
    return dict(cur.fetchall())


def _has_unique_key(cur: psycopg.Cursor[Any], schema: str, table: str, columns: list[str]) -> bool:
    cur.execute(
        "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisunique GROUP BY i.indexrelid",
        [sql.Identifier(schema, table).as_string(cur)],
    )
    wanted = sorted(columns)
    return any(row[0] == wanted for row in cur.fetchall())


def _column_ddl(column: Column, not_null: bool, lz4: bool) -> sql.Composed:
    parts = [sql.Identifier(column.name), sql.SQL(column.pg_type)]
    if lz4 and column.pg_type in (JSONB, TEXT):
        parts.append(sql.SQL("COMPRESSION lz4"))
    if not_null:
        parts.append(sql.SQL("NOT NULL"))
    return sql.SQL(" ").join(parts)


def table_ddl(
    schema: str, table: str, columns: list[Column], key: list[Column], unique: bool, lz4: bool
) -> sql.Composed:
    """CREATE TABLE for a stream: typed columns, raw jsonb, sync metadata, primary key when merging."""
    key_names = {c.name for c in key}
    defs = [_column_ddl(c, c.name in key_names and unique, lz4) for c in columns]
    raw = Column(RAW_COLUMN, RAW_COLUMN, JSONB)
    defs.append(sql.SQL("{} NOT NULL").format(_column_ddl(raw, False, lz4)))
    defs.append(sql.SQL("{} bigint").format(sql.Identifier(HASH_COLUMN)))
    defs.append(sql.SQL("{} timestamptz NOT NULL DEFAULT now()").format(sql.Identifier(SYNCED_AT_COLUMN)))
    defs.append(sql.SQL("{} text").format(sql.Identifier(RUN_ID_COLUMN)))
    if unique and key:
        defs.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(sql.Identifier(c.name) for c in key)))
    return sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(schema, table), sql.SQL(", ").join(defs))


def _wanted_columns(stream: ConfiguredStream) -> tuple[list[Column], list[Column]]:
    columns = columns_for(stream.json_schema)
    key: list[Column] = []
    for path in stream.primary_key:
        if len(path) != 1:
            raise StreamError(
                f"stream {stream.name!r}: nested primary key paths are not supported ({path!r})", stream=stream.name
            )
        prop = path[0]
        match = next((c for c in columns if c.prop == prop), None)
        if match is None:
            match = Column(prop, column_name(prop), TEXT)
            columns.append(match)
        key.append(match)
    for first, second, name in collisions({c.prop: c.name for c in columns}):
        raise StreamError(
            f"stream {stream.name!r}: properties {first!r} and {second!r} both map to column {name!r}"
            " (PostgreSQL identifiers hold 63 bytes); rename one of them or leave one out of the selection",
            stream=stream.name,
        )
    return columns, key


def ensure_stream_table(
    conn: psycopg.Connection[Any], schema: str, stream: ConfiguredStream, lz4: bool, warnings: list[str]
) -> StreamTable:
    """Create or evolve a stream's table (one transaction) and describe it as it now is."""
    table = table_name(stream.name)
    columns, key = _wanted_columns(stream)
    mode = stream.destination_sync_mode
    if not key and mode == DestinationSyncMode.APPEND_DEDUP:
        warnings.append(f"stream {stream.name!r} has no primary key: append_dedup appends")
    unique = bool(key) and mode != DestinationSyncMode.APPEND
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"destination-postgres:{schema}.{table}"])
        existing = _existing_columns(cur, schema, table)
        if existing is None:
            cur.execute(table_ddl(schema, table, columns, key, unique, lz4))
            if key and not unique:
                cur.execute(
                    sql.SQL("CREATE INDEX ON {} ({})").format(
                        sql.Identifier(schema, table), sql.SQL(", ").join(sql.Identifier(c.name) for c in key)
                    )
                )
            _register(cur, schema, "table", table, stream.name)
            actual = columns
        else:
            if HASH_COLUMN not in existing:
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} bigint").format(
                        sql.Identifier(schema, table), sql.Identifier(HASH_COLUMN)
                    )
                )
            actual = _evolve(cur, schema, table, stream.name, columns, existing, lz4, warnings)
            key = [next(c for c in actual if c.prop == k.prop) for k in key]
            if unique and not _has_unique_key(cur, schema, table, [c.name for c in key]):
                raise StreamError(
                    f"table {schema}.{table} has no unique key on {[c.name for c in key]}, which"
                    f" {mode.value} needs; add one or drop the table",
                    stream=stream.name,
                )
    return StreamTable(stream.name, schema, table, tuple(actual), tuple(key), mode)


def _evolve(
    cur: psycopg.Cursor[Any],
    schema: str,
    table: str,
    stream: str,
    wanted: list[Column],
    existing: dict[str, str],
    lz4: bool,
    warnings: list[str],
) -> list[Column]:
    actual: list[Column] = []
    added: list[Column] = []
    for column in wanted:
        have = existing.get(column.name)
        if have is None:
            cur.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {}").format(
                    sql.Identifier(schema, table), _column_ddl(column, False, lz4)
                )
            )
            added.append(column)
            actual.append(column)
            continue
        if not same_type(have, column.pg_type):
            warnings.append(
                f"stream {stream!r}: column {column.name!r} is {have} but the schema now says {column.pg_type};"
                f" kept as {have}, values that do not fit are NULL there and kept in {RAW_COLUMN}"
            )
        actual.append(Column(column.prop, column.name, have))
    if added:
        raw = sql.Identifier(RAW_COLUMN)
        cur.execute(
            sql.SQL("UPDATE {} SET {} WHERE {} ?| {}").format(
                sql.Identifier(schema, table),
                sql.SQL(", ").join(
                    sql.SQL("{} = {}").format(sql.Identifier(c.name), projection(c.pg_type, raw, c.prop, schema))
                    for c in added
                ),
                raw,
                sql.Literal([c.prop for c in added]),
            )
        )
    return actual


def teardown(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """Drop what setup registered in `schema` (tables, functions, then its own tables and the schema if it made
    it and it is empty); returns what was dropped."""
    if is_system_schema(schema):
        raise ConfigError(f"refusing to tear down the system schema {schema!r}")
    dropped: list[str] = []
    with conn.transaction(), conn.cursor() as cur:
        registry = sql.Identifier(schema, OBJECTS_TABLE)
        row = cur.execute("SELECT to_regclass(%s)", [registry.as_string(cur)]).fetchone()
        if row is None or row[0] is None:
            return dropped
        objects = cur.execute(sql.SQL("SELECT kind, name FROM {}").format(registry)).fetchall()
        for kind, name in objects:
            if kind == "table":
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name)))
                # and the table of an overwrite a crash left unfinished (the next overwrite would drop it too)
                leftover = sql.Identifier(schema, overwrite_table_name(name))
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(leftover))
            elif kind == "function":
                cur.execute(sql.SQL("DROP FUNCTION IF EXISTS {}(text)").format(sql.Identifier(schema, name)))
            else:
                continue
            dropped.append(f"{kind} {name}")
        for name in (STATE_TABLE, OBJECTS_TABLE):
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, name)))
            dropped.append(f"table {name}")
        if ("schema", schema) in set(objects):
            try:
                with conn.transaction():
                    cur.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
                dropped.append(f"schema {schema}")
            except psycopg.errors.DependentObjectsStillExist:
                pass  # someone else's objects live there too: keep it
    return dropped

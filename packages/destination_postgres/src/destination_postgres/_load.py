"""Loading one stream: records encoded straight into COPY text, staged, then merged into the target table.

Per record the client does only `orjson.dumps` of its data plus a few byte operations; the server parses the
jsonb once (`raw::jsonb` in the merge) and projects the typed columns from it, so nested objects are never
parsed twice. A batch is applied as: COPY into a temp staging table → (only if needed) drop superseded rows
and apply tombstones → one INSERT … SELECT (with ON CONFLICT … DO UPDATE … WHERE changed, for merged modes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from psycopg import sql
from sync_protocol import SourceStateMessage, StreamError

from ._ddl import StreamTable
from ._naming import RAW_COLUMN, RUN_ID_COLUMN, SYNCED_AT_COLUMN, overwrite_table_name
from ._types import projection

STAGE_TABLE = "_sync_stage"
COPY_CHUNK_BYTES = 1024 * 1024


def prepare_session(conn: psycopg.Connection[Any], lz4: bool) -> None:
    """Session settings every loading connection needs, and its temp staging table; commits."""
    conn.execute("SET TIME ZONE 'UTC'")
    if lz4:
        conn.execute("SET default_toast_compression = lz4")
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (seq bigint NOT NULL, deleted boolean NOT NULL, pk text,"
            " raw text NOT NULL) ON COMMIT DELETE ROWS"
        ).format(sql.Identifier(STAGE_TABLE))
    )
    conn.commit()


def _nul_free(value: Any) -> Any:
    """`value` with NUL characters replaced by U+FFFD: PostgreSQL text and jsonb cannot hold NUL."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_nul_free(k): _nul_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nul_free(v) for v in value]
    return value


@dataclass
class Batch:
    """Encoded rows of one stream waiting for COPY, plus the checkpoints that arrived among them."""

    rows: bytearray = field(default_factory=bytearray)
    count: int = 0
    has_deletes: bool = False
    has_duplicates: bool = False
    keys: set[Any] = field(default_factory=set)
    states: list[SourceStateMessage] = field(default_factory=list)


class RowEncoder:
    """Turns one record into a line of COPY text `seq \\t deleted \\t pk-json \\t raw-json`. The hot path."""

    __slots__ = ("_key_props", "_stream")

    def __init__(self, stream: str, key_props: tuple[str, ...]) -> None:
        self._stream = stream
        self._key_props = key_props

    def add(self, batch: Batch, data: dict[str, Any], deleted: bool) -> None:
        """Append a record to `batch`; `StreamError` if it lacks a primary key value."""
        raw = orjson.dumps(data)
        if b"\\u0000" in raw:
            raw = orjson.dumps(_nul_free(data))
        if b"\\" in raw:
            raw = raw.replace(b"\\", b"\\\\")
        if self._key_props:
            values = [data.get(p) for p in self._key_props]
            if None in values:
                raise StreamError(
                    f"stream {self._stream!r}: a record has no value for primary key {list(self._key_props)}",
                    stream=self._stream,
                )
            pk = orjson.dumps(values)
            if b"\\" in pk:
                pk = pk.replace(b"\\", b"\\\\")
            if pk in batch.keys:
                batch.has_duplicates = True
            else:
                batch.keys.add(pk)
        else:
            pk = b"\\N"
        if deleted:
            batch.has_deletes = True
        batch.rows += b"%d\t%s\t%s\t%s\n" % (batch.count, b"t" if deleted else b"f", pk, raw)
        batch.count += 1


class StreamLoader:
    """The SQL of one stream's table, and how to apply a batch to it inside the caller's transaction."""

    def __init__(self, table: StreamTable, run_id: str) -> None:
        self.table = table
        self.run_id = run_id
        self.overwrite_table = overwrite_table_name(table.table)

    def target(self, overwriting: bool) -> sql.Identifier:
        """The table batches go to: the stream's table, or the new one an overwrite builds."""
        return sql.Identifier(self.table.schema, self.overwrite_table if overwriting else self.table.table)

    def begin_overwrite(self, cur: psycopg.Cursor[Any]) -> None:
        """Create the table the overwrite loads into: the same shape as the live one, empty."""
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.target(True)))
        cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(self.target(True), self.target(False)))

    def swap(self, cur: psycopg.Cursor[Any]) -> None:
        """Replace the live table by the loaded one (readers see the old table until commit, never an empty one)."""
        cur.execute(sql.SQL("DROP TABLE {}").format(self.target(False)))
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(self.target(True), sql.Identifier(self.table.table)))

    def apply(self, cur: psycopg.Cursor[Any], batch: Batch, overwriting: bool) -> None:
        """COPY the batch into staging and merge it into the target."""
        stage = sql.Identifier(STAGE_TABLE)
        data = memoryview(batch.rows)
        with cur.copy(sql.SQL("COPY {} (seq, deleted, pk, raw) FROM STDIN").format(stage)) as copy:
            for start in range(0, len(data), COPY_CHUNK_BYTES):
                copy.write(data[start : start + COPY_CHUNK_BYTES])
        target = self.target(overwriting)
        unique = self.table.unique
        if batch.has_duplicates and unique:
            cur.execute(sql.SQL("DELETE FROM {s} a USING {s} b WHERE a.pk = b.pk AND a.seq < b.seq").format(s=stage))
        if batch.has_deletes and self.table.primary_key:
            if not unique:
                cur.execute(
                    sql.SQL("DELETE FROM {s} a USING {s} b WHERE b.deleted AND a.pk = b.pk AND a.seq < b.seq").format(
                        s=stage
                    )
                )
            cur.execute(self._delete_sql(target))
        cur.execute(self._insert_sql(target), {"run_id": self.run_id})
        cur.execute(sql.SQL("TRUNCATE {}").format(stage))

    def _delete_sql(self, target: sql.Identifier) -> sql.Composed:
        pk_json = sql.SQL("s.pk::jsonb")
        matches = sql.SQL(" AND ").join(
            sql.SQL("t.{} = {}").format(sql.Identifier(c.name), projection(c.pg_type, pk_json, i, self.table.schema))
            for i, c in enumerate(self.table.primary_key)
        )
        return sql.SQL("DELETE FROM {} t USING {} s WHERE s.deleted AND {}").format(
            target, sql.Identifier(STAGE_TABLE), matches
        )

    def _insert_sql(self, target: sql.Identifier) -> sql.Composed:
        columns = self.table.columns
        j = sql.SQL("s.j")
        names = sql.SQL(", ").join(
            [sql.Identifier(c.name) for c in columns]
            + [sql.Identifier(RAW_COLUMN), sql.Identifier(SYNCED_AT_COLUMN), sql.Identifier(RUN_ID_COLUMN)]
        )
        values = sql.SQL(", ").join(
            [projection(c.pg_type, j, c.prop, self.table.schema) for c in columns]
            + [j, sql.SQL("now()"), sql.Placeholder("run_id")]
        )
        query = sql.SQL(
            "INSERT INTO {target} AS t ({names}) SELECT {values}"
            " FROM (SELECT raw::jsonb AS j FROM {stage} WHERE NOT deleted OFFSET 0) AS s"
        ).format(target=target, names=names, values=values, stage=sql.Identifier(STAGE_TABLE))
        if not self.table.unique:
            return query
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(name))
            for name in [c.name for c in columns if c not in self.table.primary_key]
            + [RAW_COLUMN, SYNCED_AT_COLUMN, RUN_ID_COLUMN]
        )
        return sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET {} WHERE t.{raw} IS DISTINCT FROM EXCLUDED.{raw}").format(
            query,
            sql.SQL(", ").join(sql.Identifier(c.name) for c in self.table.primary_key),
            updates,
            raw=sql.Identifier(RAW_COLUMN),
        )

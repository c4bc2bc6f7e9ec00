"""Loading one stream: records' original bytes go straight into COPY text, staged, then merged into the table.

The client never parses a record: the SDK hands over the original bytes of its `data` (`RawRecord`), and per
record the client only reads the primary key (msgspec, skipping everything else) and escapes backslashes for
COPY. The server parses each record's jsonb once (`raw::jsonb` in the merge) and projects the typed columns from
it, so nested objects are never parsed twice. Measured against decoding the typed fields on the client with
msgspec (bench/bench_postgres_load.py), this was the faster of the two on a 2-core machine: the client's CPU is
the scarce part.

A batch is applied as: COPY into a temp staging table → (only if needed) drop rows superseded within the batch,
apply tombstones, drop rows whose stored copy is byte-identical (`_sync_hash`, only for tables that held rows
before this run) → one INSERT … SELECT (with ON CONFLICT … DO UPDATE … WHERE changed, for merged modes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
import psycopg
from psycopg import sql
from sync_protocol import SourceStateMessage, StreamError

from ._ddl import StreamTable
from ._naming import HASH_COLUMN, RAW_COLUMN, RUN_ID_COLUMN, SYNCED_AT_COLUMN, overwrite_table_name
from ._types import projection

STAGE_TABLE = "_sync_stage"
COPY_CHUNK_BYTES = 1024 * 1024
_NULL = msgspec.Raw(b"null")


def prepare_session(conn: psycopg.Connection[Any], lz4: bool) -> None:
    """Session settings every loading connection needs, and its temp staging table; commits.

    Staged rows up to a page are kept inline and uncompressed: they live for one batch, and compressing them
    (then decompressing them for the merge) cost more than it saved.
    """
    conn.execute("SET TIME ZONE 'UTC'")
    if lz4:
        conn.execute("SET default_toast_compression = lz4")
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (seq bigint NOT NULL, deleted boolean NOT NULL, pk text,"
            " raw text NOT NULL) WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS"
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


def _copy_text(value: bytes) -> bytes:
    """JSON bytes as one COPY text field: backslashes doubled; tabs and CRs (only possible between JSON tokens,
    never inside strings) become spaces; `\\u0000` (which jsonb refuses) becomes U+FFFD."""
    if b"\\" in value:
        if b"\\u0000" in value:
            value = orjson.dumps(_nul_free(orjson.loads(value)))
        value = value.replace(b"\\", b"\\\\")
    if b"\t" in value or b"\r" in value:
        value = value.replace(b"\t", b" ").replace(b"\r", b" ")
    return value


@dataclass
class Batch:
    """Encoded rows of one stream waiting for COPY, plus the checkpoints that arrived among them.

    Rows after the last checkpoint are not covered by any: committing them and then crashing would make the
    source send them again (duplicates in `append`). `split_at_last_state` keeps them for the next batch.
    """

    rows: bytearray = field(default_factory=bytearray)
    count: int = 0
    has_deletes: bool = False
    has_duplicates: bool = False
    keys: set[bytes] = field(default_factory=set)
    states: list[SourceStateMessage] = field(default_factory=list)
    covered_bytes: int = 0
    """Length of `rows` when the last state arrived."""
    covered_count: int = 0
    tail_keys: list[bytes] = field(default_factory=list)
    """Keys of the rows after the last state."""

    def add_state(self, state: SourceStateMessage) -> None:
        """A checkpoint: it covers every row before it."""
        self.states.append(state)
        self.covered_bytes = len(self.rows)
        self.covered_count = self.count
        self.tail_keys.clear()

    @property
    def uncovered(self) -> int:
        """Rows after the last checkpoint."""
        return self.count - self.covered_count

    def split_at_last_state(self) -> Batch:
        """Cut the rows after the last checkpoint off into a new batch (returned); this one keeps the rest."""
        tail = Batch(
            rows=bytearray(self.rows[self.covered_bytes :]),
            count=self.count - self.covered_count,
            has_deletes=self.has_deletes,
            keys=set(self.tail_keys),
            tail_keys=self.tail_keys,
        )
        del self.rows[self.covered_bytes :]
        self.count = self.covered_count
        self.tail_keys = []
        return tail


class RowEncoder:
    """Turns one record's data bytes into a line of COPY text `seq \\t deleted \\t pk-json \\t raw-json`."""

    __slots__ = ("_decode_key", "_key_props", "_seq", "_single", "_stream")

    def __init__(self, stream: str, key_props: tuple[str, ...]) -> None:
        self._stream = stream
        self._key_props = key_props
        self._single = len(key_props) == 1
        self._seq = 0
        """Row order across batches (a batch's rows may move to the next one)."""
        fields = [(f"k{i}", msgspec.Raw, _NULL) for i in range(len(key_props))]
        key_type = msgspec.defstruct("Key", fields, rename={f"k{i}": p for i, p in enumerate(key_props)})
        self._decode_key = msgspec.json.Decoder(key_type).decode

    def _key(self, data: bytes) -> bytes:
        try:
            key = self._decode_key(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StreamError(f"stream {self._stream!r}: a record's data is not valid JSON: {exc}") from None
        if self._single:
            pk = b"[%s]" % key.k0  # type: ignore[attr-defined]
        else:
            pk = b"[" + b",".join([bytes(getattr(key, f"k{i}")) for i in range(len(self._key_props))]) + b"]"
        if b"null" in pk or b"\\" in pk or b" " in pk or b"\t" in pk or b"\n" in pk or b"\r" in pk:
            values = orjson.loads(pk)
            if None in values:
                raise StreamError(
                    f"stream {self._stream!r}: a record has no value for primary key {list(self._key_props)}",
                    stream=self._stream,
                )
            pk = orjson.dumps(values)  # one spelling per key, so duplicates are found
        return pk

    def add(self, batch: Batch, data: bytes, deleted: bool) -> None:
        """Append a record to `batch`; `StreamError` if it lacks a primary key value."""
        if self._key_props:
            pk = self._key(data)
            keys = batch.keys
            if pk in keys:
                batch.has_duplicates = True
            else:
                keys.add(pk)
            batch.tail_keys.append(pk)
            if b"\\" in pk:
                pk = pk.replace(b"\\", b"\\\\")
        else:
            pk = b"\\N"
        if deleted:
            batch.has_deletes = True
        if b"\\" in data or b"\t" in data or b"\r" in data:
            data = _copy_text(data)
        rows = batch.rows
        rows += b"%d\t%s\t%s\t" % (self._seq, b"t" if deleted else b"f", pk)
        rows += data
        rows += b"\n"
        batch.count += 1
        self._seq += 1


class StreamLoader:
    """The SQL of one stream's table, and how to apply a batch to it inside the caller's transaction."""

    def __init__(self, table: StreamTable, run_id: str) -> None:
        self.table = table
        self.run_id = run_id
        self.overwrite_table = overwrite_table_name(table.table)
        self._insert: dict[tuple[bool, bool], sql.Composed] = {}
        self.plain_insert = False
        """Try a plain INSERT first (set by the caller for tables that held no rows when the run began)."""

    def target(self, overwriting: bool) -> sql.Identifier:
        """The table batches go to: the stream's table, or the new one an overwrite builds."""
        return sql.Identifier(self.table.schema, self.overwrite_table if overwriting else self.table.table)

    def has_rows(self, cur: psycopg.Cursor[Any]) -> bool:
        """Whether the stream's table holds any row (then unchanged rows are worth looking for)."""
        return cur.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(self.target(False))).fetchone() == (True,)

    def begin_overwrite(self, cur: psycopg.Cursor[Any]) -> None:
        """Create the table an overwrite loads into: the same shape as the live one, empty (caller commits)."""
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.target(True)))
        cur.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(self.target(True), self.target(False)))

    def drop_overwrite(self, cur: psycopg.Cursor[Any]) -> None:
        """Abandon an overwrite: drop the table it was loading (the live table was never touched)."""
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.target(True)))

    def swap(self, cur: psycopg.Cursor[Any]) -> None:
        """Replace the live table by the loaded one (readers see the old table until commit, never an empty one)."""
        cur.execute(sql.SQL("DROP TABLE {}").format(self.target(False)))
        cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(self.target(True), sql.Identifier(self.table.table)))

    def apply(self, cur: psycopg.Cursor[Any], batch: Batch, overwriting: bool, skip_unchanged: bool) -> None:
        """COPY the batch into staging and merge it into the target.

        `skip_unchanged` first drops staged rows whose stored row has the same `_sync_hash` (a re-run of
        unchanged data then costs a hash and an index probe per row instead of a jsonb parse and an update).
        """
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
        if skip_unchanged and unique:
            # a nested loop over the primary key index: the stage is small, the table may be huge
            cur.execute("SET LOCAL enable_hashjoin = off")
            cur.execute("SET LOCAL enable_mergejoin = off")
            cur.execute(self._unchanged_sql(target))
            cur.execute("RESET enable_hashjoin")
            cur.execute("RESET enable_mergejoin")
        if unique and self.plain_insert:
            # into a table that was empty when this run began, keys rarely repeat across batches: a plain INSERT
            # skips ON CONFLICT's speculative insertion; the first repeated key falls back for good
            try:
                with cur.connection.transaction():
                    cur.execute(self._statement(target, overwriting, plain=True))
            except psycopg.errors.UniqueViolation:
                self.plain_insert = False
        if not (unique and self.plain_insert):
            cur.execute(self._statement(target, overwriting, plain=False))
        cur.execute(sql.SQL("TRUNCATE {}").format(stage))

    def _statement(self, target: sql.Identifier, overwriting: bool, plain: bool) -> sql.Composed:
        insert = self._insert.get((overwriting, plain))
        if insert is None:
            insert = self._insert[(overwriting, plain)] = self._insert_sql(target, merge=not plain)
        return insert

    def _key_matches(self) -> sql.Composable:
        pk_json = sql.SQL("s.pk::jsonb")
        return sql.SQL(" AND ").join(
            sql.SQL("t.{} = {}").format(sql.Identifier(c.name), projection(c.pg_type, pk_json, i, self.table.schema))
            for i, c in enumerate(self.table.primary_key)
        )

    def _delete_sql(self, target: sql.Identifier) -> sql.Composed:
        return sql.SQL("DELETE FROM {} t USING {} s WHERE s.deleted AND {}").format(
            target, sql.Identifier(STAGE_TABLE), self._key_matches()
        )

    def _unchanged_sql(self, target: sql.Identifier) -> sql.Composed:
        return sql.SQL(
            "DELETE FROM {} s USING {} t WHERE NOT s.deleted AND {} AND t.{} = hashtextextended(s.raw, 0)"
        ).format(sql.Identifier(STAGE_TABLE), target, self._key_matches(), sql.Identifier(HASH_COLUMN))

    def _insert_sql(self, target: sql.Identifier, *, merge: bool) -> sql.Composed:
        columns = self.table.columns
        j = sql.SQL("s.j")
        names = sql.SQL(", ").join(
            [sql.Identifier(c.name) for c in columns]
            + [sql.Identifier(n) for n in (RAW_COLUMN, HASH_COLUMN, SYNCED_AT_COLUMN, RUN_ID_COLUMN)]
        )
        values = sql.SQL(", ").join(
            [projection(c.pg_type, j, c.prop, self.table.schema) for c in columns]
            + [j, sql.SQL("s.h"), sql.SQL("now()"), sql.Literal(self.run_id)]
        )
        query = sql.SQL(
            "INSERT INTO {target} AS t ({names}) SELECT {values}"
            " FROM (SELECT raw::jsonb AS j, hashtextextended(raw, 0) AS h FROM {stage} WHERE NOT deleted OFFSET 0) AS s"
        ).format(target=target, names=names, values=values, stage=sql.Identifier(STAGE_TABLE))
        if not self.table.unique or not merge:
            return query
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(name))
            for name in [c.name for c in columns if c not in self.table.primary_key]
            + [RAW_COLUMN, HASH_COLUMN, SYNCED_AT_COLUMN, RUN_ID_COLUMN]
        )
        return sql.SQL("{} ON CONFLICT ({}) DO UPDATE SET {} WHERE t.{h} IS DISTINCT FROM EXCLUDED.{h}").format(
            query,
            sql.SQL(", ").join(sql.Identifier(c.name) for c in self.table.primary_key),
            updates,
            h=sql.Identifier(HASH_COLUMN),
        )

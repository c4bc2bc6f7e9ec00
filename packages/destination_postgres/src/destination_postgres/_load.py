"""Loading one stream: a batch is COPYed into the connection's staging table, then merged into the stream's table.

A batch is applied as: COPY (binary) into a temp staging table → (only if needed) drop rows superseded within
the batch, apply tombstones, drop rows whose stored copy is byte-identical (`_sync_hash`, only for tables that
held rows before this run) → one INSERT … SELECT (with ON CONFLICT … DO UPDATE … WHERE changed, for merged
modes). Measured against decoding the typed fields on the client with msgspec (bench/bench_postgres_load.py),
projecting them on the server was the faster of the two on a 2-core machine: the client's CPU is the scarce part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from sync_protocol import StreamError

from ._batch import COPY_SIGNATURE, COPY_TRAILER, Batch
from ._ddl import StreamTable
from ._merge import MergeSql, create_stage_sql

COPY_CHUNK_BYTES = 1024 * 1024


def prepare_session(conn: psycopg.Connection[Any], lz4: bool) -> None:
    """Session settings every loading connection needs, and its temp staging table; commits."""
    conn.execute("SET TIME ZONE 'UTC'")
    if lz4:
        conn.execute("SET default_toast_compression = lz4")
    conn.execute(create_stage_sql())
    conn.commit()


def tables_with_rows(conn: psycopg.Connection[Any], tables: list[StreamTable]) -> set[str]:
    """The streams whose table holds any row (asked once, before the first batch is encoded)."""
    held: set[str] = set()
    for table in tables:
        query = sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table.schema, table.table))
        if conn.execute(query).fetchone() == (True,):
            held.add(table.stream)
    return held


@dataclass
class Counts:
    """Rows a merge inserted, updated and deleted (committed or not: the caller knows)."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.inserted += other.inserted
        self.updated += other.updated
        self.deleted += other.deleted
        return self


class StreamLoader:
    """One stream's table: how to apply a batch to it inside the caller's transaction, and overwrite's DDL."""

    def __init__(self, table: StreamTable, run_id: str) -> None:
        self.table = table
        self.sql = MergeSql(table, run_id)
        self.plain_insert = False
        """Try a plain INSERT first (for tables that held no rows when the run began: `held_rows`)."""
        self.keyless = True
        """New batches may leave their keys out (the calling thread reads it); cleared for good once plain
        INSERTs are over for this table, since every merge then needs the keys."""
        self.one_pass = True
        """Project with one `jsonb_to_record` per row; cleared for good at the first value that does not fit."""

    def target(self, overwriting: bool) -> sql.Identifier:
        """The table batches go to: the stream's table, or the new one an overwrite builds."""
        return self.sql.target(overwriting)

    def held_rows(self, held: bool) -> None:
        """Whether the stream's table held rows when the run began: then unchanged rows are worth looking for and
        every batch needs its keys; else plain INSERTs of batches without keys come first."""
        self.plain_insert = self.keyless = not held

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

    def apply(self, cur: psycopg.Cursor[Any], batch: Batch, overwriting: bool, skip_unchanged: bool) -> Counts:
        """COPY the batch into staging and merge it into the target; what the merge did.

        `skip_unchanged` first drops staged rows whose stored row has the same `_sync_hash` (a re-run of
        unchanged data then costs a hash and an index probe per row instead of a jsonb parse and an update).
        A batch without keys goes straight into a plain INSERT; anything else that needs its keys has the server
        fill them in first.
        """
        statements = self.sql
        with cur.copy(statements.copy()) as copy:
            copy.write(COPY_SIGNATURE)
            data = memoryview(batch.rows)
            for start in range(0, len(data), COPY_CHUNK_BYTES):
                copy.write(data[start : start + COPY_CHUNK_BYTES])
            copy.write(COPY_TRAILER)
        target = self.target(overwriting)
        unique = self.table.unique
        keyless = not batch.keyed and bool(self.table.primary_key)
        if keyless and (batch.has_deletes or skip_unchanged or not (unique and self.plain_insert)):
            self._fill_keys(cur)
            keyless = False
        counts = Counts()
        if unique and not keyless and (batch.has_duplicates or not batch.keyed):  # unknown: keys came late
            cur.execute(statements.drop_superseded())
        if batch.has_deletes and self.table.primary_key:
            if not unique:
                cur.execute(statements.drop_before_tombstones())
            cur.execute(statements.delete(target))
            counts.deleted = max(cur.rowcount, 0)
        if skip_unchanged and unique:
            # a nested loop over the primary key index: the stage is small, the table may be huge
            cur.execute("SET LOCAL enable_hashjoin = off")
            cur.execute("SET LOCAL enable_mergejoin = off")
            cur.execute(statements.drop_unchanged(target))
            cur.execute("RESET enable_hashjoin")
            cur.execute("RESET enable_mergejoin")
        counts += self._insert(cur, overwriting, keyless)
        cur.execute(statements.truncate_stage())
        return counts

    def _fill_keys(self, cur: psycopg.Cursor[Any]) -> None:
        """Compute the staged rows' keys on the server; `StreamError` if a record has no value for one."""
        cur.execute(self.sql.fill_keys())
        if cur.execute(self.sql.has_missing_key()).fetchone() == (True,):
            raise self._missing_key()

    def _missing_key(self) -> StreamError:
        props = [c.prop for c in self.table.primary_key]
        stream = self.table.stream
        return StreamError(f"stream {stream!r}: a record has no value for primary key {props}", stream=stream)

    def _insert(self, cur: psycopg.Cursor[Any], overwriting: bool, keyless: bool) -> Counts:
        """Run the cheapest insert that works: a plain INSERT into a table that was empty when this run began
        (keys rarely repeat across batches; the first repeated key falls back to the upsert for good), the
        one-pass projection (the first value that does not fit falls back to the tolerant one for good).
        A batch without keys gets them from the server when it falls back."""
        unique = self.table.unique
        while True:
            plain = unique and self.plain_insert
            upsert = unique and not plain
            statement = self.sql.insert(overwriting, upsert=upsert, one_pass=self.one_pass)
            try:
                if plain or self.one_pass:
                    with cur.connection.transaction():  # a savepoint: a fallback retries the batch
                        cur.execute(statement)
                else:
                    cur.execute(statement)
            except psycopg.errors.UniqueViolation:
                if not plain:
                    raise
                self.plain_insert = self.keyless = False
                if keyless:
                    self._fill_keys(cur)
                    cur.execute(self.sql.drop_superseded())
                    keyless = False
                continue
            except psycopg.errors.NotNullViolation:
                if keyless:  # a key that is missing gets the client's message; a wrong type PostgreSQL's
                    self._fill_keys(cur)
                raise
            except psycopg.errors.DataError:
                if not self.one_pass:
                    raise
                self.one_pass = False
                continue
            if not upsert:
                return Counts(inserted=max(cur.rowcount, 0))
            row = cur.fetchone()
            assert row is not None
            return Counts(inserted=row[0], updated=row[1])

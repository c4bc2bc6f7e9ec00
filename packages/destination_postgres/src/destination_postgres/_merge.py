"""The SQL that merges a staged batch into a stream's table: insert or upsert, tombstones, unchanged rows.

Each statement reads the temp staging table `(seq, deleted, pk, raw)`. The server parses each record's jsonb
once (`raw::jsonb`) and projects the typed columns from it, so nested objects are never parsed twice. Inserts
report what they did: a plain INSERT by its row count, an upsert by one row `(inserted, updated)` counted from
`RETURNING (xmax = 0)` (a row version made by ON CONFLICT's update carries the updating transaction in xmax).
"""

from __future__ import annotations

from psycopg import sql

from ._ddl import StreamTable
from ._naming import HASH_COLUMN, RAW_COLUMN, RUN_ID_COLUMN, SYNCED_AT_COLUMN, overwrite_table_name
from ._types import one_pass_projection, projection, record_type

STAGE_TABLE = "_sync_stage"
_STAGE = sql.Identifier(STAGE_TABLE)
_METADATA = (RAW_COLUMN, HASH_COLUMN, SYNCED_AT_COLUMN, RUN_ID_COLUMN)


def create_stage_sql() -> sql.Composed:
    """The connection's staging table. Rows up to a page stay inline and uncompressed: they live for one batch,
    and compressing them (then decompressing them for the merge) cost more than it saved."""
    return sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {} (seq bigint NOT NULL, deleted boolean NOT NULL, pk text,"
        " raw text NOT NULL) WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS"
    ).format(_STAGE)


class MergeSql:
    """The statements of one stream's table, built once per target and shape."""

    def __init__(self, table: StreamTable, run_id: str) -> None:
        self.table = table
        self.run_id = run_id
        self.overwrite_table = overwrite_table_name(table.table)
        self._inserts: dict[tuple[bool, bool, bool], sql.Composed] = {}

    def target(self, overwriting: bool) -> sql.Identifier:
        """The table batches go to: the stream's table, or the new one an overwrite builds."""
        return sql.Identifier(self.table.schema, self.overwrite_table if overwriting else self.table.table)

    def copy(self) -> sql.Composed:
        """COPY a batch (binary format) into the staging table."""
        return sql.SQL("COPY {} (seq, deleted, pk, raw) FROM STDIN (FORMAT binary)").format(_STAGE)

    def truncate_stage(self) -> sql.Composed:
        return sql.SQL("TRUNCATE {}").format(_STAGE)

    def fill_keys(self) -> sql.Composed:
        """Key the staged rows that came without one: a JSON array of the key's values, as the client makes it."""
        values = sql.SQL(", ").join(
            sql.SQL("raw::jsonb -> {}").format(sql.Literal(c.prop)) for c in self.table.primary_key
        )
        return sql.SQL("UPDATE {} SET pk = jsonb_build_array({})::text WHERE pk IS NULL").format(_STAGE, values)

    def has_missing_key(self) -> sql.Composed:
        """Whether a staged row has no value (or null) for a key property."""
        return sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE pk::jsonb @> '[null]')").format(_STAGE)

    def drop_superseded(self) -> sql.Composed:
        """Keep only the last staged row of each key."""
        return sql.SQL("DELETE FROM {s} a USING {s} b WHERE a.pk = b.pk AND a.seq < b.seq").format(s=_STAGE)

    def drop_before_tombstones(self) -> sql.Composed:
        """Drop staged rows a later tombstone of their key deletes (for tables that keep every version)."""
        return sql.SQL("DELETE FROM {s} a USING {s} b WHERE b.deleted AND a.pk = b.pk AND a.seq < b.seq").format(
            s=_STAGE
        )

    def delete(self, target: sql.Identifier) -> sql.Composed:
        """Delete the target's rows that a staged tombstone names (its row count = rows deleted)."""
        return sql.SQL("DELETE FROM {} t USING {} s WHERE s.deleted AND {}").format(target, _STAGE, self._key_matches())

    def drop_unchanged(self, target: sql.Identifier) -> sql.Composed:
        """Drop staged rows whose stored row has the same `_sync_hash` (nothing to write for them)."""
        return sql.SQL(
            "DELETE FROM {} s USING {} t WHERE NOT s.deleted AND {} AND t.{} = hashtextextended(s.raw, 0)"
        ).format(_STAGE, target, self._key_matches(), sql.Identifier(HASH_COLUMN))

    def insert(self, overwriting: bool, *, upsert: bool, one_pass: bool) -> sql.Composed:
        """INSERT … SELECT of the staged records; with `upsert` (tables merged by key), ON CONFLICT … DO UPDATE
        only where the row changed, returning one row `(inserted, updated)`."""
        key = (overwriting, upsert, one_pass)
        statement = self._inserts.get(key)
        if statement is None:
            target = self.target(overwriting)
            statement = self._inserts[key] = self._insert_sql(target, upsert=upsert, one_pass=one_pass)
        return statement

    def _key_matches(self) -> sql.Composable:
        pk_json = sql.SQL("s.pk::jsonb")
        return sql.SQL(" AND ").join(
            sql.SQL("t.{} = {}").format(sql.Identifier(c.name), projection(c.pg_type, pk_json, i, self.table.schema))
            for i, c in enumerate(self.table.primary_key)
        )

    def _insert_sql(self, target: sql.Identifier, *, upsert: bool, one_pass: bool) -> sql.Composed:
        table = self.table
        j = sql.SQL("s.j")
        fields: list[sql.Composable] = []
        values: list[sql.Composable] = []
        for column in table.columns:
            kind = record_type(column.prop, column.pg_type) if one_pass else None
            if kind is None:
                values.append(projection(column.pg_type, j, column.prop, table.schema))
            else:
                fields.append(sql.SQL("{} {}").format(sql.Identifier(column.prop), sql.SQL(kind)))
                values.append(one_pass_projection(column.pg_type, sql.Identifier("x", column.prop)))
        names = sql.SQL(", ").join(sql.Identifier(n) for n in [*(c.name for c in table.columns), *_METADATA])
        values += [j, sql.SQL("s.h"), sql.SQL("now()"), sql.Literal(self.run_id)]
        source = sql.SQL(
            "(SELECT raw::jsonb AS j, hashtextextended(raw, 0) AS h FROM {} WHERE NOT deleted OFFSET 0) AS s"
        ).format(_STAGE)
        if fields:
            source = sql.SQL("{}, jsonb_to_record(s.j) AS x({})").format(source, sql.SQL(", ").join(fields))
        query = sql.SQL("INSERT INTO {} AS t ({}) SELECT {} FROM {}").format(
            target, names, sql.SQL(", ").join(values), source
        )
        if not upsert:
            return query
        updates = sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(name))
            for name in [c.name for c in table.columns if c not in table.primary_key] + list(_METADATA)
        )
        return sql.SQL(
            "WITH merged AS ({} ON CONFLICT ({}) DO UPDATE SET {} WHERE t.{h} IS DISTINCT FROM EXCLUDED.{h}"
            " RETURNING t.xmax = 0 AS inserted)"
            " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
        ).format(
            query,
            sql.SQL(", ").join(sql.Identifier(c.name) for c in table.primary_key),
            updates,
            h=sql.Identifier(HASH_COLUMN),
        )

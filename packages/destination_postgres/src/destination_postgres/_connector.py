"""`PostgresDestination`: check, setup, teardown and write, wired onto the SDK."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import psycopg
from pydantic import BaseModel
from sync_protocol import (
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusValue,
    Log,
    LogLevel,
    LogMessage,
    Message,
    SourceStateMessage,
    StartMessage,
    StreamError,
    StreamStatusMessage,
    StreamStatusValue,
    error_message,
)
from sync_protocol.sdk import Connector, Inbox, RawRecord, Redactor

from . import _ddl, _state_table
from ._config import PostgresConfig
from ._ddl import StreamTable
from ._errors import Phase, map_psycopg_errors, worth_retrying
from ._load import tables_with_rows
from ._naming import collisions, table_name
from ._pool import ConnectionPool
from ._writer import WriteSession

log = logging.getLogger("destination_postgres")


def _log(level: LogLevel, text: str) -> LogMessage:
    return LogMessage(log=Log(level=level, message=text))


def connect(config: PostgresConfig, redactor: Redactor, *, retry: bool = True) -> psycopg.Connection[Any]:
    """The first connection of a command, retried for `connect_retry_s` while the server refuses or does not
    answer (a destination restarted during an outage waits for the server); then a `global` error that says
    what to do."""
    conninfo = config.conninfo()
    deadline = time.monotonic() + (config.connect_retry_s if retry else 0)
    delay = 0.25
    while True:
        try:
            return psycopg.connect(conninfo)
        except psycopg.Error as exc:
            if not worth_retrying(exc) or time.monotonic() + delay > deadline:
                with map_psycopg_errors(redactor, phase=Phase.START):
                    raise
            log.info("PostgreSQL is not reachable yet; retrying in %.2g s", delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


class PostgresDestination(Connector[PostgresConfig]):
    """Typed tables from the catalog, COPY + merge, data and checkpoint in one transaction."""

    config_model: ClassVar[type[BaseModel]] = PostgresConfig
    capabilities: ClassVar[dict[str, Any]] = {"setup_in_write": True}
    """`write` prepares the schema and tables as `setup` does, so a sync need not start `setup` first."""

    def check(self, config: PostgresConfig) -> ConnectionStatus:
        """Connect and verify we may create tables in the target schema (or create the schema)."""
        schema = config.target_schema
        redactor = config.redactor()
        with connect(config, redactor, retry=False) as conn, map_psycopg_errors(redactor):
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s),"
                " has_database_privilege(current_database(), 'CREATE'), current_user",
                [schema],
            ).fetchone()
            assert row is not None
            exists, can_create_schema, user = row
            if exists:
                allowed = conn.execute("SELECT has_schema_privilege(%s, 'USAGE,CREATE')", [schema]).fetchone()
                if not (allowed and allowed[0]):
                    return ConnectionStatus(
                        status=ConnectionStatusValue.FAILED,
                        message=f"user {user!r} may not create tables in schema {schema!r}",
                    )
            elif not can_create_schema:
                return ConnectionStatus(
                    status=ConnectionStatusValue.FAILED,
                    message=f"schema {schema!r} does not exist and user {user!r} may not create it",
                )
        return ConnectionStatus(status=ConnectionStatusValue.SUCCEEDED)

    def setup(self, config: PostgresConfig, catalog: ConfiguredCatalog) -> Iterable[Message]:
        """Create or evolve the schema, the state table and one table per stream (idempotent)."""
        with connect(config, config.redactor()) as conn:
            tables, messages = _prepare(conn, config, catalog)
            yield from messages
            for table in tables.values():
                yield _log(LogLevel.INFO, f"stream {table.stream!r} → {table.schema}.{table.table}")

    def teardown(self, config: PostgresConfig) -> Iterable[Message]:
        """Drop what setup created in the target schema (never a system schema, never others' tables)."""
        redactor = config.redactor()
        with connect(config, redactor) as conn, map_psycopg_errors(redactor):
            dropped = _ddl.teardown(conn, config.target_schema)
        yield _log(LogLevel.INFO, f"dropped: {', '.join(dropped) if dropped else 'nothing'}")

    def write_raw(
        self, config: PostgresConfig, catalog: ConfiguredCatalog, messages: Iterator[Message | RawRecord]
    ) -> Iterable[Message]:
        """Load records; echo each state once its stream's rows are committed with it; pass the rest through.

        Input is read and decoded from the start, while the connection and the tables are being prepared, so the
        first batches are ready when the first connection is."""
        redactor = config.redactor()
        inbox = Inbox(messages)
        conn: psycopg.Connection[Any] | None = None
        pool: ConnectionPool | None = None
        session: WriteSession | None = None
        try:
            conn = connect(config, redactor)
            tables, notes = _prepare(conn, config, catalog)
            yield from notes
            with map_psycopg_errors(redactor):
                stored = _state_table.read_states(conn, config.target_schema)
                lz4 = _ddl.lz4_available(conn)
                populated = tables_with_rows(conn, list(tables.values()))
                conn.commit()
            pool = ConnectionPool(config, redactor, lz4, config.parallel_streams, conn)
            session = WriteSession(config, tables, stored, pool, redactor, populated)
            session.failed |= {s.name for s in catalog.streams if s.name not in tables}
            session.run_id = uuid.uuid4().hex
            yield from _write_loop(session, inbox, min(0.2, config.max_state_delay_s or 0.2))
        finally:
            inbox.stop()
            if session is not None:
                session.abort()
            if pool is not None:
                pool.close()
            if conn is not None:
                conn.close()


_TICK_EVERY = 64
"""Records between checks for checkpoints that waited too long (the input going quiet checks at once)."""


def _write_loop(session: WriteSession, inbox: Inbox[Message | RawRecord], idle_s: float) -> Iterator[Message]:
    add_record = session.add_record
    results = session.results
    count = 0
    while True:
        try:
            batch = inbox.get_batch(idle_s)
        except StopIteration:
            break
        if batch is None:  # the input is quiet: flush waiting checkpoints and echo what is committed
            session.tick()
            if results:
                yield from session.drain()
            continue
        for message in batch:
            if type(message) is RawRecord:
                add_record(message.stream, message.data, message.deleted)
                count += 1
                if count % _TICK_EVERY:
                    if results:
                        yield from session.drain()
                    continue
            elif isinstance(message, SourceStateMessage):
                session.add_state(message)
            elif isinstance(message, StreamStatusMessage):
                status = message.stream_status
                if status.status == StreamStatusValue.COMPLETE:
                    session.finish_stream(status.stream)
                yield message
            elif isinstance(message, StartMessage):
                if not session.has_slots:
                    session.run_id = message.start.run_id
                yield message
            elif isinstance(message, RawRecord):
                add_record(message.stream, message.data, message.deleted)
            else:
                yield message
            session.tick()
            if results:
                yield from session.drain()
    yield from session.close()


def _prepare(
    conn: psycopg.Connection[Any], config: PostgresConfig, catalog: ConfiguredCatalog
) -> tuple[dict[str, StreamTable], list[Message]]:
    """Ensure the schema and every stream's table; stream-level problems become `stream` errors."""
    schema = config.target_schema
    redactor = config.redactor()
    messages: list[Message] = []
    with map_psycopg_errors(redactor):
        _ddl.ensure_schema(conn, schema)
        lz4 = _ddl.lz4_available(conn)
        conn.commit()
    tables: dict[str, StreamTable] = {}
    clashes = {
        second: StreamError(
            f"streams {first!r} and {second!r} both map to table {name!r} (PostgreSQL identifiers hold 63 bytes);"
            f" {second!r} is not loaded: rename one of them or leave one out of the selection",
            stream=second,
        )
        for first, second, name in collisions({s.name: table_name(s.name) for s in catalog.streams})
    }
    for stream in catalog.streams:
        warnings: list[str] = []
        if stream.name in clashes:
            messages.append(error_message(clashes[stream.name], stream=stream.name))
            continue
        try:
            with map_psycopg_errors(redactor, stream=stream.name):
                tables[stream.name] = _ddl.ensure_stream_table(conn, schema, stream, lz4, warnings)
        except StreamError as exc:
            messages.append(error_message(exc, stream=stream.name))
        messages.extend(_log(LogLevel.WARN, w) for w in warnings)
    return tables, messages

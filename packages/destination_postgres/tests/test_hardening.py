"""The destination-side rules, each against the real server: completion, stream isolation, global states,
connection limits, odd names, unreachable servers and secrets."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
from destination_postgres._naming import fit_identifier
from psycopg import sql
from sync_protocol import (
    ErrorMessage,
    SourceState,
    SourceStateMessage,
    StateType,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
    decode_message,
    encode_message,
)
from sync_protocol.sdk import record, stream_state
from sync_protocol.testing import ConnectorHarness

from .conftest import COMMAND
from .test_write import catalog, count, stream

INT_ID = {"id": {"type": "integer"}}


def complete(name: str) -> StreamStatusMessage:
    return StreamStatusMessage(stream_status=StreamStatus(stream=name, status=StreamStatusValue.COMPLETE))


def global_state(data: Any) -> SourceStateMessage:
    return SourceStateMessage(source_state=SourceState(state_type=StateType.GLOBAL, data=data))


def ids(db: psycopg.Connection[Any], schema: str, table: str) -> list[Any]:
    query = sql.SQL("SELECT id FROM {} ORDER BY id").format(sql.Identifier(schema, table))
    return [i for (i,) in db.execute(query)]


def stored_states(db: psycopg.Connection[Any], schema: str) -> dict[str, Any]:
    query = sql.SQL("SELECT state_key, state FROM {}").format(sql.Identifier(schema, "_sync_state"))
    return dict(db.execute(query).fetchall())


# ---- overwrite: only `complete` swaps ----------------------------------------------------------------------


def test_overwrite_without_complete_leaves_the_table_and_echoes_nothing(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("o", INT_ID, mode="overwrite"), stream("inc", INT_ID))
    harness.write(config, cat, [*(record("o", {"id": i}) for i in range(5)), stream_state("o", "v1"), complete("o")])
    assert ids(db, pg_schema, "o") == [0, 1, 2, 3, 4]
    # a larger batch than fits one COPY, states in between, another stream beside it: still no swap at EOF
    config = config | {"batch_size": 10}
    messages: list[Any] = []
    for i in range(100, 160):
        messages += [record("o", {"id": i}), record("inc", {"id": i})]
        if i % 20 == 0:
            messages += [stream_state("o", f"o{i}"), stream_state("inc", f"i{i}")]
    result = harness.write(config, cat, messages)
    assert [s.source_state.stream for s in result.states] == ["inc"] * 3
    assert ids(db, pg_schema, "o") == [0, 1, 2, 3, 4]
    assert stored_states(db, pg_schema)["stream:o"]["data"] == "v1"
    tables = {t for (t,) in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [pg_schema])}
    assert tables == {"o", "inc", "_sync_state", "_sync_objects"}  # the unfinished new table was dropped
    # with `complete` the same input replaces the table, across many committed batches
    done = harness.write(config, cat, [*messages, complete("o")])
    assert ids(db, pg_schema, "o") == list(range(100, 160))
    assert [s.source_state.data for s in done.states if s.source_state.stream == "o"] == ["o100", "o120", "o140"]


def test_overwrite_completed_with_no_rows_empties_the_table(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("o", INT_ID, mode="overwrite"))
    harness.write(config, cat, [record("o", {"id": 1}), complete("o")])
    harness.write(config, cat, [stream_state("o", "empty"), complete("o"), complete("o")])
    assert ids(db, pg_schema, "o") == []
    assert stored_states(db, pg_schema)["stream:o"]["data"] == "empty"


# ---- stream errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"id": "not-an-integer"}, "null value"),  # a bad type for the key column
        ({"name": "no key"}, "no value for primary key"),  # a missing key, found on the client
    ],
)
def test_a_stream_error_stops_that_stream_only(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any, bad: dict[str, Any], why: str
) -> None:
    cat = catalog(stream("good", INT_ID), stream("bad", INT_ID | {"name": {"type": "string"}}))
    messages: list[Any] = [
        record("bad", {"id": 1}),
        stream_state("bad", "b1"),
        record("good", {"id": 1}),
        record("bad", bad),
        stream_state("bad", "b2"),
        record("bad", {"id": 3}),
        stream_state("bad", "b3"),
        stream_state("good", "g1"),
        record("good", {"id": 2}),
        stream_state("good", "g2"),
    ]
    result = harness.write(config | {"max_state_delay_s": 0}, cat, messages)  # exits 0
    [error] = result.of_type(ErrorMessage)
    assert (error.error.level, error.error.stream) == ("stream", "bad") and why in error.error.message
    echoed = [(s.source_state.stream, s.source_state.data) for s in result.states]
    assert [d for s, d in echoed if s == "good"] == ["g1", "g2"]
    bad_echoes = [d for s, d in echoed if s == "bad"]
    assert bad_echoes in ([], ["b1"])  # only what committed before the bad row, never after the error
    assert echoed.index(("bad", "b1")) < result.messages.index(error) if bad_echoes else True
    assert ids(db, pg_schema, "good") == [1, 2]
    assert 3 not in ids(db, pg_schema, "bad")


def test_a_failing_overwrite_leaves_the_old_table(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("o", INT_ID, mode="overwrite"))
    harness.write(config, cat, [record("o", {"id": 1}), complete("o")])
    result = harness.write(config, cat, [record("o", {"id": 2}), record("o", {"id": "x"}), complete("o")])
    assert [e.error.level for e in result.of_type(ErrorMessage)] == ["stream"]
    assert ids(db, pg_schema, "o") == [1]


# ---- global states -------------------------------------------------------------------------------------------


def test_a_global_state_waits_for_an_open_overwrite(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("o", INT_ID, mode="overwrite"), stream("inc", INT_ID))
    before: list[Any] = [
        record("o", {"id": 1}),
        record("inc", {"id": 1}),
        global_state({"g": 1}),
        record("inc", {"id": 2}),
    ]
    unfinished = harness.write(config, cat, [*before, stream_state("inc", "i2")])
    assert [s.source_state.data for s in unfinished.states] == ["i2"]  # the global covers rows that were dropped
    assert "global" not in stored_states(db, pg_schema)
    finished = harness.write(config, cat, [*before, complete("o"), stream_state("inc", "i2")])
    assert {"g": 1} in [s.source_state.data for s in finished.states]
    assert stored_states(db, pg_schema)["global"] == {"data": {"g": 1}}


def test_no_global_state_after_a_stream_failed(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("a", INT_ID), stream("b", INT_ID))
    messages: list[Any] = [record("a", {"id": 1}), record("b", {"id": "x"}), global_state({"g": 1})]
    result = harness.write(config, cat, messages)
    assert result.states == [] and [e.error.stream for e in result.of_type(ErrorMessage)] == ["b"]
    assert ids(db, pg_schema, "a") == [1]


# ---- many streams over few connections -----------------------------------------------------------------------


@pytest.fixture
def limited_role(postgres_url: str, pg_schema: str) -> Iterator[str]:
    """A login role that may hold at most 3 connections at once, and a URL that uses it."""
    role = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 3").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT CREATE ON DATABASE postgres TO {}").format(sql.Identifier(role)))
    try:
        yield psycopg.conninfo.make_conninfo(postgres_url, user=role)
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg_schema)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_250_streams_load_over_parallel_streams_connections(
    harness: ConnectorHarness, limited_role: str, pg_schema: str, db: Any
) -> None:
    names = [f"s{i}" for i in range(250)]
    cat = catalog(*(stream(n, INT_ID, mode="overwrite" if i % 5 == 0 else "append_dedup") for i, n in enumerate(names)))
    messages: list[Any] = []
    for round_ in range(2):  # every stream interleaved with every other, overwrites open all along
        for n in names:
            messages += [record(n, {"id": round_}), stream_state(n, round_)]
    messages += [complete(n) for n in names]
    config = {"url": limited_role, "schema": pg_schema, "parallel_streams": 3, "batch_size": 1}
    result = harness.write(config, cat, messages)
    assert result.of_type(ErrorMessage) == []
    assert len(result.states) == 500
    assert all(count(db, pg_schema, n) == 2 for n in names)


# ---- names ---------------------------------------------------------------------------------------------------


def test_percent_in_stream_and_field_names_loads(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    props = {"id": {"type": "string"}, "100%": {"type": "integer"}, "%s": {"type": "string"}, "a%%b": {}}
    cat = catalog(stream("growth %", props), stream("%(x)s", props, mode="overwrite"))
    data = {"id": "1", "100%": 7, "%s": "s", "a%%b": {"k": 1}}
    messages: list[Any] = [
        record("growth %", data),
        stream_state("growth %", "%d"),
        record("%(x)s", data),
        complete("%(x)s"),
    ]
    result = harness.write(config, cat, messages)
    assert result.of_type(ErrorMessage) == [] and [s.source_state.data for s in result.states] == ["%d"]
    for table in ("growth %", "%(x)s"):
        got = db.execute(
            sql.SQL("SELECT {}, {}, {} FROM {}").format(
                sql.Identifier("100%"), sql.Identifier("%s"), sql.Identifier("a%%b"), sql.Identifier(pg_schema, table)
            )
        ).fetchall()
        assert got == [(7, "s", {"k": 1})]
    # evolution backfills a new %-named column from the raw rows
    wider = catalog(stream("growth %", props | {"50%": {"type": "integer"}}))
    harness.write(config, wider, [])
    query = sql.SQL("SELECT {} FROM {}").format(sql.Identifier("50%"), sql.Identifier(pg_schema, "growth %"))
    assert db.execute(query).fetchall() == [(None,)]


def test_names_that_fit_to_one_identifier_are_refused_clearly(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    long = "x" * 80
    short = fit_identifier(long)  # a name spelled exactly like the other's shortened form
    cat = catalog(
        stream(long, {"id": {"type": "string"}}),
        stream(short, {"id": {"type": "string"}}),
        stream("cols", {"id": {"type": "string"}, long: {"type": "string"}, short: {"type": "integer"}}),
        stream("fine", {"id": {"type": "string"}}),
    )
    messages = [record(n, {"id": "1"}) for n in (long, short, "cols", "fine")]
    result = harness.write(config, cat, [*messages, *(stream_state(n, n) for n in (long, short, "cols", "fine"))])
    errors = {e.error.stream: e.error.message for e in result.of_type(ErrorMessage)}
    assert set(errors) == {short, "cols"}
    assert f"both map to table {short!r}" in errors[short] and long in errors[short]
    assert f"both map to column {short!r}" in errors["cols"]
    assert sorted(s.source_state.data for s in result.states) == sorted([long, "fine"])
    assert count(db, pg_schema, short) == 1  # the table belongs to the first name only


# ---- reaching the server, and secrets ------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_server_never_reachable_is_a_global_error_that_says_what_to_do(harness: ConnectorHarness) -> None:
    config = {"url": f"postgresql://u:sekret-pw-1@127.0.0.1:{_closed_port()}/db", "connect_retry_s": 1}
    cat = catalog(stream("s", INT_ID))
    result = harness.write(config, cat, [record("s", {"id": 1})], expect_exit=1)
    [error] = result.of_type(ErrorMessage)
    assert (error.error.level, error.error.failure_type) == ("global", "system_error")
    assert "cannot reach PostgreSQL" in error.error.message and "server is running" in error.error.message
    assert "sekret-pw-1" not in str(result.messages) + result.stderr


@pytest.mark.parametrize(
    ("wrong", "failure_type", "why"),
    [
        ("database", "config_error", 'database "no_such_db" does not exist'),
        ("role", "auth_error", 'role "no_such_role" does not exist'),
    ],
)
def test_a_refused_login_fails_at_once_without_retrying(
    harness: ConnectorHarness, postgres_url: str, wrong: str, failure_type: str, why: str
) -> None:
    """The server answered and said no: waiting `connect_retry_s` for it to change its mind only delays the
    error (it took a minute); libpq gives these refusals no SQLSTATE, so they are known by their text."""
    parts = urlsplit(postgres_url)
    if wrong == "database":
        parts = parts._replace(path="/no_such_db")
    else:
        parts = parts._replace(netloc=f"no_such_role@{parts.hostname}:{parts.port or 5432}")
    config = {"url": urlunsplit(parts), "connect_retry_s": 30}
    started = time.monotonic()
    result = harness.write(config, catalog(stream("s", INT_ID)), [record("s", {"id": 1})], expect_exit=1)
    [error] = result.of_type(ErrorMessage)
    assert (error.error.level, error.error.failure_type) == ("global", failure_type)
    assert why in error.error.message
    assert time.monotonic() - started < 15, "refused logins are not retried"


@pytest.mark.parametrize("password", ["p%ss w0rdzz", "50%zzqq!x"])
def test_an_unparsable_url_never_leaks_the_password(harness: ConnectorHarness, password: str) -> None:
    config = {"url": f"postgresql://bob:{password}@127.0.0.1:5432/db"}
    result = harness.write(config, catalog(stream("s", INT_ID)), [], expect_exit=1)
    [error] = result.of_type(ErrorMessage)
    assert error.error.failure_type == "config_error" and "percent-encoded" in error.error.message
    printed = str(result.messages) + result.stderr
    assert not [part for part in password.split() if part in printed]
    status = harness.check(config)
    assert status.status == "failed" and password not in str(status)


def test_losing_the_server_mid_run_is_transient(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, postgres_url: str
) -> None:
    cat = catalog(stream("s", INT_ID))
    with (
        psycopg.connect(postgres_url, autocommit=True) as admin,
        subprocess.Popen(
            [*COMMAND, "write", "--config", _json(config), "--catalog", _json(cat.model_dump(mode="json"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as process,
    ):
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(_lines([record("s", {"id": 1}), stream_state("s", 1)]))
        process.stdin.flush()
        assert b'"stats"' in process.stdout.readline()  # committed: the counts come first
        assert b'"source_state"' in process.stdout.readline()
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'destination-postgres'"
        )
        out, _ = process.communicate(_lines([record("s", {"id": 2}), stream_state("s", 2)]), timeout=60)
    assert process.returncode == 1
    [error] = [m for m in map(_decode, out.splitlines()) if isinstance(m, ErrorMessage)]
    assert (error.error.level, error.error.failure_type) == ("transient", "transient_error")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _lines(messages: list[Any]) -> bytes:
    return b"".join(encode_message(m) for m in messages)


def _decode(line: bytes) -> Any:
    return decode_message(line)

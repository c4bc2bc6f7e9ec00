"""A throwaway PostgreSQL answers queries until `stop()`, which leaves nothing behind; also the `pgserver` one."""

from __future__ import annotations

import psycopg
from sync_testbed.postgres import LocalServer, PgServer, start_server


def _check(server: LocalServer | PgServer) -> None:
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int)")
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        server.stop()


def test_start_server_answers_then_stops_clean() -> None:
    server = start_server()
    folder = server.directory
    _check(server)
    assert not folder.exists()


def test_the_wheel_fallback_answers_then_stops_clean() -> None:
    """What a machine without PostgreSQL binaries gets (as root, pgserver runs it as an OS user of its own)."""
    server = PgServer()
    folder = server.directory
    _check(server)
    assert not folder.exists()

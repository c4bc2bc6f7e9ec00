"""`CHAOS_LONG=1 uv run pytest tests/chaos` runs the long chaos version (100k objects, at least 20 faults)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg
import pytest
from sync_testbed.postgres import LocalServer, start_server


@pytest.fixture
def chaos_long() -> bool:
    """Whether the long version was asked for (an environment variable works from any directory)."""
    return os.environ.get("CHAOS_LONG", "") not in ("", "0")


@pytest.fixture
def chaos_postgres() -> Iterator[tuple[str, LocalServer | None]]:
    """A PostgreSQL server of its own (restarting the session's would disturb other tests): its URL, and the server
    when it can be restarted (the machine's binaries; the bundled fallback cannot).

    Commits are synchronous, PostgreSQL's default: the fixtures' servers make them asynchronous for speed, and then
    a crash loses commits already acknowledged, which no client can guard against."""
    server = start_server()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("ALTER DATABASE postgres SET synchronous_commit = on")
        yield server.url, server if isinstance(server, LocalServer) else None
    finally:
        server.stop()

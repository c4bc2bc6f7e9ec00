"""At most `parallel_streams` connections for a whole `write`, however many streams it loads.

Connections are made on first need (each prepared with the session settings and its staging table) and lent to
one thread at a time. The first one is the connection the write started with. A connection that broke is
closed, never lent again; making a new one once the write is under way fails as a transient error (the server
went away mid-run), not as a configuration problem.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sync_protocol.sdk import Redactor

from ._config import PostgresConfig
from ._errors import Phase, map_psycopg_errors
from ._load import prepare_session


class ConnectionPool:
    """A fixed-size, lazily filled pool; `borrow()` blocks while every connection is lent."""

    def __init__(
        self, config: PostgresConfig, redactor: Redactor, lz4: bool, size: int, first: psycopg.Connection[Any]
    ) -> None:
        self._config = config
        self._redactor = redactor
        self._lz4 = lz4
        self._free: list[psycopg.Connection[Any]] = []
        self._made = 0
        self._size = size
        self._lock = threading.Condition()
        self._all: list[psycopg.Connection[Any]] = []
        with map_psycopg_errors(redactor):
            prepare_session(first, lz4)
        self._adopt(first)

    def _adopt(self, conn: psycopg.Connection[Any]) -> None:
        self._made += 1
        self._all.append(conn)
        self._free.append(conn)

    @property
    def opened(self) -> int:
        """Connections made so far (never more than `size`)."""
        return self._made

    @contextmanager
    def borrow(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for the caller alone; rolled back (or dropped if broken) when returned."""
        conn = self._take()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _take(self) -> psycopg.Connection[Any]:
        with self._lock:
            while not self._free and self._made >= self._size:
                self._lock.wait()
            if self._free:
                return self._free.pop()
            self._made += 1  # reserve the slot before connecting outside the lock
        try:
            with map_psycopg_errors(self._redactor, phase=Phase.RECONNECT):
                conn = psycopg.connect(self._config.conninfo())
            with map_psycopg_errors(self._redactor):
                prepare_session(conn, self._lz4)
        except BaseException:
            with self._lock:
                self._made -= 1
                self._lock.notify()
            raise
        with self._lock:
            self._all.append(conn)
        return conn

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        healthy = not conn.broken and not conn.closed
        if healthy:
            try:
                conn.rollback()
            except psycopg.Error:
                healthy = False
        with self._lock:
            if healthy:
                self._free.append(conn)
            else:
                self._made -= 1
                self._all.remove(conn)
                _close_quietly(conn)
            self._lock.notify()

    def close(self) -> None:
        """Close every connection (lent ones too: used at the very end, or when the write is abandoned)."""
        with self._lock:
            conns, self._all, self._free = self._all, [], []
        for conn in conns:
            _close_quietly(conn)


def _close_quietly(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass

"""Global checkpoints of a write session: when one may be committed and echoed.

A `global` state covers every stream. It is committed (to `_sync_state`, key `global`) once everything before it
in every stream is committed; an overwrite whose new table holds rows or states from before it blocks it until
the swap, which commits it in the same transaction. Once any stream failed in the run, no global state is
echoed any more (it would cover rows that were lost).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import psycopg
from sync_protocol import SourceStateMessage
from sync_protocol.sdk import Redactor

from . import _state_table
from ._errors import map_psycopg_errors
from ._pool import ConnectionPool

log = logging.getLogger("destination_postgres")


@dataclass
class _Pending:
    message: SourceStateMessage
    blockers: set[str]
    """Overwrite streams whose uncommitted rows or states came before it."""


class GlobalStates:
    """Pending global states in arrival order. Shares the session's condition: workers release blockers."""

    def __init__(self, lock: threading.Condition, schema: str) -> None:
        self._lock = lock
        self._schema = schema
        self._pending: list[_Pending] = []
        self.poisoned = False
        """A stream failed in this run: no global state is echoed any more."""

    @property
    def waiting(self) -> bool:
        return bool(self._pending)

    def add(self, message: SourceStateMessage, blockers: set[str]) -> None:
        """A global state that waits for the swaps of `blockers` (every earlier row of others is committed)."""
        with self._lock:
            if not self.poisoned:  # a stream may have failed while what came before was committing
                self._pending.append(_Pending(message, blockers))

    def poison(self) -> None:
        """A stream failed: drop the pending global states and echo none from now on."""
        with self._lock:
            if not self.poisoned:
                log.warning("a stream failed: global states of this run are not echoed (they would cover lost rows)")
            self.poisoned = True
            self._pending.clear()

    def commit_ready(self, pool: ConnectionPool, redactor: Redactor) -> list[SourceStateMessage]:
        """Commit the leading global states nothing blocks any more (the last one is stored); those to echo."""
        with self._lock:
            ready: list[SourceStateMessage] = []
            while self._pending and not self._pending[0].blockers:
                ready.append(self._pending.pop(0).message)
        if ready:
            with pool.borrow() as conn, map_psycopg_errors(redactor), conn.cursor() as cur:
                self.store(cur, ready[-1])
                conn.commit()
        return ready

    def freed_by(self, stream: str) -> list[SourceStateMessage]:
        """The leading pending global states that only wait for `stream`'s swap (they commit with it)."""
        with self._lock:
            freed: list[SourceStateMessage] = []
            for pending in self._pending:
                if pending.blockers - {stream}:
                    break
                freed.append(pending.message)
            return freed

    def committed_with_swap(self, count: int) -> None:
        """The first `count` pending states were committed by a swap (see `freed_by`)."""
        with self._lock:
            del self._pending[:count]

    def release(self, stream: str, *, swapped: bool) -> None:
        """`stream`'s overwrite was swapped in, or dropped: then the states it blocked (and all later ones) are
        never echoed, since rows before them were dropped."""
        with self._lock:
            if not swapped:
                hit = next((i for i, p in enumerate(self._pending) if stream in p.blockers), None)
                if hit is not None:
                    del self._pending[hit:]
            for pending in self._pending:
                pending.blockers.discard(stream)

    def store(self, cur: psycopg.Cursor[Any], message: SourceStateMessage) -> None:
        """Write a global state inside the caller's transaction."""
        data = {"data": message.source_state.data}
        _state_table.upsert_state(cur, self._schema, _state_table.GLOBAL_KEY, data)

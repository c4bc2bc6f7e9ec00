"""Running one stream's job on a borrowed connection: load a batch, commit it with the stream's checkpoint, and
the overwrite lifecycle (new table → batches → swap, or drop).

What a job commits goes out after the commit, in order: a `stats` message with the rows the merge inserted,
updated and deleted, then the states it covered. An overwrite reports its counts and echoes its states at the
swap, when its rows become visible; a dropped overwrite reports nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from sync_protocol import Message, Stats, StatsMessage
from sync_protocol.sdk import Redactor

from . import _state_table
from ._errors import map_psycopg_errors
from ._globals import GlobalStates
from ._load import Counts
from ._pool import ConnectionPool
from ._slot import Fatal, Job, Kind, Slot

log = logging.getLogger("destination_postgres")


def stats_message(stream: str, counts: Counts) -> StatsMessage:
    """The destination's row counts of one commit (increments)."""
    return StatsMessage(
        stats=Stats(
            stream=stream, inserted_count=counts.inserted, updated_count=counts.updated, deleted_count=counts.deleted
        )
    )


class JobRunner:
    """Applies jobs to the database for the session's workers; appends what they committed to `results`."""

    def __init__(
        self,
        pool: ConnectionPool,
        redactor: Redactor,
        globals_: GlobalStates,
        lock: threading.Condition,
        results: deque[Message | Fatal],
    ) -> None:
        self._pool = pool
        self._redactor = redactor
        self._globals = globals_
        self._lock = lock
        self._results = results

    def run(self, slot: Slot, job: Job) -> None:
        """Apply `job` to `slot`'s table; raises `ConnectorError` (a failed stream, or the whole write)."""
        if job.kind is Kind.FAIL:
            assert job.error is not None
            raise job.error
        stream = slot.table.stream
        batch = job.batch
        loader = slot.loader
        out: list[Message] = []
        with self._pool.borrow() as conn, map_psycopg_errors(self._redactor, stream=stream), conn.cursor() as cur:
            if job.kind is Kind.ABANDON:
                if slot.overwrite_open:
                    loader.drop_overwrite(cur)
                    conn.commit()
                log.warning(
                    "stream %r did not complete: its overwrite was dropped, the table left as it was and %d"
                    " state(s) not echoed",
                    stream,
                    len(slot.held) + len(batch.states),
                )
                self.overwrite_closed(slot, swapped=False)
                return
            if slot.overwrite and (batch.count or job.kind is Kind.FINISH or not slot.finished):
                if (batch.count or job.kind is Kind.FINISH) and not slot.overwrite_open:
                    loader.begin_overwrite(cur)
                    loader.plain_insert = True
                    slot.overwrite_open = True
                    slot.finished = False
                if batch.count:
                    slot.held_counts += loader.apply(cur, batch, overwriting=True, skip_unchanged=False)
                slot.held.extend(batch.states)
                if job.kind is not Kind.FINISH:
                    conn.commit()  # rows into the new table only: nothing is visible or echoed yet
                    return
                loader.swap(cur)
                states = slot.held
                out.append(stats_message(stream, slot.held_counts))
                globals_ = self._globals.freed_by(stream)
                if globals_:
                    self._globals.store(cur, globals_[-1])
            else:
                globals_ = []
                if batch.count:
                    counts = loader.apply(cur, batch, overwriting=False, skip_unchanged=slot.skip_unchanged)
                    out.append(stats_message(stream, counts))
                states = batch.states
            new_state = slot.state
            if states:
                new_state = _state_table.next_stream_state(slot.state, [s.source_state for s in states])
                _state_table.upsert_state(
                    cur,
                    slot.table.schema,
                    _state_table.stream_key(stream),
                    new_state.model_dump(mode="json", exclude_none=True),
                )
            conn.commit()
        slot.state = new_state
        self._results.extend([*out, *states])
        if job.kind is Kind.FINISH and slot.overwrite:
            with self._lock:
                self._globals.committed_with_swap(len(globals_))
                self._results.extend(globals_)
            self.overwrite_closed(slot, swapped=True)

    def overwrite_closed(self, slot: Slot, *, swapped: bool) -> None:
        """`slot`'s overwrite was swapped in or dropped."""
        with self._lock:
            slot.close_overwrite(swapped=swapped)
            self._globals.release(slot.table.stream, swapped=swapped)

    def drop_overwrite(self, slot: Slot) -> None:
        """A failed stream: drop its unfinished overwrite table, best effort (the next overwrite drops it anyway)."""
        if slot.overwrite_open:
            try:
                with self._pool.borrow() as conn, conn.cursor() as cur:
                    slot.loader.drop_overwrite(cur)
                    conn.commit()
            except Exception:  # best effort, whatever went wrong
                log.warning("stream %r: could not drop its unfinished overwrite table", slot.table.stream)
        slot.close_overwrite(swapped=False)

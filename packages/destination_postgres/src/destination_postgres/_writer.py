"""The write session: routes records to per-stream batches, loads them on a few connections, echoes what commits.

The calling thread parses nothing (the SDK hands it each record's original bytes) and only encodes rows
(`RowEncoder`). Full batches become jobs in their stream's queue; `parallel_streams` worker threads share as
many connections (`ConnectionPool`) and take streams from a ready queue, one job at a time, so any number of
streams load over a fixed number of connections and one stream's jobs run in order, never two at once. Queued
bytes are bounded: the calling thread waits while too much is queued (no job ever waits for more input, so
this cannot deadlock).

Guarantees:
- A worker commits a batch's rows together with its stream's checkpoint, and only then hands the states back
  for echo: an echoed state is never ahead of the data.
- `overwrite` loads into a new table (committed batch by batch, invisible to readers) and swaps it in, with the
  held states, only when the source's `stream_status: complete` arrives. End of input never finishes an
  overwrite: the new table is dropped, the live one untouched, its states never echoed.
- A stream that cannot be loaded (bad key, constraint, bad type, DDL) gets one `stream` error; its uncommitted
  work is rolled back and nothing more of it is written or echoed in this run; the others go on.
- A `global` state is echoed once everything before it in every stream is committed (an open overwrite holds
  it until the swap); after any stream failed in this run no global state is echoed (it would cover lost rows).
- A lost connection or a refused privilege stops the whole write (`transient` / `config_error`).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sync_protocol import (
    ConnectorError,
    DestinationSyncMode,
    ErrorLevel,
    Message,
    SourceStateMessage,
    StreamError,
    StreamState,
    error_message,
)
from sync_protocol.sdk import Redactor

from . import _state_table
from ._config import PostgresConfig
from ._ddl import StreamTable
from ._errors import map_psycopg_errors
from ._load import Batch, RowEncoder, StreamLoader
from ._pool import ConnectionPool

log = logging.getLogger("destination_postgres")

_MAX_QUEUED_BYTES = 48 * 1024 * 1024
"""Encoded rows handed to workers but not loaded yet, at most (about; one batch may go over)."""


class _Fatal:
    """A worker hit an error that stops the whole write; the calling thread re-raises it."""

    def __init__(self, error: ConnectorError) -> None:
        self.error = error


class _Kind(enum.Enum):
    LOAD = "load"
    FINISH = "finish"
    """The source completed the stream: load the batch, then swap an overwrite in."""
    ABANDON = "abandon"
    """End of input with an overwrite unfinished: drop what it loaded."""
    FAIL = "fail"
    """A record of the stream could not be encoded: fail it, after what was queued before."""


@dataclass
class _Job:
    kind: _Kind
    batch: Batch
    error: StreamError | None = None


@dataclass
class _Slot:
    """One stream's place in the session: its queue and where its load stands."""

    table: StreamTable
    loader: StreamLoader
    encoder: RowEncoder
    state: StreamState | None
    batch: Batch = field(default_factory=Batch)
    """Filling (calling thread only)."""
    jobs: deque[_Job] = field(default_factory=deque)
    scheduled: bool = False
    """In the ready queue or being worked on (guarded by the session's condition)."""
    failing: bool = False
    """The calling thread stopped taking its input."""
    needs_finish: bool = False
    """Calling thread: an overwrite got records or states since its last `complete`."""
    completed: bool = False
    """Calling thread: the source completed the stream at least once in this run."""
    failed: bool = False
    """A worker failed it (worker side)."""
    overwrite_open: bool = False
    """Its overwrite table exists and holds loaded rows not swapped in yet (worker side)."""
    finished: bool = False
    """Its overwrite was swapped in and nothing was loaded since (worker side)."""
    held: list[SourceStateMessage] = field(default_factory=list)
    """States of an overwrite, echoed at the swap (worker side)."""
    skip_unchanged: bool | None = None
    """Whether the table held rows before this run (worker side, looked up once)."""
    oldest_state: float | None = None

    @property
    def overwrite(self) -> bool:
        return self.table.mode == DestinationSyncMode.OVERWRITE


@dataclass
class _PendingGlobal:
    message: SourceStateMessage
    blockers: set[str]
    """Overwrite streams whose uncommitted rows or states came before it."""


class WriteSession:
    """One `write` invocation: batching per stream, the workers, and the echo queue."""

    def __init__(
        self,
        config: PostgresConfig,
        tables: dict[str, StreamTable],
        states: dict[str, Any],
        pool: ConnectionPool,
        redactor: Redactor,
    ) -> None:
        self._config = config
        self._tables = tables
        self._stored = states
        self._pool = pool
        self._redactor = redactor
        self.results: deque[Message | _Fatal] = deque()
        self._slots: dict[str, _Slot] = {}
        self._waiting: list[_Slot] = []
        """Slots holding a checkpoint in their filling batch (some may have flushed since)."""
        self._cond = threading.Condition()
        self._ready: deque[_Slot] = deque()
        self._queued_bytes = 0
        self._queued_jobs = 0
        self._busy = 0
        self._stopping = False
        self._fatal = False
        self._pending_globals: list[_PendingGlobal] = []
        self._globals_poisoned = False
        self.failed: set[str] = set()
        """Streams refused before loading (their input is dropped; they count as failed for global states)."""
        self.run_id = ""
        self._workers = [
            threading.Thread(target=self._work, name=f"load-{i}", daemon=True) for i in range(config.parallel_streams)
        ]
        self._started = False

    @property
    def has_slots(self) -> bool:
        """Whether any stream has started loading (the run id is fixed from then on)."""
        return bool(self._slots)

    # ---- the hot path (calling thread) ---------------------------------------------------------------------

    def add_record(self, stream: str, data: bytes, deleted: bool) -> None:
        """Encode a record into its stream's batch; hand the batch to the workers when full."""
        slot = self._slots.get(stream)
        if slot is None:
            slot = self._start(stream)
            if slot is None:
                return
        if slot.failing:
            return
        batch = slot.batch
        try:
            slot.encoder.add(batch, data, deleted)
        except StreamError as exc:
            self._fail_input(slot, exc)
            return
        if slot.overwrite:
            slot.needs_finish = True
        if batch.count >= self._config.batch_size:
            if batch.states:
                self.flush(slot, cut=True)
            elif len(batch.rows) >= self._config.batch_bytes:  # no checkpoint for too long: memory first
                self.flush(slot)

    def add_state(self, message: SourceStateMessage) -> None:
        """Attach a checkpoint to the batch it closes; a global one waits for every stream's commits."""
        stream = message.source_state.stream
        if stream is None:
            self._add_global(message)
            return
        slot = self._slots.get(stream) or self._start(stream)
        if slot is None or slot.failing:
            return
        slot.batch.add_state(message)
        if slot.overwrite:
            slot.needs_finish = True
        if slot.oldest_state is None:
            slot.oldest_state = time.monotonic()
            self._waiting.append(slot)

    def finish_stream(self, stream: str) -> None:
        """The source completed `stream`: flush it, and swap an overwrite in."""
        slot = self._slots.get(stream) or self._start(stream)
        if slot is None or slot.failing:
            return
        swap = slot.overwrite and (slot.needs_finish or not slot.completed)  # a repeated `complete` swaps nothing
        slot.needs_finish = False
        slot.completed = True
        self.flush(slot, _Kind.FINISH if swap else _Kind.LOAD)

    def tick(self) -> None:
        """Flush batches whose oldest checkpoint has waited `max_state_delay_s`; echo unblocked global states."""
        if self._waiting:
            now = time.monotonic()
            waiting, self._waiting = self._waiting, []
            for slot in waiting:
                since = slot.oldest_state
                if since is not None and now - since >= self._config.max_state_delay_s:
                    self.flush(slot, cut=True)
                elif since is not None:
                    self._waiting.append(slot)
        if self._pending_globals:
            self._commit_globals()

    # ---- queueing (calling thread) -------------------------------------------------------------------------

    def _start(self, stream: str) -> _Slot | None:
        if stream in self.failed:
            self._poison_globals()
            return None
        table = self._tables.get(stream)
        if table is None:
            self.failed.add(stream)
            self._poison_globals()
            self.results.append(
                error_message(StreamError(f"stream {stream!r} is not in the configured catalog"), stream=stream)
            )
            return None
        previous = self._stored.get(_state_table.stream_key(stream))
        slot = _Slot(
            table=table,
            loader=StreamLoader(table, self.run_id),
            encoder=RowEncoder(stream, tuple(c.prop for c in table.primary_key)),
            state=StreamState.model_validate(previous) if previous is not None else None,
        )
        self._slots[stream] = slot
        if not self._started:
            self._started = True
            for worker in self._workers:
                worker.start()
        return slot

    def _fail_input(self, slot: _Slot, exc: StreamError) -> None:
        """A record the stream cannot take: drop its filling batch, fail it after what was queued before."""
        slot.failing = True
        slot.batch = Batch()
        slot.oldest_state = None
        self._enqueue(slot, _Job(_Kind.FAIL, Batch(), exc))

    def flush(self, slot: _Slot, kind: _Kind = _Kind.LOAD, *, cut: bool = False) -> None:
        """Hand the slot's batch to the workers (waits while too much is queued); `cut` keeps the rows after its
        last checkpoint for the next batch (they are not covered by any checkpoint yet)."""
        batch = slot.batch
        slot.oldest_state = None
        if slot.failing or (kind is _Kind.LOAD and batch.count == 0 and not batch.states):
            return
        slot.batch = batch.split_at_last_state() if cut and batch.uncovered else Batch()
        self._enqueue(slot, _Job(kind, batch))

    def _enqueue(self, slot: _Slot, job: _Job) -> None:
        size = len(job.batch.rows)
        with self._cond:
            while (
                self._queued_bytes + size > _MAX_QUEUED_BYTES
                and self._queued_jobs
                and not self._fatal
                and not slot.failed
            ):
                self._cond.wait(0.5)
            if slot.failed:
                return
            self._queued_bytes += size
            self._queued_jobs += 1
            slot.jobs.append(job)
            if not slot.scheduled:
                slot.scheduled = True
                self._ready.append(slot)
                self._cond.notify_all()  # workers and the calling thread wait on one condition

    def flush_all(self) -> None:
        """Hand every non-empty batch to the workers."""
        for slot in self._slots.values():
            self.flush(slot)

    def wait_idle(self) -> None:
        """Block until every queued job is done (or the write failed)."""
        with self._cond:
            while (self._queued_jobs or self._busy) and not self._fatal:
                self._cond.wait(0.5)

    # ---- global states (calling thread) --------------------------------------------------------------------

    def _add_global(self, message: SourceStateMessage) -> None:
        if self._globals_poisoned:
            return
        self.flush_all()
        self.wait_idle()
        with self._cond:
            if self._globals_poisoned:  # a stream failed while what came before was committing
                return
            blockers = {name for name, slot in self._slots.items() if slot.overwrite_open or slot.held}
            self._pending_globals.append(_PendingGlobal(message, blockers))
        self._commit_globals()

    def _poison_globals(self) -> None:
        with self._cond:
            if not self._globals_poisoned:
                log.warning("a stream failed: global states of this run are not echoed (they would cover lost rows)")
            self._globals_poisoned = True
            self._pending_globals.clear()

    def _commit_globals(self) -> None:
        with self._cond:
            ready: list[SourceStateMessage] = []
            while self._pending_globals and not self._pending_globals[0].blockers:
                ready.append(self._pending_globals.pop(0).message)
        if not ready:
            return
        with self._pool.borrow() as conn, map_psycopg_errors(self._redactor), conn.cursor() as cur:
            self._store_global(cur, ready[-1])
            conn.commit()
        self.results.extend(ready)

    def _globals_freed_by(self, stream: str) -> list[SourceStateMessage]:
        """The leading pending global states that only wait for `stream`'s swap (they commit with it)."""
        with self._cond:
            freed: list[SourceStateMessage] = []
            for pending in self._pending_globals:
                if pending.blockers - {stream}:
                    break
                freed.append(pending.message)
            return freed

    def _store_global(self, cur: psycopg.Cursor[Any], message: SourceStateMessage) -> None:
        data = {"data": message.source_state.data}
        _state_table.upsert_state(cur, self._config.target_schema, _state_table.GLOBAL_KEY, data)

    # ---- the workers ---------------------------------------------------------------------------------------

    def _work(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._ready and not self._stopping:
                    cond.wait()
                if not self._ready:
                    return
                slot = self._ready.popleft()
                job = slot.jobs.popleft()
                self._busy += 1
            try:
                if not slot.failed and not self._fatal:
                    self._run(slot, job)
            except ConnectorError as exc:
                self._fail(slot, exc)
            except Exception as exc:  # a bug must still fail only this stream, and say so
                self._fail(slot, StreamError(f"stream {slot.table.stream!r}: {type(exc).__name__}: {exc}"))
            finally:
                with cond:
                    self._busy -= 1
                    self._queued_jobs -= 1
                    self._queued_bytes -= len(job.batch.rows)
                    if slot.jobs:
                        self._ready.append(slot)
                    else:
                        slot.scheduled = False
                    cond.notify_all()

    def _run(self, slot: _Slot, job: _Job) -> None:
        if job.kind is _Kind.FAIL:
            assert job.error is not None
            raise job.error
        stream = slot.table.stream
        batch = job.batch
        loader = slot.loader
        with self._pool.borrow() as conn, map_psycopg_errors(self._redactor, stream=stream), conn.cursor() as cur:
            if job.kind is _Kind.ABANDON:
                if slot.overwrite_open:
                    loader.drop_overwrite(cur)
                    conn.commit()
                log.warning(
                    "stream %r did not complete: its overwrite was dropped, the table left as it was and %d"
                    " state(s) not echoed",
                    stream,
                    len(slot.held) + len(batch.states),
                )
                self._overwrite_closed(slot, swapped=False)
                return
            if slot.overwrite and (batch.count or job.kind is _Kind.FINISH or not slot.finished):
                if (batch.count or job.kind is _Kind.FINISH) and not slot.overwrite_open:
                    loader.begin_overwrite(cur)
                    loader.plain_insert = True
                    slot.overwrite_open = True
                    slot.finished = False
                if batch.count:
                    loader.apply(cur, batch, overwriting=True, skip_unchanged=False)
                slot.held.extend(batch.states)
                if job.kind is not _Kind.FINISH:
                    conn.commit()  # rows into the new table only: nothing is visible or echoed yet
                    return
                loader.swap(cur)
                states = slot.held
                globals_ = self._globals_freed_by(stream)
                if globals_:
                    self._store_global(cur, globals_[-1])
            else:
                globals_ = []
                if slot.skip_unchanged is None:
                    slot.skip_unchanged = loader.has_rows(cur)
                    loader.plain_insert = not slot.skip_unchanged
                if batch.count:
                    loader.apply(cur, batch, overwriting=False, skip_unchanged=slot.skip_unchanged)
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
        self.results.extend(states)
        if job.kind is _Kind.FINISH and slot.overwrite:
            with self._cond:
                del self._pending_globals[: len(globals_)]
                self.results.extend(globals_)
            self._overwrite_closed(slot, swapped=True)

    def _overwrite_closed(self, slot: _Slot, *, swapped: bool) -> None:
        with self._cond:
            slot.overwrite_open = False
            slot.held = []
            slot.finished = swapped
            stream = slot.table.stream
            if not swapped:  # rows before these globals were dropped: they (and all later ones) are never echoed
                hit = next((i for i, p in enumerate(self._pending_globals) if stream in p.blockers), None)
                if hit is not None:
                    del self._pending_globals[hit:]
            for pending in self._pending_globals:
                pending.blockers.discard(stream)

    def _fail(self, slot: _Slot, exc: ConnectorError) -> None:
        if exc.level is not ErrorLevel.STREAM:
            self._fatal = True
            self.results.append(_Fatal(exc))
            with self._cond:
                self._cond.notify_all()
            return
        with self._cond:
            slot.failed = True
            dropped = list(slot.jobs)
            slot.jobs.clear()
            self._queued_jobs -= len(dropped)
            self._queued_bytes -= sum(len(j.batch.rows) for j in dropped)
        self._poison_globals()
        if slot.overwrite_open:
            try:
                with self._pool.borrow() as conn, conn.cursor() as cur:
                    slot.loader.drop_overwrite(cur)
                    conn.commit()
            except Exception:  # best effort: the next overwrite drops it anyway
                log.warning("stream %r: could not drop its unfinished overwrite table", slot.table.stream)
        slot.overwrite_open = False
        slot.held = []
        self.results.append(error_message(exc, stream=slot.table.stream))

    # ---- output and shutdown (calling thread) --------------------------------------------------------------

    def drain(self) -> Iterator[Message]:
        """Messages ready to go out (echoed states, stream errors); raises a worker's fatal error."""
        results = self.results
        while results:
            item = results.popleft()
            if isinstance(item, _Fatal):
                raise item.error
            yield item

    def close(self) -> Iterator[Message]:
        """End of input: flush everything, roll back unfinished overwrites, wait for all commits, echo the rest."""
        for slot in self._slots.values():
            if slot.table.unique or slot.completed:
                self.flush(slot)  # uncovered rows are harmless here: a replay merges into them (or none comes)
            else:
                self.flush(slot, cut=True)
                if slot.batch.uncovered:  # a replay from the last checkpoint would append them twice
                    log.warning(
                        "stream %r: %d record(s) after the last checkpoint were not written; the next run reads"
                        " them again",
                        slot.table.stream,
                        slot.batch.uncovered,
                    )
            if slot.needs_finish and not slot.failing:
                self._enqueue(slot, _Job(_Kind.ABANDON, Batch()))
        self.wait_idle()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for worker in self._workers:
            if worker.is_alive():
                worker.join()
        yield from self.drain()
        self._commit_globals()
        yield from self.drain()

    def abort(self) -> None:
        """Stop the workers without committing what is still queued (their transactions roll back)."""
        with self._cond:
            self._fatal = True
            self._stopping = True
            for slot in self._slots.values():
                slot.failed = True
            self._ready.clear()
            self._cond.notify_all()

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
- A `global` state is echoed once everything before it in every stream is committed (`GlobalStates`).
- Each commit of rows is reported by a `stats` message before the states it covers (`JobRunner`).
- A lost connection or a refused privilege stops the whole write (`transient` / `config_error`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

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
from ._batch import Batch, RowEncoder
from ._config import PostgresConfig
from ._ddl import StreamTable
from ._globals import GlobalStates
from ._job import JobRunner
from ._load import StreamLoader
from ._pool import ConnectionPool
from ._slot import Fatal, Job, Kind, Slot

log = logging.getLogger("destination_postgres")

_MAX_QUEUED_BYTES = 48 * 1024 * 1024
"""Encoded rows handed to workers but not loaded yet, at most (about; one batch may go over)."""


class WriteSession:
    """One `write` invocation: batching per stream, the workers, and the echo queue."""

    def __init__(
        self,
        config: PostgresConfig,
        tables: dict[str, StreamTable],
        states: dict[str, Any],
        pool: ConnectionPool,
        redactor: Redactor,
        populated: set[str],
    ) -> None:
        self._config = config
        self._tables = tables
        self._populated = populated
        """Streams whose table held rows when the run began."""
        self._stored = states
        self._pool = pool
        self._redactor = redactor
        self.results: deque[Message | Fatal] = deque()
        self._slots: dict[str, Slot] = {}
        self._waiting: list[Slot] = []
        """Slots holding a checkpoint in their filling batch (some may have flushed since)."""
        self._cond = threading.Condition()
        self._batch_size = config.batch_size
        self._ready: deque[Slot] = deque()
        self._queued_bytes = 0
        self._queued_jobs = 0
        self._busy = 0
        self._stopping = False
        self._fatal = False
        self._globals = GlobalStates(self._cond, config.target_schema)
        self._runner = JobRunner(pool, redactor, self._globals, self._cond, self.results)
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
        if batch.count >= self._batch_size:
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
        if not slot.flushed:  # the server starts on the first page while the rest is read; its state echoes early
            self.flush(slot, cut=True)
        elif slot.oldest_state is None:
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
        self.flush(slot, Kind.FINISH if swap else Kind.LOAD)

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
        if self._globals.waiting:
            self._commit_globals()

    # ---- queueing (calling thread) -------------------------------------------------------------------------

    def _start(self, stream: str) -> Slot | None:
        if stream in self.failed:
            self._globals.poison()
            return None
        table = self._tables.get(stream)
        if table is None:
            self.failed.add(stream)
            self._globals.poison()
            self.results.append(
                error_message(StreamError(f"stream {stream!r} is not in the configured catalog"), stream=stream)
            )
            return None
        previous = self._stored.get(_state_table.stream_key(stream))
        loader = StreamLoader(table, self.run_id)
        held = stream in self._populated and table.mode != DestinationSyncMode.OVERWRITE  # overwrites fill new tables
        loader.held_rows(held)
        slot = Slot(
            table=table,
            loader=loader,
            encoder=RowEncoder(stream, tuple(c.prop for c in table.primary_key)),
            state=StreamState.model_validate(previous) if previous is not None else None,
            skip_unchanged=held,
        )
        self._slots[stream] = slot
        if not self._started:
            self._started = True
            for worker in self._workers:
                worker.start()
        return slot

    def _fail_input(self, slot: Slot, exc: StreamError) -> None:
        """A record the stream cannot take: drop its filling batch, fail it after what was queued before."""
        slot.failing = True
        slot.batch = Batch()
        slot.oldest_state = None
        self._enqueue(slot, Job(Kind.FAIL, Batch(), exc))

    def flush(self, slot: Slot, kind: Kind = Kind.LOAD, *, cut: bool = False) -> None:
        """Hand the slot's batch to the workers (waits while too much is queued); `cut` keeps the rows after its
        last checkpoint for the next batch (they are not covered by any checkpoint yet)."""
        batch = slot.batch
        slot.oldest_state = None
        if slot.failing or (kind is Kind.LOAD and batch.count == 0 and not batch.states):
            return
        slot.batch = batch.split_at_last_state() if cut and batch.uncovered else slot.new_batch()
        slot.flushed = True
        self._enqueue(slot, Job(kind, batch))

    def _enqueue(self, slot: Slot, job: Job) -> None:
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
        if self._globals.poisoned:
            return
        self.flush_all()
        self.wait_idle()
        with self._cond:
            blockers = {name for name, slot in self._slots.items() if slot.overwrite_open or slot.held}
            self._globals.add(message, blockers)
        self._commit_globals()

    def _commit_globals(self) -> None:
        self.results.extend(self._globals.commit_ready(self._pool, self._redactor))

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
                    self._runner.run(slot, job)
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

    def _fail(self, slot: Slot, exc: ConnectorError) -> None:
        if exc.level is not ErrorLevel.STREAM:
            self._fatal = True
            self.results.append(Fatal(exc))
            with self._cond:
                self._cond.notify_all()
            return
        with self._cond:
            slot.failed = True
            dropped = list(slot.jobs)
            slot.jobs.clear()
            self._queued_jobs -= len(dropped)
            self._queued_bytes -= sum(len(j.batch.rows) for j in dropped)
        self._globals.poison()
        self._runner.drop_overwrite(slot)
        self.results.append(error_message(exc, stream=slot.table.stream))

    # ---- output and shutdown (calling thread) --------------------------------------------------------------

    def drain(self) -> Iterator[Message]:
        """Messages ready to go out (echoed states, stream errors); raises a worker's fatal error."""
        results = self.results
        while results:
            item = results.popleft()
            if isinstance(item, Fatal):
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
                self._enqueue(slot, Job(Kind.ABANDON, Batch()))
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

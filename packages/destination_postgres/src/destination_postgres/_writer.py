"""The write session: routes records to per-stream batches, loads streams in parallel, echoes committed states.

The calling thread parses nothing itself (the SDK hands it messages) and only encodes rows (`RowEncoder`). Each
stream has a worker thread with its own connection and a small queue (backpressure bounds memory to a few
batches per stream); a semaphore caps how many streams load at once. A worker commits a batch's rows together
with the stream's checkpoint in one transaction and only then hands the states back for echo, so an echoed state
is never ahead of the data. A stream whose load fails is rolled back and reported with a `stream` error; the
others go on. A lost connection or a refused privilege stops the whole write.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import psycopg
from sync_protocol import (
    ConnectorError,
    DestinationSyncMode,
    ErrorLevel,
    Message,
    SourceState,
    SourceStateMessage,
    StreamError,
    StreamState,
    error_message,
)

from . import _state_table
from ._config import PostgresConfig
from ._ddl import StreamTable
from ._errors import map_psycopg_errors
from ._load import Batch, RowEncoder, StreamLoader, prepare_session

log = logging.getLogger("destination_postgres")

_QUEUE_BATCHES = 2
"""Batches queued per stream besides the one loading and the one filling: bounds memory."""


class _Fatal:
    """A worker hit an error that stops the whole write; the caller re-raises it."""

    def __init__(self, error: ConnectorError) -> None:
        self.error = error


class _Job:
    __slots__ = ("batch", "finish")

    def __init__(self, batch: Batch, finish: bool) -> None:
        self.batch = batch
        self.finish = finish


class StreamWorker(threading.Thread):
    """Loads one stream's batches in order over its own connection."""

    def __init__(
        self,
        table: StreamTable,
        config: PostgresConfig,
        run_id: str,
        lz4: bool,
        gate: threading.Semaphore,
        results: deque[Message | _Fatal],
        previous: StreamState | None,
    ) -> None:
        super().__init__(name=f"load-{table.stream}", daemon=True)
        self.table = table
        self.jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=_QUEUE_BATCHES)
        self.failed = threading.Event()
        self._config = config
        self._secrets = config.secrets()
        self._lz4 = lz4
        self._gate = gate
        self._results = results
        self._state = previous
        self._loader = StreamLoader(table, run_id)
        self._conn: psycopg.Connection[Any] | None = None
        self._overwriting = False
        self._held: list[SourceStateMessage] = []
        self.unfinished_overwrite = False

    @property
    def overwriting(self) -> bool:
        """Whether an overwrite transaction is open (its rows and states are not committed yet)."""
        return self._overwriting

    def run(self) -> None:
        try:
            while (job := self.jobs.get()) is not None:
                try:
                    if not self.failed.is_set():
                        with self._gate:
                            self._process(job)
                except ConnectorError as exc:
                    self._fail(exc)
                except Exception as exc:  # a bug must still fail only this stream, and say so
                    self._fail(StreamError(f"stream {self.table.stream!r}: {type(exc).__name__}: {exc}"))
                finally:
                    self.jobs.task_done()
        finally:
            self.unfinished_overwrite = self._overwriting and not self.failed.is_set()
            self._close()

    def _fail(self, exc: ConnectorError) -> None:
        self.failed.set()
        self._overwriting = False
        self._held.clear()
        if self._conn is not None and not self._conn.broken:
            try:
                self._conn.rollback()
            except psycopg.Error:
                pass
        if exc.level == ErrorLevel.STREAM:
            self._results.append(error_message(exc, stream=self.table.stream))
        else:
            self._results.append(_Fatal(exc))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            with map_psycopg_errors(self._secrets, connecting=True):
                self._conn = psycopg.connect(self._config.conninfo())
            with map_psycopg_errors(self._secrets, stream=self.table.stream):
                prepare_session(self._conn, self._lz4)
        return self._conn

    def _process(self, job: _Job) -> None:
        batch = job.batch
        conn = self._connection()
        overwrite = self.table.mode == DestinationSyncMode.OVERWRITE
        with map_psycopg_errors(self._secrets, stream=self.table.stream), conn.cursor() as cur:
            # checkpoints alone after a finished overwrite just commit; anything else joins the (new) overwrite
            overwrite = overwrite and (self._overwriting or batch.count > 0 or job.finish)
            if overwrite and not self._overwriting:
                self._loader.begin_overwrite(cur)
                self._overwriting = True
            if batch.count:
                self._loader.apply(cur, batch, self._overwriting)
            if overwrite:
                self._held.extend(batch.states)
                if not job.finish:
                    return
                self._loader.swap(cur)
                states = self._held
            else:
                states = batch.states
            new_state = self._state
            if states:
                new_state = _state_table.next_stream_state(self._state, [s.source_state for s in states])
                _state_table.upsert_state(
                    cur,
                    self.table.schema,
                    _state_table.stream_key(self.table.stream),
                    new_state.model_dump(mode="json", exclude_none=True),
                )
            conn.commit()
        self._state = new_state
        self._overwriting = False
        self._held = []
        self._results.extend(states)

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()
                self._conn.close()
            except psycopg.Error:
                pass


class WriteSession:
    """One `write` invocation: batching per stream, workers, and the echo queue."""

    def __init__(
        self,
        config: PostgresConfig,
        tables: dict[str, StreamTable],
        states: dict[str, Any],
        lz4: bool,
        control: psycopg.Connection[Any],
    ) -> None:
        self._config = config
        self._tables = tables
        self._stored = states
        self._lz4 = lz4
        self._control = control
        self._gate = threading.Semaphore(config.parallel_streams)
        self.results: deque[Message | _Fatal] = deque()
        self._workers: dict[str, StreamWorker] = {}
        self._batches: dict[str, Batch] = {}
        self._encoders: dict[str, RowEncoder] = {}
        self._oldest_state: dict[str, float] = {}
        self._pending_globals: list[SourceStateMessage] = []
        self._finished: set[str] = set()
        """Streams finished (overwrite swapped) with nothing received since."""
        self.run_id = ""
        self.failed: set[str] = set()

    @property
    def has_workers(self) -> bool:
        """Whether any stream has started loading (the run id is fixed from then on)."""
        return bool(self._workers)

    # ---- the hot path --------------------------------------------------------------------------------------

    def add_record(self, stream: str, data: dict[str, Any], deleted: bool) -> None:
        """Encode a record into its stream's batch; hand the batch to the worker when full."""
        batch = self._batches.get(stream)
        if batch is None:
            if stream in self.failed or not self._start_stream(stream):
                return
            batch = self._batches[stream]
        if self._finished:
            self._finished.discard(stream)
        try:
            self._encoders[stream].add(batch, data, deleted)
        except StreamError as exc:
            self._fail_stream(stream, exc)
            return
        if batch.count >= self._config.batch_size or len(batch.rows) >= self._config.batch_bytes:
            self.flush(stream)

    def add_state(self, message: SourceStateMessage) -> None:
        """Attach a checkpoint to the batch it closes; a global one waits for every stream."""
        state: SourceState = message.source_state
        if state.stream is None:
            self.flush_all()
            self.wait_idle()
            self._pending_globals.append(message)
            self._commit_globals()
            return
        stream = state.stream
        if stream in self.failed:
            return
        if stream not in self._batches and not self._start_stream(stream):
            return
        self._batches[stream].states.append(message)
        self._oldest_state.setdefault(stream, time.monotonic())

    def tick(self) -> None:
        """Flush batches whose oldest checkpoint has waited longer than `max_state_delay_s`."""
        if not self._oldest_state:
            return
        now = time.monotonic()
        for stream, since in list(self._oldest_state.items()):
            if now - since >= self._config.max_state_delay_s:
                self.flush(stream)

    # ---- batches and workers -------------------------------------------------------------------------------

    def _start_stream(self, stream: str) -> bool:
        table = self._tables.get(stream)
        if table is None:
            self._fail_stream(stream, StreamError(f"stream {stream!r} is not in the configured catalog"))
            return False
        previous = self._stored.get(_state_table.stream_key(stream))
        worker = StreamWorker(
            table,
            self._config,
            self.run_id,
            self._lz4,
            self._gate,
            self.results,
            StreamState.model_validate(previous) if previous is not None else None,
        )
        worker.start()
        self._workers[stream] = worker
        self._batches[stream] = Batch()
        self._encoders[stream] = RowEncoder(stream, tuple(c.prop for c in table.primary_key))
        return True

    def _fail_stream(self, stream: str, exc: StreamError) -> None:
        self.failed.add(stream)
        self._batches.pop(stream, None)
        self._oldest_state.pop(stream, None)
        worker = self._workers.get(stream)
        if worker is not None:
            worker.failed.set()
        self.results.append(error_message(exc, stream=stream))

    def flush(self, stream: str, *, finish: bool = False) -> None:
        """Hand the stream's batch to its worker (blocks while its queue is full); `finish` ends an overwrite."""
        batch = self._batches.get(stream)
        worker = self._workers.get(stream)
        if batch is None or worker is None:
            return
        self._oldest_state.pop(stream, None)
        if worker.failed.is_set():
            self.failed.add(stream)
            del self._batches[stream]
            return
        if batch.count == 0 and not batch.states and not finish:
            return
        self._batches[stream] = Batch()
        if finish:
            self._finished.add(stream)
        worker.jobs.put(_Job(batch, finish))

    def finish_stream(self, stream: str) -> None:
        """The source finished the stream: flush it, and swap in an overwrite."""
        self.flush(stream, finish=True)

    def flush_all(self) -> None:
        """Hand every non-empty batch to its worker."""
        for stream in list(self._batches):
            self.flush(stream)

    def wait_idle(self) -> None:
        """Block until every queued batch is committed (or failed)."""
        for worker in self._workers.values():
            while worker.is_alive() and worker.jobs.unfinished_tasks and not worker.failed.is_set():
                time.sleep(0.002)

    def _commit_globals(self) -> None:
        if any(w.is_alive() and w.overwriting for w in self._workers.values()):
            return
        message = self._pending_globals[-1] if self._pending_globals else None
        if message is None:
            return
        secrets = self._config.secrets()
        with map_psycopg_errors(secrets), self._control.cursor() as cur:
            _state_table.upsert_state(
                cur, self._config.target_schema, _state_table.GLOBAL_KEY, {"data": message.source_state.data}
            )
            self._control.commit()
        self.results.extend(self._pending_globals)
        self._pending_globals = []

    def drain(self) -> Iterator[Message]:
        """Messages ready to go out (echoed states, stream errors); raises a worker's fatal error."""
        results = self.results
        while results:
            item = results.popleft()
            if isinstance(item, _Fatal):
                raise item.error
            yield item

    def close(self, finished_streams: set[str], started_streams: set[str]) -> Iterator[Message]:
        """End of input: flush everything, finish overwrites, wait for all commits, echo the rest."""
        for stream in list(self._batches):
            if stream in self._finished:
                self.flush(stream)  # only checkpoints may be left: they belong to the finished load
            else:
                self.flush(stream, finish=stream in finished_streams or stream not in started_streams)
        for worker in self._workers.values():
            worker.jobs.put(None)
        for worker in self._workers.values():
            worker.join()
            if worker.unfinished_overwrite:
                log.warning(
                    "stream %r did not complete: its overwrite was rolled back and the table left as it was",
                    worker.table.stream,
                )
        yield from self.drain()
        self._commit_globals()
        yield from self.drain()

    def abort(self) -> None:
        """Stop the workers without committing what is still queued (their transactions roll back)."""
        for worker in self._workers.values():
            worker.failed.set()
            try:
                worker.jobs.put_nowait(None)
            except queue.Full:
                pass

"""Reading stdin on a thread of its own, so a destination's write loop wakes up even while the source is silent.

Without it a checkpoint that arrived just before a pause in the input would wait, uncommitted and unechoed,
until the next message. Messages cross between the threads through a `queue.SimpleQueue` (put and a get that
waits are C code), and they cross in batches when the input comes as `Batched`: one batch per read of stdin, so
the two threads hand over (and pass the GIL back and forth) once per read instead of once per message
(measured: handing over each record was half of a Postgres write loop's CPU). The reader waits while too many
batches are queued, which bounds memory, until the write loop has taken half of them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")

_MAX_QUEUED = 2_000
"""Single messages parsed ahead of the write loop, at most."""
_MAX_QUEUED_BATCHES = 32
"""Batches (reads of stdin, up to 256 KiB each) parsed ahead of the write loop, at most."""


class Batched(Iterator[Item]):
    """Items that also come as the batches they were read in; iterating gives them one at a time."""

    def __init__(self, batches: Iterator[list[Item]]) -> None:
        self.batches = batches
        self._current: Iterator[Item] = iter(())

    def __next__(self) -> Item:
        while True:
            item = next(self._current, _NOTHING)
            if item is not _NOTHING:
                return cast(Item, item)
            self._current = iter(next(self.batches))


_NOTHING = object()


class _End:
    """Put after the last message; carries the reader's error, if it failed."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Inbox(Generic[Item]):
    """Iterates a blocking message iterator on a daemon thread; `get_batch(timeout)` (or `get`) returns None on
    timeout and raises `StopIteration` at the end of input."""

    def __init__(self, messages: Iterator[Item]) -> None:
        if isinstance(messages, Batched):
            self._batches: Iterator[list[Item]] = messages.batches
            self._limit = _MAX_QUEUED_BATCHES
        else:
            self._batches = ([m] for m in messages)
            self._limit = _MAX_QUEUED
        self._queue: queue.SimpleQueue[list[Item] | _End] = queue.SimpleQueue()
        self._space = threading.Event()
        self._full = False
        """The reader waits for `_space` (set by the write loop once half the queue is taken)."""
        self._end: _End | None = None
        self._stopped = False
        self._taken: list[Item] = []
        self._next = 0
        """`get` hands out `_taken` from this index on before taking another batch."""
        self._thread = threading.Thread(target=self._read, name="stdin-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        put, size, limit = self._queue.put, self._queue.qsize, self._limit
        error: BaseException | None = None
        try:
            for batch in self._batches:
                if not batch:
                    continue
                put(batch)
                if size() >= limit:
                    self._space.clear()
                    self._full = True
                    while size() >= limit // 2 and not self._stopped:
                        self._space.wait(0.1)
                if self._stopped:
                    return
        except BaseException as exc:  # handed to the write loop, which raises it there
            error = exc
        finally:
            put(_End(error))

    def get_batch(self, timeout: float) -> list[Item] | None:
        """The next messages, in order (never an empty list); None if none came within `timeout` s.
        `StopIteration` at the end of input."""
        if self._next < len(self._taken):
            rest = self._taken[self._next :]
            self._taken, self._next = [], 0
            return rest
        if self._end is not None:
            self._raise_end(self._end)
        if self._full and self._queue.qsize() <= self._limit // 2:
            self._full = False
            self._space.set()
        try:
            batch = self._queue.get(True, timeout)
        except queue.Empty:
            return None
        if type(batch) is _End:
            self._end = batch
            self._raise_end(batch)
        return cast(list[Item], batch)

    def get(self, timeout: float) -> Item | None:
        """The next message; None if none came within `timeout` s. `StopIteration` at the end of input."""
        if self._next >= len(self._taken):
            batch = self.get_batch(timeout)
            if batch is None:
                return None
            self._taken, self._next = batch, 0
        item = self._taken[self._next]
        self._next += 1
        return item

    @staticmethod
    def _raise_end(end: _End) -> None:
        if end.error is not None:
            raise end.error from None
        raise StopIteration

    def stop(self) -> None:
        """Ask the reader to stop (it may still be blocked reading; it is a daemon thread)."""
        self._stopped = True
        self._space.set()

"""Reading stdin on a thread of its own, so a destination's write loop wakes up even while the source is silent.

Without it a checkpoint that arrived just before a pause in the input would wait, uncommitted and unechoed,
until the next message. Messages are handed over through a `queue.SimpleQueue`: put and a get that waits are
C code, so a write loop that keeps up with its input (and waits for nearly every message) costs a fraction of a
microsecond per message, where `threading.Event` built a Python condition and a lock per wait (measured: about
2 µs per record of a destination's CPU). The reader waits while too many are queued, which bounds memory, until
the write loop has taken half of them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")

_MAX_QUEUED = 2_000
"""Messages parsed ahead of the write loop, at most."""


class _End:
    """Put after the last message; carries the reader's error, if it failed."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Inbox(Generic[Item]):
    """Iterates a blocking message iterator on a daemon thread; `get(timeout)` returns None on timeout."""

    def __init__(self, messages: Iterator[Item]) -> None:
        self._messages = messages
        self._queue: queue.SimpleQueue[Item | _End] = queue.SimpleQueue()
        self._space = threading.Event()
        self._full = False
        """The reader waits for `_space` (set by `get` once half the queue is taken)."""
        self._end: _End | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._read, name="stdin-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        put, size = self._queue.put, self._queue.qsize
        error: BaseException | None = None
        try:
            for message in self._messages:
                put(message)
                if size() >= _MAX_QUEUED:
                    self._space.clear()
                    self._full = True
                    while size() >= _MAX_QUEUED // 2 and not self._stopped:
                        self._space.wait(0.1)
                if self._stopped:
                    return
        except BaseException as exc:  # handed to the write loop, which raises it there
            error = exc
        finally:
            put(_End(error))

    def get(self, timeout: float) -> Item | None:
        """The next message; None if none came within `timeout` s. `StopIteration` at the end of input."""
        if self._end is not None:
            self._raise_end(self._end)
        if self._full and self._queue.qsize() <= _MAX_QUEUED // 2:
            self._full = False
            self._space.set()
        try:
            item = self._queue.get(True, timeout)
        except queue.Empty:
            return None
        if type(item) is _End:
            self._end = item
            self._raise_end(item)
        return cast(Item, item)

    @staticmethod
    def _raise_end(end: _End) -> None:
        if end.error is not None:
            raise end.error from None
        raise StopIteration

    def stop(self) -> None:
        """Ask the reader to stop (it may still be blocked reading; it is a daemon thread)."""
        self._stopped = True
        self._space.set()

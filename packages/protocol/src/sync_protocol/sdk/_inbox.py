"""Reading stdin on a thread of its own, so a destination's write loop wakes up even while the source is silent.

Without it a checkpoint that arrived just before a pause in the input would wait, uncommitted and unechoed,
until the next message. Messages are handed over through a deque (no lock or condition per message); the
reader waits while too many are queued, which bounds memory, until the write loop has taken half of them (it
sleeps on an event rather than polling: a polling reader took the GIL from the write loop a thousand times a
second).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

Item = TypeVar("Item")

_MAX_QUEUED = 2_000
"""Messages parsed ahead of the write loop, at most."""


class Inbox(Generic[Item]):
    """Iterates a blocking message iterator on a daemon thread; `get(timeout)` returns None on timeout."""

    def __init__(self, messages: Iterator[Item]) -> None:
        self._messages = messages
        self._queue: deque[Item] = deque()
        self._wakeup = threading.Event()
        self._waiting = False
        self._space = threading.Event()
        self._full = False
        """The reader waits for `_space` (set by `get` once half the queue is taken)."""
        self._done = False
        self._error: BaseException | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._read, name="stdin-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        queue = self._queue
        try:
            for message in self._messages:
                queue.append(message)
                if self._waiting:
                    self._wakeup.set()
                if len(queue) >= _MAX_QUEUED:
                    self._space.clear()
                    self._full = True
                    while len(queue) >= _MAX_QUEUED // 2 and not self._stopped:
                        self._space.wait(0.1)
                if self._stopped:
                    return
        except BaseException as exc:  # handed to the write loop, which raises it there
            self._error = exc
        finally:
            self._done = True
            self._wakeup.set()

    def get(self, timeout: float) -> Item | None:
        """The next message; None if none came within `timeout` s. `StopIteration` at the end of input."""
        if self._full and len(self._queue) <= _MAX_QUEUED // 2:
            self._full = False
            self._space.set()
        try:
            return self._queue.popleft()
        except IndexError:
            pass
        self._waiting = True
        self._wakeup.clear()
        try:
            if not self._queue and not self._done:
                self._wakeup.wait(timeout)
        finally:
            self._waiting = False
        try:
            return self._queue.popleft()
        except IndexError:
            if self._done:
                if self._error is not None:
                    raise self._error from None
                raise StopIteration from None
            return None

    def stop(self) -> None:
        """Ask the reader to stop (it may still be blocked reading; it is a daemon thread)."""
        self._stopped = True
        self._space.set()

"""Reading stdin on a thread of its own, so the write loop wakes up while the source is silent.

Without it a checkpoint that arrived just before a pause in the input would wait, unwritten and unechoed, until
the next message. A bounded queue hands messages over and holds the reader back when the writer is busy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from sync_protocol import Message

_MAX_QUEUED = 2_000


class _End:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class Inbox:
    """Iterates a blocking message iterator on a daemon thread; `get(timeout)` returns None on timeout."""

    def __init__(self, messages: Iterator[Message]) -> None:
        self._queue: queue.Queue[Message | _End] = queue.Queue(_MAX_QUEUED)
        self._thread = threading.Thread(target=self._read, args=(messages,), name="stdin-reader", daemon=True)
        self._thread.start()

    def _read(self, messages: Iterator[Message]) -> None:
        error: BaseException | None = None
        try:
            for message in messages:
                self._queue.put(message)
        except BaseException as exc:  # handed to the write loop, which raises it there
            error = exc
        self._queue.put(_End(error))

    def get(self, timeout: float) -> Message | None:
        """The next message; None if none came within `timeout` s. `StopIteration` at the end of input."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _End):
            self._queue.put(item)  # stay at the end for any later call
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

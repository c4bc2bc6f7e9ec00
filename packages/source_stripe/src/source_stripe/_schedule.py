"""Which page to fetch next: fair shares of the workers between streams, at most `max_streams` streams at once.

Pure (no threads, no I/O). A worker waiting for its endpoint's budget (or sleeping out an endpoint's 429) still
holds its slot, so one stream with many segments must not take every slot: the next task always comes from the
active stream with the fewest tasks in flight. A stream alone gets every slot.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Ready tasks per stream (by name), handed out to the stream with the fewest in flight."""

    def __init__(self, max_streams: int) -> None:
        self._max_streams = max_streams
        self._ready: dict[str, deque[T]] = {}
        self._in_flight: dict[str, int] = {}
        self._active: list[str] = []
        self._waiting: deque[str] = deque()

    def add(self, stream: str, task: T) -> None:
        """Queue a task of `stream` (a stream seen first waits until fewer than `max_streams` are active)."""
        if stream not in self._ready:
            self._ready[stream] = deque()
            self._in_flight[stream] = 0
            self._waiting.append(stream)
        self._ready[stream].append(task)
        self._activate()

    def take(self) -> tuple[str, T] | None:
        """The next task to start, or None when no active stream has one ready."""
        candidates = [s for s in self._active if self._ready[s]]
        if not candidates:
            return None
        stream = min(candidates, key=lambda s: self._in_flight[s])
        self._in_flight[stream] += 1
        return stream, self._ready[stream].popleft()

    def done(self, stream: str) -> None:
        """A task of `stream` finished (its follow-ups, if any, were added before)."""
        self._in_flight[stream] -= 1
        self._retire(stream)

    def drop(self, stream: str) -> None:
        """Forget the ready tasks of a stream that stopped."""
        if stream in self._ready:
            self._ready[stream].clear()
            self._retire(stream)

    def in_flight(self, stream: str) -> int:
        """Tasks of `stream` started and not done."""
        return self._in_flight.get(stream, 0)

    def _retire(self, stream: str) -> None:
        if stream in self._active and not self._ready[stream] and not self._in_flight[stream]:
            self._active.remove(stream)
            self._activate()

    def _activate(self) -> None:
        while self._waiting and len(self._active) < self._max_streams:
            stream = self._waiting.popleft()
            if self._ready[stream] or self._in_flight[stream]:
                self._active.append(stream)

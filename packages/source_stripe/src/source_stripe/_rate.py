"""One token bucket shared by every stream of a key: requests wait here, and a 429 pauses everyone."""

from __future__ import annotations

import threading
import time


class CancelledError(Exception):
    """The read was cancelled while waiting (for a token, a backoff, or a response)."""


class TokenBucket:
    """`rate` tokens per second up to `capacity`; thread-safe; waits are cut short by `cancel`.

    `pause_until` (from a 429's Retry-After) holds back every caller until that monotonic instant.
    """

    def __init__(self, rate: float, capacity: float | None = None, *, cancel: threading.Event | None = None) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate / 10)
        self.cancel = cancel or threading.Event()
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.acquired = 0

    def pause_until(self, instant: float) -> None:
        """Hold every caller until monotonic `instant` (never shortens an existing pause)."""
        with self._lock:
            self._paused_until = max(self._paused_until, instant)

    def acquire(self) -> None:
        """Take one token, waiting as needed; raises `CancelledError` once cancelled."""
        while True:
            if self.cancel.is_set():
                raise CancelledError("cancelled")
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if now < self._paused_until:
                    wait = self._paused_until - now
                elif self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self.acquired += 1
                    return
                else:
                    wait = (1.0 - self._tokens) / self.rate
            self.cancel.wait(wait)

    def sleep(self, seconds: float) -> None:
        """Sleep that a cancel cuts short (raises `CancelledError`)."""
        if self.cancel.wait(seconds):
            raise CancelledError("cancelled")

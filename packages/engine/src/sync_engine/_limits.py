"""When a run stops early: its time limit, its state limit, or a stop request (SIGINT/SIGTERM in the CLI)."""

from __future__ import annotations

import time

import anyio


class RunLimits:
    """The limits of one invocation, counted from `started` (monotonic seconds)."""

    def __init__(
        self, started: float, time_limit_s: float | None, state_limit: int | None, stop: anyio.Event | None
    ) -> None:
        self.deadline = started + time_limit_s if time_limit_s else None
        self.state_limit = state_limit
        self.stop = stop
        self.states_forwarded = 0
        """States sent to the destination in this invocation, over all attempts."""

    def remaining(self) -> float:
        """Seconds left before the time limit (infinite without one)."""
        return float("inf") if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def stopping(self) -> bool:
        """A stop was requested."""
        return self.stop is not None and self.stop.is_set()

    def state_forwarded(self) -> bool:
        """Count one state sent to the destination; True when that reaches the state limit."""
        self.states_forwarded += 1
        return self.state_limit is not None and self.states_forwarded >= self.state_limit

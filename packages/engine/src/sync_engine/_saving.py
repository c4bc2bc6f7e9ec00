"""Persisting a run's checkpoint: the committed state, its progress and identity, at most every interval and at end.

A save that fails marks the run failed (once): the pumps check that flag, so no more data moves past a
checkpoint that could not be written.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
from sync_protocol import PipelineIdentity, ProgressMessage, SyncState

from ._checkpoint import CommitFence
from ._progress import ProgressTracker
from ._report import RunReport
from .stores import StateStore

TICK_S = 0.2


class CheckpointSaver:
    """Writes the fence's committed state to the store; `tick` also emits progress while work is in flight."""

    def __init__(
        self,
        store: StateStore,
        name: str,
        fence: CommitFence,
        progress: ProgressTracker,
        report: RunReport,
        identity: Callable[[], PipelineIdentity | None],
    ) -> None:
        self._store = store
        self._name = name
        self._fence = fence
        self._progress = progress
        self._report = report
        self._identity = identity
        self._lock = anyio.Lock()
        self._failed = False
        self._last_save = 0.0
        self._last_progress = 0.0
        self.dirty = True
        """Something was committed since the last save."""

    async def save(self, run_id: str, *, finished: bool = False) -> SyncState:
        """Persist the committed state now (shielded from cancellation); returns what was written."""
        async with self._lock:
            now = time.monotonic()
            state = self._fence.committed.model_copy(deep=True)
            state.run_id = run_id
            state.progress = self._progress.snapshot(now)
            state.finished = finished
            state.pipeline = self._identity()  # recomputed: a control message may have replaced a config
            self.dirty = False
            self._last_save = now
            try:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._store.save, self._name, state)
            except Exception as exc:
                if not self._failed:
                    self._failed = True
                    self._report.fail(f"cannot save the checkpoint, so the run stops: {type(exc).__name__}: {exc}")
            return state

    async def tick(self, run_id: str, checkpoint_interval_s: float, progress_interval_s: float) -> None:
        """Runs until cancelled: progress on every status change (or every interval), checkpoints when dirty."""
        while True:
            await anyio.sleep(TICK_S)
            now = time.monotonic()
            if self._progress.changed or now - self._last_progress >= progress_interval_s:
                self._last_progress = now
                self._progress.changed = False
                self._report.emit(ProgressMessage(progress=self._progress.snapshot(now)))
            if self.dirty and now - self._last_save >= checkpoint_interval_s:
                await self.save(run_id)

"""Run progress: per-stream status, counts, completed ranges and coverage, cumulative over a run's attempts.

Pure logic; the clock is passed in so tests control time.
"""

from __future__ import annotations

from collections import Counter

from sync_protocol import (
    ConfiguredCatalog,
    RunProgress,
    StreamProgress,
    StreamProgressStatus,
    StreamStatus,
    StreamStatusValue,
    SyncState,
    covered_fraction,
)

_FROM_SOURCE = {
    StreamStatusValue.STARTED: StreamProgressStatus.STARTED,
    StreamStatusValue.COMPLETE: StreamProgressStatus.COMPLETE,
    StreamStatusValue.SKIPPED: StreamProgressStatus.SKIPPED,
    StreamStatusValue.RATE_LIMITED: StreamProgressStatus.RATE_LIMITED,
}
_FINAL = {StreamProgressStatus.COMPLETE, StreamProgressStatus.SKIPPED, StreamProgressStatus.ERRORED}


class ProgressTracker:
    """Folds source statuses and destination commits into a `RunProgress`, starting from a previous attempt's."""

    def __init__(self, run_id: str, catalog: ConfiguredCatalog, previous: RunProgress | None, started_at: float):
        base = previous if previous is not None and previous.run_id == run_id else RunProgress(run_id=run_id)
        self._progress = base.model_copy(deep=True)
        self._base_elapsed = base.elapsed_s
        self._started_at = started_at
        self.changed = True
        """Set when a status changed since the last snapshot (progress is emitted on every status change)."""
        for stream in catalog.streams:
            entry = self._progress.streams.setdefault(stream.name, StreamProgress())
            entry.requested_range = stream.time_range
            if entry.status in (StreamProgressStatus.ERRORED, StreamProgressStatus.RATE_LIMITED):
                entry.status = StreamProgressStatus.NOT_STARTED
                entry.error = None
        self._run_stats = RunProgress(run_id=run_id)
        self._awaiting_commit: set[str] = set()

    def attempt_started(self) -> None:
        """The source was (re)started."""
        self._progress.attempts += 1
        self._run_stats.attempts += 1

    def source_status(self, status: StreamStatus, *, committed: bool = True) -> None:
        """The source reported a stream status.

        `complete` counts only once the destination has committed everything the source sent for the stream:
        with `committed=False` the stream waits for `stream_committed`.
        """
        entry = self._progress.streams.get(status.stream)
        if entry is None:
            return
        new = _FROM_SOURCE[status.status]
        if new is StreamProgressStatus.COMPLETE and not committed:
            self._awaiting_commit.add(status.stream)
            new = StreamProgressStatus.STARTED
        if entry.status is StreamProgressStatus.ERRORED or entry.status is new:
            return
        entry.status = new
        if status.reason and new is StreamProgressStatus.SKIPPED:
            entry.error = status.reason
        self.changed = True

    def stream_errored(self, stream: str, message: str) -> None:
        """A stream failed; the others go on."""
        entry = self._progress.streams.setdefault(stream, StreamProgress())
        entry.status = StreamProgressStatus.ERRORED
        entry.error = message
        self.changed = True

    def committed(
        self, records: Counter[str], state_stream: str | None, sync_state: SyncState, *, state_committed: bool = False
    ) -> None:
        """The destination committed `records` and, with `state_committed`, one state (of `state_stream`, or global)."""
        for name, count in records.items():
            for target in (self._progress, self._run_stats):
                target.streams.setdefault(name, StreamProgress()).record_count += count
                target.record_count += count
        if state_committed:
            for target in (self._progress, self._run_stats):
                target.state_count += 1
                if state_stream is not None:
                    target.streams.setdefault(state_stream, StreamProgress()).state_count += 1
        for name, stream_state in sync_state.streams.items():
            entry = self._progress.streams.get(name)
            if entry is not None:
                entry.completed_ranges = list(stream_state.completed_ranges)

    def stream_committed(self, stream: str) -> None:
        """Nothing of `stream` is in flight any more: a `complete` the source reported now holds."""
        if stream in self._awaiting_commit:
            self._awaiting_commit.discard(stream)
            self.source_status(StreamStatus(stream=stream, status=StreamStatusValue.COMPLETE))

    def all_committed(self) -> None:
        """The destination committed everything it was sent: every `complete` the source reported now holds."""
        for stream in sorted(self._awaiting_commit):
            self.stream_committed(stream)

    def unfinished_streams(self, streams: list[str]) -> list[str]:
        """Those of `streams` the source never ended (no `complete` or `skipped`) and that did not error.

        End of input and exit 0 complete nothing: only the source's own terminal status does.
        """
        return [name for name in streams if self._progress.streams.get(name, StreamProgress()).status not in _FINAL]

    @property
    def errored_streams(self) -> list[str]:
        """Streams that ended in error in this run."""
        return [n for n, e in self._progress.streams.items() if e.status is StreamProgressStatus.ERRORED]

    def snapshot(self, now: float) -> RunProgress:
        """Cumulative progress of the run (all attempts) at monotonic time `now`."""
        elapsed = now - self._started_at
        progress = self._progress.model_copy(deep=True)
        progress.elapsed_s = round(self._base_elapsed + elapsed, 3)
        progress.records_per_s = round(progress.record_count / progress.elapsed_s, 1) if progress.elapsed_s else 0.0
        for entry in progress.streams.values():
            if entry.requested_range is not None:
                entry.covered_fraction = covered_fraction(entry.requested_range, entry.completed_ranges)
            if entry.covered_fraction is None and entry.status in _FINAL - {StreamProgressStatus.ERRORED}:
                entry.covered_fraction = 1.0  # unbounded below, but the source read it to its end
        return progress

    def invocation_snapshot(self, now: float) -> RunProgress:
        """Figures of this invocation alone (not earlier attempts)."""
        stats = self._run_stats.model_copy(deep=True)
        stats.elapsed_s = round(now - self._started_at, 3)
        stats.records_per_s = round(stats.record_count / stats.elapsed_s, 1) if stats.elapsed_s else 0.0
        for name, entry in stats.streams.items():
            entry.status = self._progress.streams.get(name, StreamProgress()).status
        return stats

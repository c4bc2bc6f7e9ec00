"""Run progress: per-stream status, counts, completed ranges and coverage, cumulative over a run's attempts.

Pure logic; the clock is passed in so tests control time.
"""

from __future__ import annotations

from collections import Counter, deque

from sync_protocol import (
    ConfiguredCatalog,
    RunProgress,
    Stats,
    StreamProgress,
    StreamProgressStatus,
    StreamStatus,
    StreamStatusValue,
    SyncState,
    TimeRange,
    covered_fraction,
)

_FROM_SOURCE = {
    StreamStatusValue.STARTED: StreamProgressStatus.STARTED,
    StreamStatusValue.COMPLETE: StreamProgressStatus.COMPLETE,
    StreamStatusValue.SKIPPED: StreamProgressStatus.SKIPPED,
    StreamStatusValue.RATE_LIMITED: StreamProgressStatus.RATE_LIMITED,
}
RECENT_WINDOW_S = 10.0
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
        self._window: deque[tuple[float, int]] = deque()
        """(monotonic time, cumulative record count) samples of the last RECENT_WINDOW_S, for the recent rate."""

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
        if status.status is StreamStatusValue.STARTED and status.time_range is not None:
            entry.requested_range = _announced(entry.requested_range, status.time_range)
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

    def stats(self, stats: Stats) -> None:
        """A connector reported counters (increments): requests from the source, row changes from the destination."""
        targets = [self._progress, self._run_stats]
        if stats.request_count:
            for target in targets:
                target.request_count += stats.request_count
                if stats.stream is not None and stats.stream in self._progress.streams:
                    target.streams.setdefault(stats.stream, StreamProgress()).request_count += stats.request_count
        if stats.stream is None or stats.stream not in self._progress.streams:
            return
        for field in ("inserted_count", "updated_count", "deleted_count"):
            increase = getattr(stats, field)
            if increase is None:
                continue
            for target in targets:
                entry = target.streams.setdefault(stats.stream, StreamProgress())
                setattr(entry, field, (getattr(entry, field) or 0) + increase)
        self.changed = True

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
        _rates(progress)
        progress.recent_records_per_s = self._recent_rate(now, progress.record_count)
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
        _rates(stats)
        stats.recent_records_per_s = self._recent_rate(now, self._progress.record_count)
        for name, entry in stats.streams.items():
            entry.status = self._progress.streams.get(name, StreamProgress()).status
        return stats

    def _recent_rate(self, now: float, count: int) -> float:
        """Records per second over the last RECENT_WINDOW_S (the whole run while it is shorter)."""
        window = self._window
        if not window or now > window[-1][0]:
            window.append((now, count))
        while len(window) > 2 and now - window[1][0] >= RECENT_WINDOW_S:
            window.popleft()
        first_at, first_count = window[0]
        span = now - first_at
        return round((count - first_count) / span, 1) if span > 0 else 0.0


def _rates(progress: RunProgress) -> None:
    elapsed = progress.elapsed_s
    progress.records_per_s = round(progress.record_count / elapsed, 1) if elapsed else 0.0
    progress.states_per_s = round(progress.state_count / elapsed, 2) if elapsed else 0.0


def _announced(requested: TimeRange | None, announced: TimeRange) -> TimeRange:
    """The requested range with its open bounds filled from the range the source announced it reads."""
    if requested is None:
        return announced
    return TimeRange(gte=requested.gte or announced.gte, lt=requested.lt or announced.lt)


def lifetime_totals(earlier: RunProgress | None, run: RunProgress) -> RunProgress:
    """Totals over every run of a pipeline: the earlier runs' totals plus this run's figures."""
    total = (earlier or RunProgress()).model_copy(deep=True)
    total.run_id = None
    for field in ("elapsed_s", "record_count", "state_count", "request_count", "attempts"):
        setattr(total, field, round(getattr(total, field) + getattr(run, field), 3))
    for name, entry in run.streams.items():
        into = total.streams.setdefault(name, StreamProgress())
        for field in ("record_count", "state_count", "request_count"):
            setattr(into, field, getattr(into, field) + getattr(entry, field))
        for field in ("inserted_count", "updated_count", "deleted_count"):
            if getattr(entry, field) is not None:
                setattr(into, field, (getattr(into, field) or 0) + getattr(entry, field))
        into.status = entry.status
        into.completed_ranges = list(entry.completed_ranges)
    _rates(total)
    return total

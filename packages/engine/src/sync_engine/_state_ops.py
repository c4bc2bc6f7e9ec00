"""What `sync-engine state list | show | reset` and `sync --full-refresh` do to a checkpoint. Pure logic over
`SyncState`; the CLI finds the checkpoint's name with `Engine.checkpoint_name` (the same derivation `sync` uses),
and `Engine.sync(full_refresh=…)` applies `refreshed` under the run's lock."""

from __future__ import annotations

from collections.abc import Iterable

from sync_protocol import SyncState, TimeRange

from ._errors import PipelineConfigError
from ._progress import lifetime_totals
from ._suggest import did_you_mean


def without_streams(state: SyncState, streams: Iterable[str]) -> SyncState:
    """`state` with the named streams forgotten (their source state, completed ranges, run range and progress),
    so the next run reads them from the start. The source's global state, if any, is kept: it is not per stream.

    Raises `PipelineConfigError` for a name the checkpoint does not hold, with the closest one it does.
    """
    names = list(streams)
    known = set(state.streams) | set(state.run_ranges) | set(state.progress.streams if state.progress else {})
    unknown = [n for n in names if n not in known]
    if unknown:
        raise PipelineConfigError(
            f"the checkpoint holds no stream {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
            f"it holds {', '.join(sorted(known)) or 'none'}"
        )
    progress = state.progress
    if progress is not None:
        kept = {k: v for k, v in progress.streams.items() if k not in names}
        progress = progress.model_copy(update={"streams": kept})
    return state.model_copy(
        update={
            "streams": {k: v for k, v in state.streams.items() if k not in names},
            "run_ranges": {k: v for k, v in state.run_ranges.items() if k not in names},
            "progress": progress,
        }
    )


def refreshed(state: SyncState, streams: Iterable[str] | None) -> SyncState:
    """For `sync --full-refresh`: `state` with the named streams forgotten (names it does not hold are ignored),
    or with `None` all of it, so the run reads them from the start. The pipeline's lifetime totals stay: the run
    in the checkpoint joins them and ends here."""
    if streams is not None:
        held = set(state.streams) | set(state.run_ranges) | set(state.progress.streams if state.progress else {})
        return without_streams(state, [s for s in streams if s in held])
    earlier = lifetime_totals(state.earlier_runs, state.progress) if state.progress else state.earlier_runs
    return SyncState(pipeline=state.pipeline, earlier_runs=earlier, finished=True)


def _span(ranges: list[TimeRange]) -> str:
    if not ranges:
        return "nothing committed"
    shown = ", ".join(
        f"[{r.gte.isoformat() if r.gte else '…'}, {r.lt.isoformat() if r.lt else '…'})" for r in ranges[:3]
    )
    return shown + (f" and {len(ranges) - 3} more" if len(ranges) > 3 else "")


def describe_state(name: str, state: SyncState) -> list[str]:
    """A few human lines about a checkpoint: its run, whether it finished, and each stream's committed ranges."""
    progress = state.progress
    lines = [
        f"checkpoint {name}: run {state.run_id or '-'}, {'finished' if state.finished else 'unfinished'}"
        + (f", {progress.record_count:,} records so far" if progress else "")
    ]
    names = sorted(set(state.streams) | set(progress.streams if progress else {}))
    for stream in names:
        stream_state = state.streams.get(stream)
        ranges = stream_state.completed_ranges if stream_state else []
        stream_progress = progress.streams.get(stream) if progress else None
        status = stream_progress.status.value if stream_progress else "-"
        count = f"{stream_progress.record_count:,}" if stream_progress else "-"
        lines.append(f"  {stream}: {status}, {count} records, {_span(ranges)}")
    if state.global_state is not None:
        lines.append("  (the source also keeps a global state)")
    return lines

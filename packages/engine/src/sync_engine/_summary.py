"""What the terminal is told: the one-line run summary (always on stderr), the human summary for a terminal's
stdout, the streams table and the dry-run plan. Plain text (never markup), so any stream name shows as written."""

from __future__ import annotations

from collections.abc import Sequence

from sync_protocol import Catalog, ConfiguredCatalog, SyncState, TimeRange, subtract_ranges

from ._result import SyncResult


def summary_line(result: SyncResult) -> str:
    """`sync succeeded: 1,204 records in 5 streams, 3.1 s` and what is left to do or went wrong."""
    progress = result.request_progress
    streams = progress.streams
    errored = sorted(n for n, s in streams.items() if s.status.value == "errored")
    parts = [
        f"sync {result.status.value}: {progress.record_count:,} records in {len(streams)} stream"
        f"{'' if len(streams) == 1 else 's'}, {progress.elapsed_s:.1f} s"
    ]
    if errored:
        parts.append(f"errored: {', '.join(errored)}")
    if result.errors:
        count = len(result.errors)
        parts.append(f"{count} error{'' if count == 1 else 's'}, last: {result.errors[-1].message}")
    if result.has_more:
        parts.append("more to read: run again to continue")
    return "; ".join(parts)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]


def human_summary(result: SyncResult) -> list[str]:
    """A table of this run's streams (status, records, checkpoints, error) followed by the summary line."""
    rows = [
        [name, s.status.value, f"{s.record_count:,}", f"{s.state_count:,}", (s.error or "")[:60]]
        for name, s in sorted(result.request_progress.streams.items())
    ]
    return [*_table(["stream", "status", "records", "checkpoints", "error"], rows), "", summary_line(result)]


def streams_table(catalog: Catalog) -> list[str]:
    """The source's streams: name, sync modes, primary key, cursor, number of fields."""
    rows = []
    for stream in sorted(catalog.streams, key=lambda s: s.name):
        properties = stream.json_schema.get("properties")
        rows.append(
            [
                stream.name,
                ",".join(m.value for m in stream.supported_sync_modes),
                ",".join(".".join(path) for path in stream.primary_key) or "-",
                ".".join(stream.cursor_field or []) or "-",
                str(len(properties)) if isinstance(properties, dict) else "-",
            ]
        )
    return [*_table(["stream", "sync modes", "primary key", "cursor", "fields"], rows), f"{len(rows)} streams"]


def _range_text(r: TimeRange) -> str:
    return f"[{r.gte.isoformat() if r.gte else '…'}, {r.lt.isoformat() if r.lt else '…'})"


def dry_run_plan(name: str, catalog: ConfiguredCatalog, state: SyncState | None) -> list[str]:
    """What a run would read: each configured stream, its modes and fields, and its gaps from the checkpoint."""
    lines = [f"checkpoint {name}: {'none yet' if state is None else ('finished' if state.finished else 'unfinished')}"]
    rows = []
    for stream in catalog.streams:
        stream_state = state.streams.get(stream.name) if state is not None else None
        covered = stream_state.completed_ranges if stream_state is not None else []
        gaps = subtract_ranges(stream.time_range or TimeRange(), covered)
        gap_text = (
            "none"
            if not gaps
            else ", ".join(_range_text(g) for g in gaps[:3]) + (f" and {len(gaps) - 3} more" if len(gaps) > 3 else "")
        )
        properties = stream.json_schema.get("properties")
        rows.append(
            [
                stream.name,
                stream.sync_mode.value,
                stream.destination_sync_mode.value,
                str(len(properties)) if isinstance(properties, dict) else "-",
                gap_text,
            ]
        )
    return [*lines, *_table(["stream", "sync mode", "destination mode", "fields", "to read (gaps)"], rows)]

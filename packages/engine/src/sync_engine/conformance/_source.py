"""Checks of a source: discover, a read of a small selection, and a second read resumed from the last state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_protocol import (
    Catalog,
    CatalogMessage,
    ConfiguredCatalog,
    RecordMessage,
    SourceStateMessage,
    Spec,
    StateType,
    StreamState,
    StreamStatusMessage,
    SyncState,
    TimeRange,
    merge_ranges,
)

from ._checks import (
    TERMINAL_STATUSES,
    Finding,
    Line,
    committed_keys,
    foreign_streams,
    parse_output,
    redelivered,
    state_ranges,
    terminal_statuses,
    truncation,
)
from ._context import Context, describe_exit

HANDED_RANGE_START = datetime(2000, 1, 1, tzinfo=UTC)


def discover(ctx: Context) -> Catalog | None:
    """`discover` prints one valid catalog (None, and a failure, when it does not)."""
    capture = ctx.run(["discover", "--config", ctx.config_file()])
    lines, findings = parse_output(capture.stdout)
    catalogs = [line.message.catalog for line in lines if isinstance(line.message, CatalogMessage)]
    if capture.exit_code != 0 or findings or len(catalogs) != 1 or not catalogs[0].streams:
        message = (
            findings[0].message
            if findings
            else f"expected one catalog with streams and exit 0; got {len(catalogs)} catalogs, {describe_exit(capture)}"
        )
        ctx.failed("source.discover", message, capture, findings[0] if findings else None)
        return None
    ctx.passed("source.discover", f"{len(catalogs[0].streams)} streams")
    return catalogs[0]


def selection(catalog: Catalog, spec: Spec, streams: int) -> ConfiguredCatalog:
    """The first `streams` streams, each handed a time range when the source declares the capability."""
    handed = None
    if spec.capabilities.get("time_range"):
        upper = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
        handed = TimeRange(gte=HANDED_RANGE_START, lt=upper).model_dump(mode="json")
    return ConfiguredCatalog.model_validate(
        {
            "streams": [
                {
                    "name": s.name,
                    "json_schema": s.json_schema,
                    "primary_key": s.primary_key,
                    **({"time_range": handed} if handed else {}),
                }
                for s in catalog.streams[:streams]
            ]
        }
    )


def check_read(ctx: Context, catalog: ConfiguredCatalog) -> None:
    """Read the selection, judge its output, then read again from its last state."""
    catalog_file = ctx.invoker.arg_file("catalog", catalog.model_dump(mode="json", exclude_none=True))
    capture = ctx.run(["read", "--config", ctx.config_file(), "--catalog", catalog_file])
    lines, findings = parse_output(capture.stdout)
    ok_read = capture.exit_code == 0 and not findings
    if ok_read:
        records = sum(1 for line in lines if line.message.type == "record")
        ctx.passed("source.read_valid", f"{records} records, {len(lines)} messages")
    elif findings:
        ctx.failed("source.read_valid", findings[0].message, capture, findings[0])
    else:
        ctx.failed("source.read_valid", f"`read` {describe_exit(capture)}, expected 0", capture)
    ctx.verdict("source.output_complete", truncation(capture.stdout), capture)
    ctx.verdict("source.configured_streams_only", foreign_streams(lines, catalog), capture)
    ctx.verdict("source.states", state_ranges(lines, catalog), capture)
    ctx.verdict("source.terminal_status", terminal_statuses(lines, catalog), capture)
    if ctx.wanted("source.resume"):
        _check_resume(ctx, catalog, catalog_file, lines)


def _check_resume(ctx: Context, catalog: ConfiguredCatalog, catalog_file: str, lines: list[Line]) -> None:
    """Resumed from a state halfway through the first read, a source re-sends at most one page per stream.

    Halfway, as after a kill: a source may start a finished full refresh over, but never an interrupted one; so
    streams that ended before that point, or had nothing left to send after it, are left out of the second read.
    """
    positions = [i for i, line in enumerate(lines) if isinstance(line.message, SourceStateMessage)]
    _, page = committed_keys(lines, catalog)
    cut = positions[(len(positions) - 1) // 2] + 1 if positions else len(lines)
    later = {line.message.record.stream for line in lines[cut:] if isinstance(line.message, RecordMessage)}
    lines = lines[:cut]
    state = state_after(lines)
    if state is None:
        ctx.skipped("source.resume", "the first read sent no state")
        return
    statuses = [line.message.stream_status for line in lines if isinstance(line.message, StreamStatusMessage)]
    ended = {s.stream for s in statuses if s.status in TERMINAL_STATUSES}
    ended |= {s.name for s in catalog.streams if s.name not in later}  # nothing of it was left to read
    unfinished = [s for s in catalog.streams if s.name not in ended]
    if not unfinished:
        ctx.skipped("source.resume", "every stream ended before the halfway state")
        return
    catalog = ConfiguredCatalog(streams=unfinished)
    catalog_file = ctx.invoker.arg_file("catalog", catalog.model_dump(mode="json", exclude_none=True))
    state_file = ctx.invoker.arg_file("state", state.model_dump(mode="json", exclude_none=True))
    capture = ctx.run(["read", "--config", ctx.config_file(), "--catalog", catalog_file, "--state", state_file])
    again, findings = parse_output(capture.stdout)
    if capture.exit_code != 0 or findings:
        message = findings[0].message if findings else f"the resumed `read` {describe_exit(capture)}, expected 0"
        ctx.failed("source.resume", message, capture, findings[0] if findings else None)
        return
    committed, _ = committed_keys(lines, catalog)
    repeated = redelivered(again, catalog, committed)
    per_stream: dict[str, list[Line]] = {}
    for line in repeated:
        per_stream.setdefault(line.message.record.stream, []).append(line)  # type: ignore[union-attr]
    for stream, found in per_stream.items():
        if len(found) > page:
            ctx.failed(
                "source.resume",
                f"re-delivered {len(found)} committed records of stream {stream!r}, more than one page ({page})",
                capture,
                _finding(found[page]),
            )
            return
    ctx.passed("source.resume", f"{len(committed)} committed, {len(repeated)} re-delivered (one page is {page})")


def state_after(lines: list[Line]) -> SyncState | None:
    """The `--state` an engine would hand over after committing every state in `lines`."""
    streams: dict[str, StreamState] = {}
    global_state = None
    seen = False
    for line in lines:
        if not isinstance(line.message, SourceStateMessage):
            continue
        seen = True
        state = line.message.source_state
        if state.state_type is StateType.GLOBAL:
            global_state = state.data
        elif state.stream:
            previous = streams.get(state.stream)
            ranges = list(previous.completed_ranges) if previous else []
            if state.time_range is not None:
                ranges.append(state.time_range)
            streams[state.stream] = StreamState(data=state.data, completed_ranges=merge_ranges(ranges))
    return SyncState(streams=streams, global_state=global_state) if seen else None


def _finding(line: Line) -> Finding:
    return Finding("re-delivered", line.number, line.raw)

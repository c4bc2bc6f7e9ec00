"""What one read does for one stream, from its saved state: resume, fill uncovered spans, re-read, or only events.

Pure: no I/O. The state keeps `covered` (merged spans of seconds whose objects were all emitted), the remaining
`segments` with their cursors, and the events cursor. Whatever part of the requested range is neither covered nor
held by a saved segment is read afresh, so moving `start_date` earlier (or asking for an older `time_range`)
reads exactly the newly uncovered span. Strategies (see `Strategy`) widen the uncovered part: a lookback for
append-only objects without events, everything for small lists re-read periodically or after a lost events cursor.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sync_protocol import ConfiguredStream, StreamState, TimeRange

from ._backfill import Span, StreamRun, merge_spans, ts
from ._config import StripeConfig
from ._segments import Segment
from ._streams import Strategy, StreamDef

DAY = 86_400


def ceil_s(instant: datetime) -> int:
    """An instant rounded up to a whole second."""
    return math.ceil(instant.timestamp())


def subtract(spans: list[Span], minus: list[Span]) -> list[Span]:
    """`spans` without `minus` (both half-open second spans)."""
    out = merge_spans(spans)
    for c, d in merge_spans(minus):
        nxt: list[Span] = []
        for a, b in out:
            if d <= a or b <= c:
                nxt.append((a, b))
                continue
            if a < c:
                nxt.append((a, c))
            if d < b:
                nxt.append((d, b))
        out = nxt
    return out


def _saved(saved: StreamState | None) -> tuple[dict[str, Any], list[Span]]:
    """The state's data and what it says is covered (older states: their `done` range or committed ranges)."""
    data = saved.data if saved is not None and isinstance(saved.data, dict) else {}
    if data.get("v") == 2:
        covered = [(int(a), int(b)) for a, b in data.get("covered", [])]
        return data, merge_spans(covered)
    ranges = saved.completed_ranges if saved is not None else []
    spans = [(ceil_s(r.gte), ceil_s(r.lt)) for r in ranges if r.gte is not None and r.lt is not None]
    old = data.get("range") or [None, None]
    if data.get("v") == 1 and data.get("done") and isinstance(old[0], int) and isinstance(old[1], int):
        spans.append((old[0], old[1]))
    return data, merge_spans(spans)


def plan(
    config: StripeConfig,
    stream: StreamDef,
    configured: ConfiguredStream,
    saved: StreamState | None,
    start: int,
    now: int,
) -> tuple[StreamRun, str | None]:
    """The run of one stream for this read, and a warning to log (or None)."""
    wanted = configured.time_range or TimeRange()
    gte = wanted.gte or ts(start)
    requested = TimeRange(gte=gte, lt=max(gte, wanted.lt or ts(now)))
    assert requested.gte is not None and requested.lt is not None
    range_s = (ceil_s(requested.gte), ceil_s(requested.lt))
    run = StreamRun(stream, configured, requested, range_s)
    data, covered = _saved(saved)
    if not run.incremental and (data.get("done") or not data.get("segments")):
        data, covered = {}, []  # a full refresh starts over, unless it resumes one that was interrupted
    run.covered = covered
    after = data.get("events_after")
    run.events_after = after if isinstance(after, int) else None
    started = data.get("events_from")
    run.events_from = started if isinstance(started, int) else None
    reread = data.get("reread_at")
    run.reread_at = reread if isinstance(reread, int) else None
    for raw in data.get("segments", []):
        segment = _clip(Segment.from_json(raw), range_s, stream, config)
        if segment is not None:
            run.segments[len(run.segments)] = segment
    uncovered, warning = _uncovered(config, run, now)
    filtered = stream.created_filter and config.use_created_filter
    if filtered:
        held = [(s.gte, s.lt) for s in run.segments.values() if s.gte is not None and s.lt is not None]
        gaps = subtract([range_s], [*uncovered_complement(uncovered, range_s), *held])
        for a, b in gaps:
            for variant in range(len(stream.variants)):
                run.segments[len(run.segments)] = Segment(a, b, variant=variant)
        newest = [a for a, b in gaps if b == range_s[1]]
        if run.covered and newest:
            run.listed_from = newest[0]  # everything created since is listed by this read: no re-fetch needed
    elif not run.segments and _needs_full_read(run, uncovered):
        for variant in range(len(stream.variants)):
            run.segments[len(run.segments)] = Segment(None, None, variant=variant)
        run.listed_from = 0
    if run.segments:
        if run.events_after is None and run.events_from is None:
            run.events_from = range_s[1]
        if stream.strategy is Strategy.REREAD and (run.reread_at is None or _reread_due(config, run, now)):
            run.reread_at = now
    return run, warning


def uncovered_complement(uncovered: list[Span], range_s: Span) -> list[Span]:
    """The part of `range_s` that is not uncovered (i.e. needs no read)."""
    return subtract([range_s], uncovered)


def _reread_due(config: StripeConfig, run: StreamRun, now: int) -> bool:
    return run.reread_at is None or now - run.reread_at >= config.reread_every_s


def _uncovered(config: StripeConfig, run: StreamRun, now: int) -> tuple[list[Span], str | None]:
    """Spans of the requested range this read must list, by the stream's strategy."""
    stream = run.stream
    covered = run.covered
    warning = None
    if run.incremental and run.events_after is not None:
        if stream.strategy is Strategy.LOOKBACK and covered:
            top = max(b for _, b in covered)
            covered = subtract(covered, [(top - config.lookback_days * DAY, top)])
        elif stream.strategy is Strategy.REREAD and _reread_due(config, run, now):
            covered = []
        elif stream.strategy in (Strategy.EVENTS, Strategy.PARENT_EVENTS) and (
            now - run.events_after >= config.events_window_days * DAY - 3600
        ):
            warning = (
                f"{stream.name}: the events cursor is older than Stripe keeps events "
                f"({config.events_window_days} days); re-reading the whole range (objects deleted meanwhile "
                "cannot be seen, so no tombstones are sent for them)"
            )
            covered = []
            run.covered = []
            run.events_after = None
    return subtract([run.range_s], covered), warning


def _needs_full_read(run: StreamRun, uncovered: list[Span]) -> bool:
    """For lists without a `created` filter: read everything again, or rely on events for what is newer?"""
    if not run.incremental or not run.covered or run.events_after is None:
        return bool(uncovered) or not run.covered
    low = min(a for a, _ in run.covered)
    if run.stream.strategy in (Strategy.EVENTS, Strategy.PARENT_EVENTS):
        return run.range_s[0] < low  # only an older start needs the list again; newer changes come by events
    if run.stream.strategy is Strategy.REREAD:
        return run.range_s[0] < low or not uncovered_complement(uncovered, run.range_s)
    return bool(uncovered)


def _clip(segment: Segment, range_s: Span, stream: StreamDef, config: StripeConfig) -> Segment | None:
    """A saved segment limited to this read's range (a cursor stays valid when only bounds move)."""
    if segment.gte is None or segment.lt is None or not (stream.created_filter and config.use_created_filter):
        return segment
    if segment.variant >= len(stream.variants):
        return None
    gte, lt = max(segment.gte, range_s[0]), min(segment.lt, range_s[1])
    if gte >= lt:
        return None
    if segment.after_created is not None and segment.after_created < gte:
        return Segment(gte, lt, variant=segment.variant)
    return Segment(gte, lt, segment.after, segment.after_created, segment.variant)

"""Runs the backfill: every segment of every stream is a page task on one worker pool under one rate budget.

Only the main thread touches stream state: workers fetch pages, the main thread applies each page (records, then
a `source_state` whose `time_range` is exactly what that page completed) and schedules the continuation.
"""

from __future__ import annotations

import itertools
import queue
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync_protocol import (
    ConfiguredStream,
    Message,
    StreamError,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
    SyncMode,
    TimeRange,
    error_message,
    utc_now,
)
from sync_protocol.sdk import RawRecord, emitted_at_text, stream_state

from ._config import StripeConfig
from ._errors import StreamSkipped
from ._http import StripeHttp
from ._pages import Page, fetch_children, fetch_page
from ._schedule import FairQueue
from ._segments import Segment, advance
from ._streams import StreamDef

STATE_VERSION = 2
Span = tuple[int, int]


def ts(second: int) -> datetime:
    """A Unix second as an aware UTC datetime."""
    return datetime.fromtimestamp(second, UTC)


def merge_spans(spans: list[Span]) -> list[Span]:
    """Half-open second spans merged where they touch or overlap, sorted."""
    out: list[Span] = []
    for a, b in sorted(x for x in spans if x[0] < x[1]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@dataclass
class StreamRun:
    """The main thread's view of one stream during a read."""

    stream: StreamDef
    configured: ConfiguredStream
    requested: TimeRange
    """The span this read covers, as instants (bounded)."""
    range_s: Span
    """The same span in whole seconds: [ceil(gte), ceil(lt))."""
    segments: dict[int, Segment] = field(default_factory=dict)
    covered: list[Span] = field(default_factory=list)
    """Seconds whose objects have all been emitted (merged): what no later read has to list again."""
    events_after: int | None = None
    """Second from which events still have to be applied (set once the backfill is complete)."""
    events_from: int | None = None
    """Where the events cursor starts once the backfill in progress completes: when that backfill began."""
    reread_at: int | None = None
    """When the last full re-read of a `reread` stream began."""
    listed_from: int | None = None
    """Objects created from this second on were listed by this read (their events need no re-fetch)."""
    stopped: bool = False
    """No more work this read (finished, errored or skipped)."""
    errored: bool = False
    skipped: bool = False
    records: int = 0

    @property
    def incremental(self) -> bool:
        """Whether the stream continues through events after its backfill."""
        return self.configured.sync_mode == SyncMode.INCREMENTAL

    def state_data(self) -> dict[str, Any]:
        """The stream's checkpoint: small, remaining segments with cursors, what is covered, the events cursor."""
        return {
            "v": STATE_VERSION,
            "range": list(self.range_s),
            "covered": [list(c) for c in self.covered],
            "segments": [s.to_json() for s in self.segments.values()],
            "done": not self.segments,
            "events_after": self.events_after,
            "events_from": self.events_from,
            "reread_at": self.reread_at,
        }

    def span(self, seconds: Span | None) -> TimeRange | None:
        """Whole seconds [a, b) as a TimeRange, widened to the requested bounds at the ends (no slivers)."""
        if seconds is None:
            return None
        a, b = seconds
        gte = self.requested.gte if a <= self.range_s[0] else ts(a)
        lt = self.requested.lt if b >= self.range_s[1] else ts(b)
        return TimeRange(gte=gte, lt=lt)

    def finish(self) -> None:
        """The backfill of this read is complete: the requested span is covered and the events cursor starts."""
        self.covered = merge_spans([*self.covered, self.range_s])
        if self.events_after is None:
            self.events_after = self.events_from if self.events_from is not None else self.range_s[1]
        self.events_from = None


def status(
    stream: str,
    value: StreamStatusValue,
    *,
    reason: str | None = None,
    retry_at: datetime | None = None,
    time_range: TimeRange | None = None,
) -> StreamStatusMessage:
    """A stream_status message."""
    return StreamStatusMessage(
        stream_status=StreamStatus(stream=stream, status=value, reason=reason, retry_at=retry_at, time_range=time_range)
    )


class Backfill:
    """Runs page tasks of many streams on `max_concurrency` threads (fair shares: `FairQueue`) and applies the
    results in order of completion."""

    def __init__(
        self,
        http: StripeHttp,
        config: StripeConfig,
        notices: queue.Queue[Message],
        on_idle: Callable[[], Iterator[Message]] | None = None,
    ) -> None:
        self._http = http
        self._config = config
        self._notices = notices
        self._on_idle = on_idle
        self._keys = itertools.count()

    def run(self, runs: list[StreamRun]) -> Iterator[Message | RawRecord]:
        """Yield records, states and statuses until every segment of every stream is done or stopped."""
        workers = self._config.max_concurrency
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stripe-page")
        self._fan_out = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stripe-child")
        futures: dict[Future[Page], tuple[StreamRun, int]] = {}
        by_name = {run.stream.name: run for run in runs}
        ready: FairQueue[tuple[int, Segment]] = FairQueue(self._config.max_concurrent_streams)
        # Keys of segments created while running must not collide with those a resumed state brought in.
        self._keys = itertools.count(max((k for run in runs for k in run.segments), default=-1) + 1)
        for run in runs:
            for key, segment in run.segments.items():
                ready.add(run.stream.name, (key, segment))

        def fill() -> None:
            while len(futures) < workers and (task := ready.take()) is not None:
                name, (key, segment) = task
                futures[self._submit(pool, by_name[name], segment)] = (by_name[name], key)

        try:
            fill()
            while futures:
                done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                yield from self._drain()
                for future in done:
                    run, key = futures.pop(future)
                    name = run.stream.name
                    if run.stopped:
                        ready.done(name)
                        continue
                    try:
                        page = future.result()
                    except (StreamError, ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
                        run.stopped = True
                        ready.drop(name)
                        ready.done(name)
                        yield stream_failed(run, exc)
                        continue
                    for message, follow_up, new_key in self._apply(run, key, page):
                        if follow_up is not None and new_key is not None:
                            ready.add(name, (new_key, follow_up))
                        if message is not None:
                            yield message
                    ready.done(name)
                fill()
            yield from self._drain()
        finally:
            if futures:  # stopped early: reach in-flight requests and sleeps
                self._http.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self._fan_out.shutdown(wait=True, cancel_futures=True)

    def _drain(self) -> Iterator[Message]:
        while True:
            try:
                yield self._notices.get_nowait()
            except queue.Empty:
                break
        if self._on_idle is not None:
            yield from self._on_idle()

    def _submit(self, pool: ThreadPoolExecutor, run: StreamRun, segment: Segment) -> Future[Page]:
        if run.stream.parent:
            return pool.submit(fetch_children, self._http, self._config, run.stream, segment, self._fan_out)
        return pool.submit(fetch_page, self._http, self._config, run.stream, segment)

    def _apply(
        self, run: StreamRun, key: int, page: Page
    ) -> Iterator[tuple[Message | RawRecord | None, Segment | None, int | None]]:
        segment = run.segments.pop(key)
        outcome = page.outcome or advance(
            segment,
            page.times,
            page.last_id,
            page.has_more,
            target_objects=self._config.segment_objects,
            max_split=self._config.max_split,
        )
        name = run.stream.name
        objects = page.objects if run.stream.parent else page.objects[: outcome.emit]
        emitted_at = emitted_at_text(utc_now())  # the page's objects were all read at this moment
        for data in objects:
            yield RawRecord.from_json(name, data, emitted_at), None, None
        run.records += len(objects)
        for replacement in outcome.replacements:
            new_key = next(self._keys)
            run.segments[new_key] = replacement
            yield None, replacement, new_key
        # With several parameter sets (variants) a span is complete only once every set has read it.
        single = len(run.stream.variants) == 1
        completed = outcome.completed if single else None
        if completed is not None:
            run.covered = merge_spans([*run.covered, completed])
        time_range = run.span(completed)
        if not run.segments:
            run.finish()
            time_range = time_range if single and time_range is not None else run.requested
        yield stream_state(name, run.state_data(), time_range), None, None


def stream_failed(run: StreamRun, exc: Exception) -> Message:
    """Mark `run` stopped by `exc` and say so: `skipped` when the account cannot use it, else a stream error."""
    run.stopped = True
    if isinstance(exc, StreamSkipped):
        run.skipped = True
        return status(run.stream.name, StreamStatusValue.SKIPPED, reason=exc.message)
    run.errored = True
    if isinstance(exc, StreamError):
        return error_message(exc, stream=run.stream.name)
    detail = "".join(traceback.format_exception_only(exc)).strip()
    return error_message(
        StreamError(f"{run.stream.name}: unexpected answer from Stripe ({detail})", stream=run.stream.name),
        stream=run.stream.name,
    )

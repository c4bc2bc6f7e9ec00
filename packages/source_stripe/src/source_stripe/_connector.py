"""`source-stripe`: check, discover, read (backfill by created ranges, then events), pushed events on stdin."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import stripe
from pydantic import BaseModel
from sync_protocol import (
    Catalog,
    ConfiguredCatalog,
    ConfiguredStream,
    ConnectionStatus,
    ConnectionStatusValue,
    Log,
    LogLevel,
    LogMessage,
    Message,
    SourceInput,
    Stream,
    StreamError,
    StreamStatusValue,
    SyncMode,
    SyncState,
    TimeRange,
    error_message,
    subtract_ranges,
)
from sync_protocol.sdk import Connector, stream_state

from ._backfill import STATE_VERSION, Backfill, StreamRun, status, ts
from ._config import StripeConfig
from ._errors import StreamSkipped, map_stripe_errors
from ._events import Change, apply_changes, change_of, list_changes
from ._http import StripeHttp
from ._rate import TokenBucket
from ._segments import Segment
from ._streams import STREAMS, STREAMS_BY_NAME, StreamDef

STRIPE_EPOCH = 1_293_840_000  # 2011-01-01: no account is older
DAY = 86_400


def _ceil_s(instant: datetime) -> int:
    return math.ceil(instant.timestamp())


class StripeSource(Connector[StripeConfig]):
    """The Stripe source; see the package README for streams, state and error levels."""

    config_model: ClassVar[type[BaseModel]] = StripeConfig
    capabilities: ClassVar[dict[str, Any]] = {"time_range": True, "source_input": "stripe_event"}

    def check(self, config: StripeConfig) -> ConnectionStatus:
        """Ask for the balance through the SDK (auth, API version and errors as Stripe's client does them)."""
        client = stripe.StripeClient(
            config.api_key.get_secret_value(),
            base_addresses={"api": config.api_base},
            max_network_retries=2,
            stripe_account=config.account_id,
        )
        with map_stripe_errors():
            client.v1.balance.retrieve()
        return ConnectionStatus(status=ConnectionStatusValue.SUCCEEDED)

    def discover(self, config: StripeConfig) -> Catalog:
        """Every stream, offline: schemas come from the generated file."""
        return Catalog(streams=[_catalog_stream(s) for s in STREAMS])

    def read(
        self,
        config: StripeConfig,
        catalog: ConfiguredCatalog,
        state: SyncState | None,
        inputs: Iterator[SourceInput],
    ) -> Iterable[Message]:
        """Backfill the gaps, apply events to finished incremental streams, then apply pushed events."""
        notices: queue.Queue[Message] = queue.Queue()
        pushed: queue.Queue[SourceInput | None] = queue.Queue()
        bucket = TokenBucket(config.rate(), config.burst)

        def rate_limited(stream: str | None, retry_at: datetime, reason: str) -> None:
            notices.put(status(stream or "events", StreamStatusValue.RATE_LIMITED, reason=reason, retry_at=retry_at))

        http = StripeHttp(config, bucket, rate_limited)
        reader = threading.Thread(target=_pump, args=(inputs, pushed), daemon=True, name="stripe-inputs")
        reader.start()
        try:
            now = int(datetime.now(UTC).timestamp())
            start = _ceil_s(config.start_date) if config.start_date else self._account_start(http)
            runs: list[StreamRun] = []
            for configured in catalog.streams:
                stream = STREAMS_BY_NAME.get(configured.name)
                if stream is None:
                    yield error_message(StreamError(f"unknown stream {configured.name!r}", stream=configured.name))
                    continue
                saved = state.streams.get(configured.name) if state else None
                run, warning = _plan(config, stream, configured, saved, start, now)
                if warning:
                    yield LogMessage(log=Log(level=LogLevel.WARN, message=warning, data={"stream": stream.name}))
                runs.append(run)
                yield status(stream.name, StreamStatusValue.STARTED, time_range=run.requested)
            yield from Backfill(http, config, notices).run([r for r in runs if r.segments])
            yield from _events_phase(http, config, [r for r in runs if r.needs_events and not r.stopped], now)
            for run in runs:
                if not run.stopped:
                    yield status(run.stream.name, StreamStatusValue.COMPLETE, time_range=run.requested)
            yield from _pushed_phase(http, config, pushed, {r.stream.name for r in runs if not r.stopped})
            while not notices.empty():
                yield notices.get_nowait()
        finally:
            http.cancel()
            http.close()

    def _account_start(self, http: StripeHttp) -> int:
        """The account's creation second (the default start of a backfill)."""
        with map_stripe_errors():
            account = http.get("/v1/account")
        created = account.get("created") if isinstance(account, dict) else None
        return int(created) if isinstance(created, int) else STRIPE_EPOCH


def _catalog_stream(stream: StreamDef) -> Stream:
    return Stream(
        name=stream.name,
        json_schema=stream.json_schema,
        primary_key=[["id"]],
        cursor_field=[stream.time_field],
        supported_sync_modes=[SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL],
        metadata={"path": stream.path, "created_filter": stream.created_filter, "parent": stream.parent},
    )


def _plan(
    config: StripeConfig, stream: StreamDef, configured: ConfiguredStream, saved: Any, start: int, now: int
) -> tuple[StreamRun, str | None]:
    """What this read does for one stream: resume segments, re-read gaps, or only apply events."""
    wanted = configured.time_range or TimeRange()
    gte = wanted.gte or ts(start)
    requested = TimeRange(gte=gte, lt=max(gte, wanted.lt or ts(now)))
    assert requested.gte is not None and requested.lt is not None
    range_s = (_ceil_s(requested.gte), _ceil_s(requested.lt))
    run = StreamRun(stream, configured, requested, range_s)
    data = saved.data if saved is not None and isinstance(saved.data, dict) else {}
    completed = list(saved.completed_ranges) if saved is not None else []
    warning = None
    if data.get("v") == STATE_VERSION and data.get("done") and run.incremental and stream.name != "events":
        after = data.get("events_after")
        if isinstance(after, int) and now - after < config.events_window_days * DAY - 3600:
            run.events_after = after
            run.needs_events = True
            return run, None
        warning = (
            f"{stream.name}: the events cursor is older than Stripe keeps events "
            f"({config.events_window_days} days); re-reading the whole range"
        )
        completed = []
    elif data.get("v") == STATE_VERSION and not data.get("done"):
        old = data.get("range") or [None, None]
        for raw in data.get("segments", []):
            segment = _clip(Segment.from_json(raw), range_s, stream)
            if segment is not None:
                run.segments[len(run.segments)] = segment
        pieces = [(range_s[0], min(range_s[1], old[0]))] if isinstance(old[0], int) else []
        pieces += [(max(range_s[0], old[1]), range_s[1])] if isinstance(old[1], int) else []
        for a, b in pieces:
            if a < b and stream.created_filter:
                run.segments[len(run.segments)] = Segment(a, b)
        return run, None
    elif data.get("v") == STATE_VERSION and data.get("done") and run.incremental:
        completed = list(completed)  # the events stream: read only what is newer than what is complete
    elif not run.incremental:
        completed = []  # full refresh: everything again
    if not stream.created_filter or not config.use_created_filter:
        run.segments[0] = Segment(None, None)
        return run, warning
    for gap in subtract_ranges(requested, completed):
        a = _ceil_s(gap.gte) if gap.gte else range_s[0]
        b = _ceil_s(gap.lt) if gap.lt else range_s[1]
        if a < b:
            run.segments[len(run.segments)] = Segment(a, b)
    return run, warning


def _clip(segment: Segment, range_s: tuple[int, int], stream: StreamDef) -> Segment | None:
    """A saved segment limited to this read's range (a cursor stays valid when only bounds move)."""
    if segment.gte is None or segment.lt is None or not stream.created_filter:
        return segment
    gte, lt = max(segment.gte, range_s[0]), min(segment.lt, range_s[1])
    if gte >= lt:
        return None
    if segment.after_created is not None and segment.after_created < gte:
        return Segment(gte, lt)
    return Segment(gte, lt, segment.after, segment.after_created)


def _events_phase(http: StripeHttp, config: StripeConfig, runs: list[StreamRun], now: int) -> Iterator[Message]:
    """Apply events since each stream's cursor; each stream's new cursor is checkpointed at the end."""
    if not runs:
        return
    until = now - config.events_lag_s
    wanted = {r.stream.name: r.events_after or until for r in runs}
    gte = min(wanted.values())
    if gte < until:
        with map_stripe_errors("events"):
            changes, _ = list_changes(http, config, gte, until, wanted)
            yield from apply_changes(http, changes, config.max_concurrency)
    for run in runs:
        run.events_after = max(until, run.events_after or until)
        yield stream_state(
            run.stream.name, run.state_data(), TimeRange(gte=ts(wanted[run.stream.name]), lt=ts(run.events_after))
        )


def _pump(inputs: Iterator[SourceInput], out: queue.Queue[SourceInput | None]) -> None:
    """Read pushed inputs on a thread so a quiet stdin never holds up the backfill."""
    try:
        for item in inputs:
            out.put(item)
    finally:
        out.put(None)


def _pushed_phase(
    http: StripeHttp, config: StripeConfig, pushed: queue.Queue[SourceInput | None], streams: set[str]
) -> Iterator[Message]:
    """Apply pushed Stripe events (e.g. from a webhook) until stdin ends: re-fetch and emit each object."""
    changes: list[Change] = []
    while True:
        item = pushed.get()
        if item is None:
            break
        change = change_of(item.data)
        if change is None or change.stream.name not in streams:
            yield LogMessage(
                log=Log(
                    level=LogLevel.WARN,
                    message="ignored a pushed event of no configured stream",
                    data={"type": str(item.data.get("type")), "id": str(item.data.get("id"))},
                )
            )
            continue
        changes.append(change)
    if changes:
        try:
            yield from apply_changes(http, changes, config.max_concurrency)
        except StreamSkipped as exc:
            yield status(exc.stream or "events", StreamStatusValue.SKIPPED, reason=exc.message)

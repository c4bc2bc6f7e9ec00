"""`source-stripe`: check, discover, read (backfill by created ranges, then each stream's incremental strategy)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel
from sync_protocol import (
    AuthError,
    Catalog,
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusValue,
    Log,
    LogLevel,
    LogMessage,
    Message,
    SourceInput,
    SourceStateMessage,
    Stats,
    StatsMessage,
    Stream,
    StreamError,
    StreamStatusMessage,
    StreamStatusValue,
    SyncMode,
    SyncState,
    TimeRange,
    error_message,
)
from sync_protocol.sdk import Connector, RawRecord, stream_state

from ._backfill import Backfill, StreamRun, status, stream_failed, ts
from ._config import StripeConfig
from ._errors import StripeUnreachableError, map_stripe_errors, unreachable_reason
from ._events import Change, apply_changes, changes_of, list_changes, skip_listed
from ._http import StripeHttp, api_version
from ._plan import plan
from ._rate import TokenBucket
from ._streams import STREAMS, STREAMS_BY_NAME, Strategy, StreamDef

STRIPE_EPOCH = 1_293_840_000  # 2011-01-01: no account is older


class StripeSource(Connector[StripeConfig]):
    """The Stripe source; see the package README for streams, strategies, state and error levels."""

    config_model: ClassVar[type[BaseModel]] = StripeConfig
    capabilities: ClassVar[dict[str, Any]] = {"time_range": True, "source_input": "stripe_event"}

    def check(self, config: StripeConfig) -> ConnectionStatus:
        """Ask for the balance through the SDK (auth, API version and errors as Stripe's client does them)."""
        import stripe  # only here: the SDK costs half a second to import and the read path does without it

        client = stripe.StripeClient(
            config.api_key.get_secret_value(),
            base_addresses={"api": config.api_base},
            max_network_retries=2,
            stripe_account=config.account_id,
            stripe_version=api_version(),
        )
        with map_stripe_errors():
            try:
                client.v1.balance.retrieve()
            except stripe.APIConnectionError as exc:
                reason = unreachable_reason(_root_cause(exc))
                if reason is None:
                    raise
                raise StripeUnreachableError(config.api_base, reason) from exc
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
    ) -> Iterable[Message | RawRecord]:
        """Backfill what is not covered, apply events to incremental streams, then apply pushed events.

        Every configured stream ends with `complete` or `skipped`, also after a stream error. The requests made
        so far are reported (`stats`) before every checkpoint and status, so the engine's count follows the run.
        """
        counter: list[StripeHttp] = []
        reported = 0
        for message in self._read(config, catalog, state, inputs, counter):
            if counter and isinstance(message, SourceStateMessage | StreamStatusMessage):
                made = counter[0].requests
                if made > reported:
                    yield StatsMessage(stats=Stats(request_count=made - reported))
                    reported = made
            yield message

    def _read(
        self,
        config: StripeConfig,
        catalog: ConfiguredCatalog,
        state: SyncState | None,
        inputs: Iterator[SourceInput],
        counter: list[StripeHttp],
    ) -> Iterable[Message | RawRecord]:
        notices: queue.Queue[Message] = queue.Queue()
        pushed: queue.Queue[SourceInput | None] = queue.Queue()
        bucket = TokenBucket(config.rate(), config.burst)

        def rate_limited(stream: str | None, retry_at: datetime, reason: str) -> None:
            notices.put(status(stream or "events", StreamStatusValue.RATE_LIMITED, reason=reason, retry_at=retry_at))

        http = StripeHttp(config, bucket, rate_limited)
        counter.append(http)
        reader = threading.Thread(target=_pump, args=(inputs, pushed), daemon=True, name="stripe-inputs")
        reader.start()
        try:
            now = int(datetime.now(UTC).timestamp())
            if config.start_date:
                start = int(config.start_date.timestamp())
            else:
                start, warning = _account_start(http)
                if warning:
                    yield LogMessage(log=Log(level=LogLevel.WARN, message=warning))
            runs: list[StreamRun] = []
            for configured in catalog.streams:
                stream = STREAMS_BY_NAME.get(configured.name)
                if stream is None:
                    yield error_message(StreamError(f"unknown stream {configured.name!r}", stream=configured.name))
                    yield status(configured.name, StreamStatusValue.SKIPPED, reason="not a stream of this source")
                    continue
                saved = state.streams.get(configured.name) if state else None
                run, warning = plan(config, stream, configured, saved, start, now)
                if warning:
                    yield LogMessage(log=Log(level=LogLevel.WARN, message=warning, data={"stream": stream.name}))
                runs.append(run)
                yield status(stream.name, StreamStatusValue.STARTED, time_range=run.requested)
            yield from Backfill(http, config, notices).run([r for r in runs if r.segments])
            yield from _events_phase(http, config, [r for r in runs if _wants_events(r)], now)
            for run in runs:
                if not run.skipped:
                    clean = None if run.errored else run.requested
                    yield status(run.stream.name, StreamStatusValue.COMPLETE, time_range=clean)
            yield from _pushed_phase(http, config, pushed, {r.stream.name for r in runs if not r.stopped})
            while not notices.empty():
                yield notices.get_nowait()
        finally:
            http.cancel()
            http.close()


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain (the SDK wraps the socket's error in its own)."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return exc


def _account_start(http: StripeHttp) -> tuple[int, str | None]:
    """The account's creation second (the default start of a backfill), or Stripe's launch when the key may not
    read the account or the account has no `created`."""
    try:
        with map_stripe_errors():
            account = http.get("/v1/account")
    except AuthError:
        raise
    except StreamError as exc:
        return STRIPE_EPOCH, f"cannot read the account ({exc.message}); backfilling from {ts(STRIPE_EPOCH):%Y-%m-%d}"
    created = account.get("created") if isinstance(account, dict) else None
    return (int(created), None) if isinstance(created, int) else (STRIPE_EPOCH, None)


def _wants_events(run: StreamRun) -> bool:
    """Whether the events phase serves this stream now: incremental, backfilled, not stopped, relying on events."""
    strategies = (Strategy.EVENTS, Strategy.PARENT_EVENTS)
    return run.incremental and not run.stopped and not run.segments and run.stream.strategy in strategies


def _catalog_stream(stream: StreamDef) -> Stream:
    return Stream(
        name=stream.name,
        json_schema=stream.json_schema,
        primary_key=[["id"]],
        cursor_field=[stream.time_field] if stream.time_field in stream.json_schema["properties"] else None,
        supported_sync_modes=[SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL],
        metadata={
            "path": stream.path,
            "created_filter": stream.created_filter,
            "parent": stream.parent,
            "incremental": str(stream.strategy),
        },
    )


def _events_phase(http: StripeHttp, config: StripeConfig, runs: list[StreamRun], now: int) -> Iterator[Message]:
    """Apply events since each stream's cursor; a stream whose changes failed keeps its cursor, the others move."""
    until = now - config.events_lag_s
    runs = [r for r in runs if r.events_after is not None]
    due = [r for r in runs if r.events_after is not None and r.events_after < until]
    failures: dict[str, StreamError] = {}
    if due:
        wanted = {r.stream.name: r.events_after for r in due if r.events_after is not None}
        try:
            with map_stripe_errors("events"):
                changes = list_changes(http, config, min(wanted.values()), until, wanted)
        except StreamError as exc:
            for run in due:
                failures[run.stream.name] = StreamError(
                    f"{run.stream.name}: cannot read /v1/events to bring its changes ({exc.message})",
                    stream=run.stream.name,
                )
            changes = []
        listed = {r.stream.name: r.listed_from for r in due if r.listed_from is not None}
        for applied in apply_changes(http, config, skip_listed(changes, listed)):
            yield from applied.records
            for name, failed in applied.failures.items():
                failures.setdefault(name, failed)
    for run in runs:
        failure = failures.get(run.stream.name)
        if failure is not None:
            yield stream_failed(run, failure)
            continue
        old = run.events_after
        assert old is not None
        run.events_after = max(until, old)
        span = TimeRange(gte=ts(old), lt=ts(run.events_after)) if run.events_after > old else None
        yield stream_state(run.stream.name, run.state_data(), span)


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
        found = [c for c in changes_of(item.data) if c.stream.name in streams]
        if not found:
            yield LogMessage(
                log=Log(
                    level=LogLevel.WARN,
                    message="ignored a pushed event of no configured stream",
                    data={"type": str(item.data.get("type")), "id": str(item.data.get("id"))},
                )
            )
            continue
        changes.extend(found)
    if changes:
        failures: dict[str, StreamError] = {}
        for applied in apply_changes(http, config, changes):
            yield from applied.records
            for name, exc in applied.failures.items():
                failures.setdefault(name, exc)
        for name, exc in failures.items():
            yield error_message(exc, stream=name)

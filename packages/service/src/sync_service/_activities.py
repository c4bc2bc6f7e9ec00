"""The activities: each runs engine work in the worker (connectors as subprocesses) and records its outcome.

Classified failures come back as values (`SyncOutcome`, `StepOutcome`); only `system_error`s are raised, as
retryable `ApplicationError`s, so Temporal retries them with backoff and the engine's checkpoint makes the retry
resume. Every attempt of the sync activity is a row of run history; an attempt whose worker died is closed as
`system_error` by the next attempt.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sync_engine import (
    CheckpointMismatchError,
    Engine,
    EngineError,
    Pipeline,
    PipelineConfigError,
    PostgresStateStore,
    StateLockedError,
    StreamSelection,
    SyncResult,
)
from sync_protocol import Error, ErrorLevel, ErrorMessage, Message, ProgressMessage
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ._inputs import fed_source
from ._live import LIVE_SUFFIX, live_pipeline
from ._models import PipelineRecord
from ._outcome import (
    CANCELLED,
    ERROR,
    PARTIAL,
    SUCCEEDED,
    SYSTEM_ERROR,
    deciding_error,
    error_kind,
    issues_of,
    run_status,
)
from ._payloads import LIVE, StepOutcome, SyncOutcome, SyncRequest
from ._start_over import start_over_if_moved
from ._store import PipelineStore

T = TypeVar("T")
ENGINE_CACHE = 256
MAIN = "main"
"""The lane of setup and backfill syncs (the other: `live`); each has its own engine per pipeline."""
SYSTEM_ERROR_TYPE = "SystemError"


@dataclass
class WorkerSettings:
    """Where a worker keeps pipelines and checkpoints, and how often it proves it is alive."""

    database_url: str
    store_schema: str = "sync_service"
    state_schema: str = "sync_service_state"
    heartbeat_every_s: float = 2.0
    name: str = f"{socket.gethostname()}:{os.getpid()}"


class PipelineActivities:
    """The activities of one worker, bound to its store (register the bound methods with the worker)."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.store = PipelineStore(settings.database_url, settings.store_schema)
        self._engines: OrderedDict[str, Engine] = OrderedDict()

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    def _engine(self, record: PipelineRecord, epoch: int, lane: str, skip: list[str] | None = None) -> Engine:
        """An engine for this pipeline's current settings, reused within one setup epoch and lane.

        Reuse keeps the connectors' specs the engine asked for once (two process starts per sync saved); a new
        epoch (after a setup, e.g. for re-deployed connectors) asks again. The backfill and the live lane run at
        the same time and each needs its own engine (a run reads `engine.pipeline` throughout).
        """
        pipeline = record.engine_pipeline(self.settings.database_url, self.settings.state_schema, skip or [])
        key = orjson.dumps([record.id, epoch, lane, record.source.command, record.destination.command]).decode()
        engine = self._engines.pop(key, None)
        if engine is None:
            engine = self._new_engine(pipeline)
        engine.pipeline = pipeline
        self._engines[key] = engine
        while len(self._engines) > ENGINE_CACHE:
            self._engines.popitem(last=False)
        return engine

    def _new_engine(self, pipeline: Pipeline) -> Engine:
        return Engine(pipeline, store=PostgresStateStore(self.settings.database_url, self.settings.state_schema))

    # ---- status -----------------------------------------------------------------------------------------------

    @activity.defn(name="set_status")
    async def set_status(self, pipeline_id: str, status: str, reason: str | None) -> None:
        """Write the workflow's status (idempotent; retried on a database hiccup)."""
        await self._db(self.store.set_status, pipeline_id, status, reason)

    # ---- setup and teardown -------------------------------------------------------------------------------

    @activity.defn(name="setup_pipeline")
    async def setup_pipeline(self, pipeline_id: str, epoch: int) -> StepOutcome:
        """The destination's idempotent setup for the selected streams, by the engine of the coming `epoch` (so
        re-deployed connectors are asked for their specs afresh, and a backfill here finds them asked); then the
        checkpoints start over if they were written for another destination."""
        record = await self._db(self.store.get, pipeline_id)
        engine = self._engine(record, epoch, MAIN)
        outcome = await self._step(lambda on_message: engine.setup(on_message), engine)
        if outcome.status == SUCCEEDED:
            outcome.started_over = await _start_over(record, engine)
            outcome.live_alongside = await _reads_time_ranges(engine)
        return outcome

    @activity.defn(name="teardown_pipeline")
    async def teardown_pipeline(self, pipeline_id: str) -> StepOutcome:
        """The destination's teardown."""
        record = await self._db(self.store.get, pipeline_id)
        engine = self._new_engine(record.engine_pipeline(self.settings.database_url, self.settings.state_schema, []))
        return await self._step(lambda on_message: engine.teardown(on_message), engine)

    async def _step(self, call: Callable[[Callable[[Message], None]], Awaitable[None]], engine: Engine) -> StepOutcome:
        reported: list[Error] = []
        try:
            await call(_collect(reported))
        except PipelineConfigError as exc:
            return StepOutcome(ERROR, engine.redactor.text(str(exc)))
        except EngineError as exc:
            reason = engine.redactor.text(str(exc))
            status = run_status_of_failure(reported) if reported else error_kind(exc.failure_type)
            if status == ERROR:
                return StepOutcome(ERROR, reason)
            raise ApplicationError(reason, type=SYSTEM_ERROR_TYPE) from None
        return StepOutcome(SUCCEEDED)

    # ---- sync ---------------------------------------------------------------------------------------------------

    @activity.defn(name="sync_pipeline")
    async def sync_pipeline(self, request: SyncRequest) -> SyncOutcome:
        """One engine run (at most `chunk_s`), heartbeating its progress; cancelling it stops the connectors."""
        info = activity.info()
        record = await self._db(self.store.get, request.pipeline_id)
        run_id = await self._db(
            self.store.start_run,
            request.pipeline_id,
            request.purpose,
            # activity ids count from 1 again in each run of a workflow (continue-as-new); the run id keeps
            # their history rows apart
            f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}",
            info.attempt,
            self.settings.name,
        )
        try:
            outcome = await self._sync(record, request)
        except asyncio.CancelledError:
            await asyncio.shield(self._db(self.store.finish_run, run_id, SyncOutcome(CANCELLED, has_more=True)))
            raise
        except Exception as exc:  # an unexpected failure is ours, never the user's
            outcome = SyncOutcome(SYSTEM_ERROR, reason=f"{type(exc).__name__}: {exc}")
        await self._db(self.store.finish_run, run_id, outcome)
        if outcome.status == SYSTEM_ERROR:
            raise ApplicationError(outcome.reason or "system error", type=SYSTEM_ERROR_TYPE)
        return outcome

    async def _sync(self, record: PipelineRecord, request: SyncRequest) -> SyncOutcome:
        live = request.purpose == LIVE
        engine = self._engine(record, request.epoch, LIVE if live else MAIN, request.skip_streams)
        pipeline = engine.pipeline
        try:
            if live and await _reads_time_ranges(engine):
                streams = pipeline.streams if pipeline.streams is not None else await _all_streams(engine, [])
                pipeline = engine.pipeline = live_pipeline(pipeline, streams, datetime.now(UTC))
            elif pipeline.streams is None and request.skip_streams:
                pipeline.streams = await _all_streams(engine, request.skip_streams)
            if pipeline.streams == []:
                return SyncOutcome(SUCCEEDED, inputs_applied=True)  # no stream left that could take the inputs
            with fed_source(pipeline.source, request.inputs) as source:
                pipeline.source = source
                result = await _heartbeating(engine.sync(_heartbeat), self.settings.heartbeat_every_s)
        except CheckpointMismatchError as exc:  # the destination changed under this run: set up again, then retried
            return SyncOutcome(SYSTEM_ERROR, reason=engine.redactor.text(str(exc)))
        except PipelineConfigError as exc:
            return SyncOutcome(ERROR, reason=engine.redactor.text(str(exc)))
        except EngineError as exc:
            return outcome_of_failure(exc, engine.redactor.text(str(exc)))
        return outcome_of(result)


async def _start_over(record: PipelineRecord, engine: Engine) -> bool:
    """Supersede the backfill's and the live lane's checkpoints if they were written for another destination."""
    try:
        return await start_over_if_moved(engine, [record.checkpoint_key, f"{record.checkpoint_key}{LIVE_SUFFIX}"])
    except StateLockedError as exc:  # a sync attempt that outlived its heartbeat still runs: retried once it ended
        raise ApplicationError(engine.redactor.text(str(exc)), type=SYSTEM_ERROR_TYPE) from None


async def _reads_time_ranges(engine: Engine) -> bool:
    """Whether the source reads the time range it is given (asked once per engine)."""
    return bool((await engine.spec("source")).capabilities.get("time_range"))


async def _all_streams(engine: Engine, skip: list[str]) -> list[StreamSelection]:
    """Every stream the source offers but `skip` (for a pipeline that selects all)."""
    catalog = await engine.discover()
    return [StreamSelection(name=s.name) for s in catalog.streams if s.name not in skip]


def outcome_of(result: SyncResult) -> SyncOutcome:
    """The classified outcome of an engine result."""
    status = run_status(result.status, result.errors)
    errored = sorted({e.stream for e in result.errors if e.level is ErrorLevel.STREAM and e.stream})
    reason = None
    if status in (ERROR, SYSTEM_ERROR):
        decisive = [e for e in result.errors if e.level is not ErrorLevel.STREAM]
        reason = (decisive or result.errors)[0].message if result.errors else "the sync failed"
    elif errored:
        reason = f"streams errored: {', '.join(errored)}"
    return SyncOutcome(
        status=status,
        has_more=result.has_more,
        errored_streams=errored,
        issues=issues_of(result.errors),
        records=result.request_progress.record_count,
        reason=reason,
        inputs_applied=status in (SUCCEEDED, PARTIAL) and not result.has_more,
    )


def outcome_of_failure(exc: EngineError, reason: str) -> SyncOutcome:
    """A sync that raised (it failed before its run began): judged by the `end` it announced when it got that far,
    else by the failure's own type, so a key refused at discover is the user's `error`, not an infrastructure one."""
    if exc.result is not None:
        return outcome_of(exc.result)
    return SyncOutcome(error_kind(exc.failure_type), reason=reason)


def run_status_of_failure(reported: list[Error]) -> str:
    """A one-shot command failed: `error` when the connector blamed config or credentials, else `system_error`."""
    decisive = deciding_error(reported)
    return SYSTEM_ERROR if decisive is None else error_kind(decisive.failure_type)


def _collect(into: list[Error]) -> Callable[[Message], None]:
    def on_message(message: Message) -> None:
        if isinstance(message, ErrorMessage):
            into.append(message.error)

    return on_message


def _heartbeat(message: Message) -> None:
    """Heartbeat with the engine's progress (the SDK throttles them)."""
    if isinstance(message, ProgressMessage):
        p = message.progress
        activity.heartbeat({"records": p.record_count, "states": p.state_count, "elapsed_s": round(p.elapsed_s, 1)})


async def _heartbeating(work: Awaitable[T], every_s: float) -> T:
    """Await `work` while heartbeating at least every `every_s` (discover and setup print no progress)."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(every_s)
            activity.heartbeat()

    ticker = asyncio.create_task(tick())
    try:
        return await work
    finally:
        ticker.cancel()

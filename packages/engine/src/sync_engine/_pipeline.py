"""One sync run: source → enforce → destination, with commit-fenced checkpoints, retries and limits.

The I/O shell around the pure parts (`CatalogEnforcer`, `CommitFence`, `ProgressTracker`). Source output is read
in chunks and forwarded as the original bytes in one write per chunk; the destination's echoes advance the
checkpoint, which is persisted at most every `checkpoint_interval_s` and at the end.

The verdict is earned: a stream is complete only when the source said so and the destination committed all before
it. A source that exits 0 with streams unfinished ends the run `partial` (the checkpoint stays open and the next
run resumes them); a transient error is retried whatever the exit code; a checkpoint that cannot be saved stops
the run before more data moves.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from sync_protocol import (
    ConfiguredCatalog,
    ConfiguredCatalogMessage,
    Control,
    ControlMessage,
    ControlType,
    DestinationSyncMode,
    End,
    EndMessage,
    Error,
    ErrorLevel,
    ErrorMessage,
    FailureType,
    LogLevel,
    LogMessage,
    Message,
    NdjsonDecodeError,
    PipelineIdentity,
    ProgressMessage,
    SourceStateMessage,
    Start,
    StartMessage,
    StateType,
    StatsMessage,
    SyncState,
    TimeRange,
    aiter_lines,
    decode_message,
    encode_message,
)
from sync_protocol.sdk import Redactor

from ._checkpoint import CommitFence
from ._config import Pipeline
from ._enforce import CatalogEnforcer
from ._errors import CheckpointError, EngineError, PipelineConfigError
from ._limits import RunLimits
from ._process import ConnectorProcess, open_connector
from ._progress import ProgressTracker, lifetime_totals
from ._report import RunReport
from ._result import SyncResult
from ._saving import CheckpointSaver
from ._source_pump import SourceEnd, SourcePump, send
from .stores import StateStore

Emit = Callable[[Message], None]
Outcome = Literal["done", "limit", "retry", "failed"]


@dataclass
class ResolvedPipeline:
    """A pipeline with its configs loaded and its catalog configured: all a run needs."""

    pipeline: Pipeline
    source_argv: list[str]
    destination_argv: list[str]
    source_config: dict[str, Any]
    destination_config: dict[str, Any]
    catalog: ConfiguredCatalog
    name: str = "default"
    """The checkpoint's name in the state store."""
    run_ranges: dict[str, TimeRange] = field(default_factory=dict)
    """The range each stream reads in this run (see `fix_run_ranges`)."""
    identity: Callable[[dict[str, Any], dict[str, Any]], PipelineIdentity] | None = None
    """Fingerprints the pipeline from (source config, destination config); stored in every checkpoint."""
    on_control: Callable[[ControlMessage], None] | None = None
    """Persists a new config (validated against the connector's spec; raises `PipelineConfigError` if invalid)."""
    redactor: Redactor = field(default_factory=Redactor)
    """Scrubs both connectors' secrets from everything the engine prints."""


class SyncRun:
    """Runs one sync to its end; create one per `Engine.sync` call, after emitting its `start`.

    `run_id` is the one `start` announced: the open run of `starting` when it resumes one (see `run_id_for`).
    """

    def __init__(
        self,
        resolved: ResolvedPipeline,
        store: StateStore,
        starting: SyncState | None,
        run_id: str,
        emit: Emit,
        stop: anyio.Event | None = None,
    ) -> None:
        self._r = resolved
        self._p = resolved.pipeline
        self._emit = emit
        resumed_run = run_id if starting is not None and starting.run_id == run_id and not starting.finished else None
        self.run_id = run_id
        committed = (starting or SyncState()).model_copy(deep=True)
        committed.run_id = self.run_id
        committed.finished = False
        committed.run_ranges = dict(resolved.run_ranges)
        if not resumed_run:
            committed.failed_attempts = 0
            if starting is not None and starting.progress is not None:  # the previous run joins the totals
                committed.earlier_runs = lifetime_totals(starting.earlier_runs, starting.progress)
        self._fence = CommitFence(committed, [s.name for s in resolved.catalog.streams])
        self._started = time.monotonic()
        previous_progress = starting.progress if resumed_run and starting else None
        self._progress = ProgressTracker(self.run_id, resolved.catalog, previous_progress, self._started)
        self._report = RunReport(emit, resolved.redactor)
        self._saver = CheckpointSaver(store, resolved.name, self._fence, self._progress, self._report, self._identity)
        self._limits = RunLimits(self._started, self._p.time_limit_s, self._p.state_limit, stop)
        self._has_more = False
        self._transient = False
        self._dropped: dict[str, int] = {}
        self._unfinished: list[str] = []
        self._enforcer: CatalogEnforcer | None = None
        self._echoed_streams: set[str] = set()
        """Streams with a state committed in this invocation."""

    # ---- the run --------------------------------------------------------------------------------------------

    async def run(self) -> SyncResult:
        """Attempt until done/limit/failure (retrying transient failures), persist, end."""
        self._emit(ConfiguredCatalogMessage(configured_catalog=self._r.catalog))
        await self._saver.save(
            self.run_id
        )  # a store that cannot take the checkpoint fails the run before any data moves
        while not self._report.failed:
            try:
                outcome = await self._attempt()
            except Exception as exc:  # a connector that cannot be started, an internal fault: still a verdict
                failure = exc if isinstance(exc, EngineError) else EngineError(f"internal fault: {exc!r}")
                self._report.fail(failure.message, failure.failure_type)
                break
            if outcome != "retry":
                break
            committed = self._fence.committed
            committed.failed_attempts += 1
            if (
                committed.failed_attempts >= self._p.max_attempts
                or self._limits.past_deadline()
                or self._limits.stopping
            ):
                self._report.fail(
                    f"gave up after {committed.failed_attempts} attempt(s): a connector kept failing transiently",
                    FailureType.TRANSIENT_ERROR,
                    level=ErrorLevel.TRANSIENT,
                )
                break
            delay = self._p.retry_backoff_s * 2 ** (committed.failed_attempts - 1)
            self._report.log(
                LogLevel.WARN,
                f"transient failure; restarting both connectors from the last checkpoint in {delay:g} s "
                f"(attempt {committed.failed_attempts + 1} of {self._p.max_attempts})",
            )
            await self._saver.save(self.run_id)  # the spent retry budget survives a crash of the engine
            with anyio.move_on_after(delay):
                if self._limits.stop is not None:
                    await self._limits.stop.wait()
                else:
                    await anyio.sleep(delay)
        self._fence.committed.failed_attempts = 0  # the run ended: the next invocation gets a fresh budget
        finished = not self._report.failed and not self._has_more and not self._unfinished
        final = await self._saver.save(self.run_id, finished=finished)
        now = time.monotonic()
        status, failure_type = self._report.verdict(incomplete=bool(self._progress.errored_streams or self._unfinished))
        progress = self._progress.snapshot(now)
        request_progress = self._progress.invocation_snapshot(now)
        pipeline_progress = lifetime_totals(self._fence.committed.earlier_runs, progress)
        self._emit(ProgressMessage(progress=progress))
        end = End(
            status=status,
            has_more=self._has_more,
            ending_state=final,
            failure_type=failure_type,
            run_progress=progress,
            request_progress=request_progress,
            pipeline_progress=pipeline_progress,
        )
        self._emit(EndMessage(end=end))
        return SyncResult.of(self.run_id, end, self._report.errors, self._dropped)

    def _identity(self) -> PipelineIdentity | None:
        identity = self._r.identity
        return identity(self._r.source_config, self._r.destination_config) if identity is not None else None

    async def _attempt(self) -> Outcome:
        self._fence.forget_in_flight()
        self._transient = False
        r, p = self._r, self._p
        errored = set(self._progress.errored_streams)
        catalog = ConfiguredCatalog(streams=[s for s in r.catalog.streams if s.name not in errored])
        if not catalog.streams:
            return "done"  # every stream errored earlier in this run: they wait for the next run
        self._progress.attempt_started()
        enforcer = CatalogEnforcer(catalog, validate_records=p.validate_records, connector="source")
        self._enforcer = enforcer
        state_for_source = self._state_for_source(catalog)
        has_state = bool(state_for_source.streams) or state_for_source.global_state is not None
        async with (
            open_connector(
                "destination",
                r.destination_argv,
                "write",
                {"config": r.destination_config, "catalog": catalog},
                stdin=True,
                env=p.destination.env,
                grace_s=p.grace_s,
            ) as destination,
            open_connector(
                "source",
                r.source_argv,
                "read",
                {"config": r.source_config, "catalog": catalog, "state": state_for_source if has_state else None},
                env=p.source.env,
                grace_s=p.grace_s,
            ) as source,
            anyio.create_task_group() as tasks,
        ):
            destination_done = anyio.Event()
            tasks.start_soon(self._pump_destination, destination, source, destination_done)
            start = StartMessage(start=Start(run_id=self.run_id))
            # tells the destination which run writes
            await send(destination, encode_message(start), self._limits, p.drain_timeout_s, self._report)
            tasks.start_soon(self._saver.tick, self.run_id, p.checkpoint_interval_s, p.progress_interval_s)
            pump = SourcePump(
                source,
                destination,
                enforcer,
                fence=self._fence,
                progress=self._progress,
                report=self._report,
                limits=self._limits,
                incidents=self,
                emit=self._emit,
                redactor=r.redactor,
                grace_s=p.grace_s,
                drain_timeout_s=p.drain_timeout_s,
            )
            tasks.start_soon(pump.watch_stop)
            tasks.start_soon(pump.watch_exit)
            source_end = await pump.run()
            self._merge_dropped(enforcer)
            if source_end == "eof":
                source_code = -9
                with anyio.move_on_after(p.drain_timeout_s):  # closed stdout but lingers: stopped below
                    source_code = await source.process.wait()
                if source.process.returncode is None:
                    source_code = await source.stop(p.grace_s)
            else:
                await source.stop(p.grace_s)
                source_code = 0
            await destination.close_stdin()
            with anyio.move_on_after(p.drain_timeout_s) as drain:
                await destination_done.wait()
                destination_code = await destination.process.wait()
            if drain.cancelled_caught:
                await destination.stop(0)
                destination_code = -9
                self._report.fail(
                    f"destination did not finish within {p.drain_timeout_s:g} s after its input ended; it was killed"
                )
            tasks.cancel_scope.cancel()
        return self._judge(source_end, source_code, source, destination_code, destination, catalog)

    def _state_for_source(self, catalog: ConfiguredCatalog) -> SyncState:
        """The committed state the source resumes from, without what an overwrite must not resume from.

        An `overwrite` stream replaces the whole table, so it is read from nothing unless this invocation already
        committed some of it: resuming from an earlier run's cursor would swap in only the increment.
        """
        fresh = {
            s.name
            for s in catalog.streams
            if s.destination_sync_mode is DestinationSyncMode.OVERWRITE and s.name not in self._echoed_streams
        }
        committed = self._fence.committed
        streams = {name: state for name, state in committed.streams.items() if name not in fresh}
        return committed.model_copy(update={"progress": None, "earlier_runs": None, "streams": streams})

    def _judge(
        self,
        source_end: SourceEnd,
        source_code: int,
        source: ConnectorProcess,
        destination_code: int,
        destination: ConnectorProcess,
        catalog: ConfiguredCatalog,
    ) -> Outcome:
        source_died = source_end == "eof" and source_code != 0
        destination_died = destination_code != 0 or source_end == "destination_gone"
        if self._report.failed:
            return "failed"
        if self._transient and source_end != "stopped":
            return "retry"  # also when the connector exited 0 after reporting it: its work is not done
        if destination_died:
            self._report.fail(_exit_text("destination", destination_code, destination))
            return "failed"
        if source_died:
            self._report.fail(_exit_text("source", source_code, source))
            return "failed"
        if source_end in ("limit", "stopped"):
            self._has_more = True
            return "limit"
        try:
            trailing = self._fence.finish_clean()
        except CheckpointError as exc:
            self._report.fail(str(exc))
            return "failed"
        self._progress.committed(trailing, None, self._fence.committed)
        self._progress.all_committed()
        self._unfinished = self._progress.unfinished_streams([s.name for s in catalog.streams])
        names = ", ".join(self._unfinished)
        for stream in self._unfinished:  # one error per stream (a stream error names its stream), same text
            self._report.error(
                Error(
                    level=ErrorLevel.STREAM,
                    failure_type=FailureType.SYSTEM_ERROR,
                    message=f"source exited without finishing stream(s) {names}: it sent no terminal stream_status "
                    "(complete or skipped) for them, so they are not complete; the next run resumes them",
                    stream=stream,
                )
            )
        return "done"

    # ---- destination → checkpoints --------------------------------------------------------------------------

    async def _pump_destination(
        self, destination: ConnectorProcess, source: ConnectorProcess, done: anyio.Event
    ) -> None:
        try:
            async for number, line in aiter_lines(destination.chunks()):
                message = decode_message(line, number)
                if isinstance(message, SourceStateMessage):
                    self._on_echo(message)
                elif isinstance(message, ErrorMessage):
                    self.on_error(message, "destination")
                elif isinstance(message, ControlMessage):
                    self.on_control(message, ControlType.DESTINATION_CONFIG)
                elif isinstance(message, StatsMessage):  # row counts of what it committed; requests are the source's
                    self._progress.stats(message.stats.model_copy(update={"request_count": None}))
                elif isinstance(message, LogMessage):
                    self._emit(self._r.redactor.message(message))
                # anything else is an echo of what the engine sent (statuses, start, pass-through): not repeated
        except (NdjsonDecodeError, CheckpointError) as exc:
            text = f"destination wrote an invalid message at {exc}" if isinstance(exc, NdjsonDecodeError) else str(exc)
            self._report.fail(text)
            destination.signal_group(signal.SIGKILL)
            source.signal_group(signal.SIGKILL)
        finally:
            done.set()

    def _on_echo(self, message: SourceStateMessage) -> None:
        commit = self._fence.echo(message.source_state)
        state = commit.state
        stream = state.stream if state.state_type is StateType.STREAM else None
        self._progress.committed(commit.records, stream, self._fence.committed, state_committed=True)
        for name in [stream] if stream is not None else self._fence.streams:
            if self._fence.in_flight_for(name) == 0:
                self._progress.stream_committed(name)
        if stream is not None:
            self._echoed_streams.add(stream)
        self._saver.dirty = True
        self._emit(message)

    # ---- errors, control, logs --------------------------------------------------------------------------------

    def on_error(self, message: ErrorMessage, origin: str) -> None:
        """A connector's error: a stream error isolates its stream, a transient one retries, others fail the run."""
        error = self._report.relay(message)
        if error.level is ErrorLevel.STREAM and error.stream:
            self._isolate(error.stream, error.message, given_up_by_destination=origin == "destination")
        elif error.level is ErrorLevel.TRANSIENT:
            self._transient = True
        else:
            self._report.mark_failed(error)
            self._report.log(LogLevel.ERROR, f"{origin} reported a global error: {error.message}")

    def on_control(self, message: ControlMessage, allowed: ControlType) -> None:
        """A connector replaced its own config; one may not rewrite the other's, nor store an invalid one."""
        control = message.control
        origin = "source" if allowed is ControlType.SOURCE_CONFIG else "destination"
        if control.control_type is not allowed:
            self._report.log(LogLevel.WARN, f"ignored a {control.control_type.value} control message from the {origin}")
            return
        try:
            if self._r.on_control is not None:
                self._r.on_control(message)
        except PipelineConfigError as exc:
            self._report.log(LogLevel.WARN, f"ignored the {origin}'s new config: {self._r.redactor.text(str(exc))}")
            return
        if control.control_type is ControlType.SOURCE_CONFIG:
            self._r.source_config = control.config
        else:
            self._r.destination_config = control.config
        hidden = Control(control_type=control.control_type, config=self._r.redactor.value(control.config))
        self._emit(ControlMessage(control=hidden))

    def _isolate(self, stream: str, text: str, *, given_up_by_destination: bool = False) -> None:
        """One stream failed (in the source, the engine or the destination): stop forwarding it; the others go on.

        When the destination gave it up, its states still in flight will never be echoed (it commits nothing
        more of the stream), so the fence forgets them; what it committed before stays.
        """
        self._progress.stream_errored(stream, text)
        if self._enforcer is not None:
            self._enforcer.disable(stream)
        if given_up_by_destination:
            self._fence.abandon(stream)

    def stream_error(self, stream: str, text: str) -> None:
        """The engine failed one stream (e.g. an invalid record): report it and isolate the stream."""
        error = Error(level=ErrorLevel.STREAM, failure_type=FailureType.SYSTEM_ERROR, message=text, stream=stream)
        self._report.error(error)
        self._isolate(stream, text)

    # ---- timers and persistence -----------------------------------------------------------------------------

    def _merge_dropped(self, enforcer: CatalogEnforcer) -> None:
        for stream, count in enforcer.dropped.items():
            self._dropped[stream] = self._dropped.get(stream, 0) + count


def run_id_for(starting: SyncState | None) -> str:
    """The run a sync continues: the checkpoint's, while that run is unfinished; else a new one."""
    open_run = starting.run_id if starting is not None and not starting.finished else None
    return open_run or uuid.uuid4().hex


def _exit_text(name: str, code: int, process: ConnectorProcess) -> str:
    tail = process.stderr_tail.text()
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return f"{name} {how}" + (f"; stderr: {tail}" if tail else "")

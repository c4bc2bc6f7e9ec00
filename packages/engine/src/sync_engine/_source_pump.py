"""One attempt's source output: read in chunks, enforced line by line, forwarded to the destination as the original
bytes in one write per chunk. It ends at end of output, at a limit or a stop request, on a failure, or when the
destination is gone; records and states sent are counted in the commit fence as they go.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable
from typing import Literal, Protocol

import anyio
from sync_protocol import (
    ControlMessage,
    ControlType,
    ErrorMessage,
    LineSplitter,
    LogLevel,
    LogMessage,
    Message,
    NdjsonDecodeError,
    SourceStateMessage,
    Stats,
    StatsMessage,
    StreamStatusMessage,
)
from sync_protocol.sdk import Redactor

from ._checkpoint import CommitFence
from ._enforce import CatalogEnforcer, InvalidRecordError
from ._errors import ConnectorFailedError
from ._limits import RunLimits
from ._process import ConnectorProcess
from ._progress import ProgressTracker
from ._report import RunReport

SourceEnd = Literal["eof", "limit", "stopped", "failed", "destination_gone"]


class Incidents(Protocol):
    """What the run does with what either connector reports: errors, new configs, a failed stream."""

    def on_error(self, message: ErrorMessage, origin: str) -> None: ...

    def on_control(self, message: ControlMessage, allowed: ControlType) -> None: ...

    def stream_error(self, stream: str, text: str) -> None: ...


class SourcePump:
    """Moves one attempt's source output into the destination; `run` until it ends, beside `watch_stop` and
    `watch_exit` in the same task group."""

    def __init__(
        self,
        source: ConnectorProcess,
        destination: ConnectorProcess,
        enforcer: CatalogEnforcer,
        *,
        fence: CommitFence,
        progress: ProgressTracker,
        report: RunReport,
        limits: RunLimits,
        incidents: Incidents,
        emit: Callable[[Message], None],
        redactor: Redactor,
        grace_s: float,
        drain_timeout_s: float,
    ) -> None:
        self._source = source
        self._destination = destination
        self._enforcer = enforcer
        self._fence = fence
        self._progress = progress
        self._report = report
        self._limits = limits
        self._incidents = incidents
        self._emit = emit
        self._redactor = redactor
        self._grace_s = grace_s
        self._drain_timeout_s = drain_timeout_s
        self._read_scope: anyio.CancelScope | None = None
        self._source_gone = False
        self._reading = False

    async def run(self) -> SourceEnd:
        """Read, enforce and forward until the source's output ends or something stops it; why it ended."""
        self._reading = True
        try:
            return await self._pump()
        finally:
            self._reading = False

    async def _pump(self) -> SourceEnd:
        splitter = LineSplitter()
        while True:
            if self._report.failed:
                return "failed"  # e.g. the checkpoint could not be saved: no more data may move
            if self._limits.stopping:
                return self._stopped()
            chunk: bytes | None = None
            with anyio.move_on_after(self._limits.remaining()) as timer:
                self._read_scope = timer
                chunk = await self._source.receive() or None
            self._read_scope = None
            if timer.cancelled_caught:
                if self._limits.stopping:
                    return self._stopped()
                if self._source_gone:
                    chunk = None  # the source exited; whatever still holds its stdout is not waited for
                else:
                    self._report.log(
                        LogLevel.INFO, "time limit reached: stopping the source, letting the destination commit"
                    )
                    return "limit"
            try:
                lines = splitter.feed(chunk) if chunk is not None else splitter.close()
            except NdjsonDecodeError as exc:
                self._report.fail(f"source wrote an invalid message at {exc}")
                return "failed"
            batch, stop = self._enforce_lines(lines)
            for stream in self._enforcer.new_warnings:
                self._report.log(
                    LogLevel.WARN, f"dropping records and states of stream {stream!r}: it is not configured"
                )
            self._enforcer.new_warnings.clear()
            if batch and not await send(self._destination, batch, self._limits, self._drain_timeout_s, self._report):
                return "destination_gone"
            if stop is not None:
                return stop
            if chunk is None:
                return "eof"

    def _stopped(self) -> SourceEnd:
        self._report.log(LogLevel.INFO, "asked to stop: stopping the source, letting the destination commit")
        return "stopped"

    async def watch_stop(self) -> None:
        """Turn a stop request (SIGINT/SIGTERM in the CLI) into an orderly end of the source's output."""
        if self._limits.stop is None:
            return
        await self._limits.stop.wait()
        if self._read_scope is not None:
            self._read_scope.cancel()

    async def watch_exit(self) -> None:
        """A source that exited may leave a child holding its stdout: wait for end of output only so long."""
        await self._source.process.wait()
        await anyio.sleep(self._grace_s)
        if not self._reading:
            return
        self._report.log(
            LogLevel.WARN,
            f"the source exited but its output stayed open {self._grace_s:g} s later (a child process holds it); "
            "stopping what it left behind",
        )
        self._source.signal_group(signal.SIGKILL)
        self._source_gone = True
        if self._read_scope is not None:
            self._read_scope.cancel()

    def _enforce_lines(self, lines: list[tuple[int, bytes]]) -> tuple[bytes, SourceEnd | None]:
        """Enforce one chunk's lines; returns the bytes for the destination and why to stop, if so."""
        out: list[bytes] = []
        counts: Counter[str] = Counter()
        stop: SourceEnd | None = None
        record = self._enforcer.record
        for number, line in lines:
            try:
                hit = record(line, number)
                if hit is not None:
                    if hit[1] is not None:
                        out.append(hit[1])
                        counts[hit[0]] += 1
                    continue
                verdict = self._enforcer.process(line, number)
            except ConnectorFailedError as exc:
                self._report.fail(str(exc))
                stop = "failed"
                break
            except InvalidRecordError as exc:  # no later state of the stream may claim the dropped record
                self._incidents.stream_error(exc.stream, str(exc))
                continue
            if verdict.forward is not None:
                out.append(verdict.forward[:-1])
            if verdict.message is not None:
                self._fence.records_sent(counts)
                counts.clear()
                if self._on_message(verdict.message, verdict.forward is not None):
                    stop = "limit"
                    break
        self._fence.records_sent(counts)
        if not out:
            return b"", stop
        out.append(b"")  # the last line's newline, in the same copy
        return b"\n".join(out), stop

    def _on_message(self, message: Message, forwarded: bool) -> bool:
        """Handle a non-record source message; True when the state limit is reached."""
        if isinstance(message, SourceStateMessage):
            if forwarded:
                self._fence.state_sent(message.source_state)
                if self._limits.state_forwarded():
                    self._report.log(
                        LogLevel.INFO, f"state limit of {self._limits.state_limit} reached: stopping the source"
                    )
                    return True
        elif isinstance(message, StreamStatusMessage):
            stream = message.stream_status.stream
            self._progress.source_status(message.stream_status, committed=self._fence.in_flight_for(stream) == 0)
            self._emit(self._redactor.message(message))
        elif isinstance(message, StatsMessage):
            stats = message.stats
            self._progress.stats(Stats(stream=stats.stream, request_count=stats.request_count))
        elif isinstance(message, ErrorMessage):
            self._incidents.on_error(message, "source")
        elif isinstance(message, ControlMessage):
            self._incidents.on_control(message, ControlType.SOURCE_CONFIG)
        elif isinstance(message, LogMessage):
            self._emit(self._redactor.message(message))
        return False


async def send(
    destination: ConnectorProcess, batch: bytes, limits: RunLimits, drain_timeout_s: float, report: RunReport
) -> bool:
    """Write one batch; False when the destination is gone (or hung past the time limit and was killed)."""
    give_up_after = limits.remaining() + drain_timeout_s if limits.deadline is not None else float("inf")
    with anyio.move_on_after(give_up_after) as timer:
        try:
            await destination.send(batch)
            return True
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, BrokenPipeError, ConnectionResetError):
            return False
    if timer.cancelled_caught:
        report.fail("destination stopped reading its input past the time limit; it was killed")
        await destination.stop(0)
    return False

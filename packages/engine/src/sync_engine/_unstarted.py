"""The verdict of a sync that failed before its run began: a connector's `spec`, `discover` or `setup` failed, a
config or the selection is invalid, another run holds the checkpoint. It still emits `start`, the deciding `error`
and `end` like any run, so a reader of the output always learns the status and the failure type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sync_protocol import End, EndMessage, Message, RunProgress, Start, StartMessage, SyncState
from sync_protocol.sdk import Redactor

from ._errors import EngineError
from ._pipeline import run_id_for
from ._progress import lifetime_totals
from ._report import RunReport
from ._result import SyncResult


@dataclass
class Opening:
    """How far a sync got before its run: the checkpoint it read and, once `start` was emitted, the run's id."""

    emit: Callable[[Message], None]
    starting: SyncState | None = None
    run_id: str | None = None

    def read(self, starting: SyncState | None) -> None:
        """The checkpoint as the run will start from it."""
        self.starting = starting

    def start(self) -> str:
        """Emit `start` (once) for the run the checkpoint continues, or a new one; its run id."""
        if self.run_id is None:
            self.run_id = run_id_for(self.starting)
            self.emit(StartMessage(start=Start(run_id=self.run_id, starting_state=self.starting)))
        return self.run_id


def unstarted_verdict(failure: Exception, opening: Opening, redactor: Redactor) -> EngineError:
    """Emit `start` (unless it was), the error and `end` for `failure`; return the `EngineError` to raise, with
    its `result` set.

    A checkpoint read before the failure keeps its open run (`run_id`, figures) and `end` reports it unchanged.
    Anything but an `EngineError` is an internal fault (`system_error`).
    """
    error = failure if isinstance(failure, EngineError) else EngineError(f"internal fault: {failure!r}")
    error.args = (redactor.text(error.message),)
    emit, starting = opening.emit, opening.starting
    run_id = opening.start()
    open_run = starting is not None and not starting.finished and starting.run_id == run_id
    report = RunReport(emit, redactor)
    wire = error.relayed or error.to_error()
    if error.relayed is None:
        report.error(wire)
    else:  # the connector's own message said why, and the caller has it already
        report.errors.append(wire)
    report.mark_failed(wire)
    status, failure_type = report.verdict(incomplete=False)
    so_far = starting.progress if starting is not None else None  # the open run's figures, or the last run's
    earlier = starting.earlier_runs if starting is not None else None
    end = End(
        status=status,
        ending_state=starting,
        failure_type=failure_type,
        run_progress=so_far if open_run and so_far is not None else RunProgress(run_id=run_id),
        request_progress=RunProgress(run_id=run_id),
        pipeline_progress=lifetime_totals(earlier, so_far or RunProgress()),
    )
    emit(EndMessage(end=end))
    error.result = SyncResult.of(run_id, end, report.errors, {})
    return error

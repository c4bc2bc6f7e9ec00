"""What a run tells its caller as it goes: errors (kept for the result), engine logs, and whether it failed.

Everything passes the run's redactor first, so no connector secret leaves through an error or a log.
"""

from __future__ import annotations

from collections.abc import Callable

from sync_protocol import (
    Error,
    ErrorLevel,
    ErrorMessage,
    FailureType,
    Log,
    LogLevel,
    LogMessage,
    Message,
    RunStatus,
)
from sync_protocol.sdk import Redactor

Emit = Callable[[Message], None]
USER_FAILURES = frozenset({FailureType.CONFIG_ERROR, FailureType.AUTH_ERROR})


def failure_status(failure_type: FailureType) -> RunStatus:
    """The one rule from a failure to a run's status: the user's problems (config, credentials) are `failed`;
    infrastructure's (transient failures that exhausted their retries, crashes, broken output, internal faults)
    are `system_error`."""
    return RunStatus.FAILED if failure_type in USER_FAILURES else RunStatus.SYSTEM_ERROR


class RunReport:
    """Collects a run's errors and emits them, with the engine's own log lines, through `emit`."""

    def __init__(self, emit: Emit, redactor: Redactor) -> None:
        self.emit = emit
        self.redactor = redactor
        self.errors: list[Error] = []
        self.failed = False
        """Set by a global failure: the run ends `failed` or `system_error`."""
        self.deciding: Error | None = None
        """The first error that failed the run: its failure type decides between `failed` and `system_error`."""

    def mark_failed(self, error: Error) -> None:
        """`error` (already recorded) stops the run."""
        self.failed = True
        if self.deciding is None:
            self.deciding = error

    def error(self, error: Error) -> None:
        """Record and emit an error the engine raised itself."""
        self.errors.append(error)
        self.emit(ErrorMessage(error=error))

    def relay(self, message: ErrorMessage) -> Error:
        """Record and emit a connector's error, redacted; returns it."""
        message = self.redactor.message(message)
        self.errors.append(message.error)
        self.emit(message)
        return message.error

    def fail(
        self, text: str, failure_type: FailureType = FailureType.SYSTEM_ERROR, level: ErrorLevel = ErrorLevel.GLOBAL
    ) -> None:
        """The run cannot go on: record a global (or given-level) error and mark the run failed."""
        error = Error(level=level, failure_type=failure_type, message=self.redactor.text(text))
        self.error(error)
        self.mark_failed(error)

    def verdict(self, *, incomplete: bool) -> tuple[RunStatus, FailureType | None]:
        """The run's status and, when it failed, the failure type that decided it (see `failure_status`)."""
        if self.failed:
            failure = self.deciding.failure_type if self.deciding is not None else FailureType.SYSTEM_ERROR
            return failure_status(failure), failure
        return (RunStatus.PARTIAL if incomplete else RunStatus.SUCCEEDED), None

    def log(self, level: LogLevel, text: str) -> None:
        """An engine log line."""
        self.emit(LogMessage(log=Log(level=level, message=text, data={"origin": "engine"})))

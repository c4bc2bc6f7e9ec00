"""The one rule that turns what a sync reported into a run status, so every query and metric counts alike.

`error` is the user's to fix (config, credentials); `system_error` is ours (infrastructure, a connector crash,
transient failures that outlived their retries, a lost worker). A run is `succeeded`, `partial` (some streams
errored, the others finished) or one of those two.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync_protocol import Error, ErrorLevel, FailureType, RunStatus

from ._payloads import StreamIssue

SUCCEEDED, PARTIAL, ERROR, SYSTEM_ERROR = "succeeded", "partial", "error", "system_error"
RUNNING, CANCELLED = "running", "cancelled"
"""A run row while its attempt runs; and one stopped by a pause or delete (neither an error)."""
RUN_STATUSES = (SUCCEEDED, PARTIAL, ERROR, SYSTEM_ERROR)
USER_FAILURES = frozenset({FailureType.CONFIG_ERROR, FailureType.AUTH_ERROR})


def error_kind(failure_type: FailureType | str) -> str:
    """`error` for the user's config or credentials, `system_error` for everything else."""
    return ERROR if FailureType(failure_type) in USER_FAILURES else SYSTEM_ERROR


def issues_of(errors: Sequence[Error]) -> list[StreamIssue]:
    """Each reported error with its kind."""
    return [
        StreamIssue(
            kind=error_kind(e.failure_type),
            failure_type=e.failure_type.value,
            level=e.level.value,
            message=e.message,
            stream=e.stream,
        )
        for e in errors
    ]


def deciding_error(errors: Sequence[Error]) -> Error | None:
    """The error that failed a run: the first global one, else the last one (e.g. exhausted transient retries)."""
    for error in errors:
        if error.level is ErrorLevel.GLOBAL:
            return error
    return errors[-1] if errors else None


def run_status(status: RunStatus, errors: Sequence[Error]) -> str:
    """The run status of an engine result."""
    if status is RunStatus.SUCCEEDED:
        return SUCCEEDED
    if status is RunStatus.PARTIAL:
        # the engine's status counts errored streams of the whole run_id (a resumed run carries them);
        # a chunk that skipped them and met no new stream error is a success
        return PARTIAL if any(e.level is ErrorLevel.STREAM for e in errors) else SUCCEEDED
    decisive = deciding_error(errors)
    return SYSTEM_ERROR if decisive is None else error_kind(decisive.failure_type)

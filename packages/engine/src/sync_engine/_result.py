"""What `Engine.sync` returns: how the run ended and what it committed (the figures its `end` announced)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sync_protocol import End, Error, FailureType, RunProgress, RunStatus, SyncState


@dataclass
class SyncResult:
    """How a run ended and what it committed."""

    run_id: str
    status: RunStatus
    has_more: bool
    state: SyncState
    """The checkpoint as the run left it (empty when the run failed before the checkpoint was read)."""
    progress: RunProgress
    """The run's figures: cumulative over every attempt and invocation of the run_id (`end.run_progress`)."""
    request_progress: RunProgress
    """This invocation alone (`end.request_progress`)."""
    pipeline_progress: RunProgress
    """Totals over every run of the pipeline, this one included (`end.pipeline_progress`)."""
    failure_type: FailureType | None = None
    """For `failed` and `system_error`: the failure type that decided it."""
    errors: list[Error] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    """Records and states dropped because their stream is not configured, by stream."""

    @classmethod
    def of(cls, run_id: str, end: End, errors: list[Error], dropped: dict[str, int]) -> SyncResult:
        """The result that `end` announced, with the run's errors and drop counts."""
        assert end.run_progress and end.request_progress and end.pipeline_progress
        return cls(
            run_id=run_id,
            status=end.status,
            has_more=end.has_more,
            state=end.ending_state or SyncState(),
            progress=end.run_progress,
            request_progress=end.request_progress,
            pipeline_progress=end.pipeline_progress,
            failure_type=end.failure_type,
            errors=errors,
            dropped=dropped,
        )

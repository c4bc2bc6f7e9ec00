"""What crosses the Temporal boundary: plain dataclasses (the SDK's default converter), no engine imports.

The workflow sandbox imports this module, so it holds nothing but stdlib types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACTIVE, PAUSED, DELETED = "active", "paused", "deleted"
DESIRED_STATUSES = (ACTIVE, PAUSED, DELETED)
SETUP, BACKFILL, READY, TEARDOWN, ERROR = "setup", "backfill", "ready", "teardown", "error"
STATUSES = (SETUP, BACKFILL, READY, PAUSED, TEARDOWN, ERROR)
LIVE = "live"
"""The purpose of a live-lane sync (the others: `backfill`, `reconcile`)."""


@dataclass
class Timing:
    """Timeouts and retry bounds of one pipeline's activities (set by whoever starts the workflow)."""

    sync_timeout_s: float = 3600.0
    """Longest sync activity attempt; keep it above the pipeline's `chunk_s` plus the drain time."""
    heartbeat_timeout_s: float = 30.0
    """A worker silent this long is presumed dead and the attempt is retried elsewhere."""
    max_attempts: int = 5
    """Attempts of an activity that keeps failing with `system_error` before the pipeline parks in `error`."""
    retry_initial_s: float = 1.0
    reconcile_interval_s: float | None = None
    history_limit: int = 5000
    """Continue-as-new once the history holds this many events (or when the server suggests it)."""


@dataclass
class PipelineParams:
    """Start (or continue-as-new) arguments of the `pipeline` workflow."""

    pipeline_id: str
    desired_status: str = ACTIVE
    pending_inputs: list[dict[str, Any]] = field(default_factory=list)
    """Pushed events not yet applied, oldest first; carried across pause/resume and continue-as-new."""
    set_up: bool = False
    touched: bool = False
    """Setup ran at least once, so there may be something to tear down."""
    backfilled: bool = False
    backfills: int = 0
    """Backfill children that completed into the current destination; the first is `backfill`, later ones
    `reconcile` (a move to another destination starts the count again)."""
    setups: int = 0
    """Setups begun: syncs name this epoch, so every worker asks re-deployed connectors for their specs again."""
    live_alongside: bool = False
    """The source reads time ranges, so a live sync can apply pushed events beside a running backfill."""
    replay_inputs: list[dict[str, Any]] = field(default_factory=list)
    """Events applied while a backfill ran: queued again once it completes (its chunks may have read older
    versions of their objects and committed them after the live sync did)."""
    parked_reason: str | None = None
    """Set when the pipeline is parked in `error`; cleared by a recovery signal."""
    generation: int = 0
    """Counts continue-as-new hops, so child workflow ids stay unique."""
    timing: Timing = field(default_factory=Timing)


@dataclass
class BackfillParams:
    """Arguments of the `backfill` child workflow."""

    pipeline_id: str
    purpose: str = "backfill"
    """`backfill` (the first) or `reconcile` (periodic); both loop the same sync activity."""
    timing: Timing = field(default_factory=Timing)
    epoch: int = 0
    """The parent's `setups` when it started this child."""


@dataclass
class StreamIssue:
    """One error a sync reported, already classified by the one rule (`error` or `system_error`)."""

    kind: str
    failure_type: str
    level: str
    message: str
    stream: str | None = None


@dataclass
class SyncRequest:
    """One sync activity: a chunk of a backfill or a live-lane run."""

    pipeline_id: str
    purpose: str
    skip_streams: list[str] = field(default_factory=list)
    """Streams that errored earlier in this backfill: left out of the selection."""
    inputs: list[dict[str, Any]] = field(default_factory=list)
    """Pushed events to feed the source (`source_input`)."""
    epoch: int = 0
    """The workflow's `setups`: a worker reuses its engine for a pipeline (and the specs it asked) within one."""


@dataclass
class SyncOutcome:
    """What one sync activity did. Classified failures come back here instead of being raised."""

    status: str
    """`succeeded | partial | error | system_error` (see `_outcome.run_status`)."""
    has_more: bool = False
    errored_streams: list[str] = field(default_factory=list)
    issues: list[StreamIssue] = field(default_factory=list)
    records: int = 0
    reason: str | None = None
    inputs_applied: bool = False
    """True when the source read to its end, so every fed input was applied."""


@dataclass
class BackfillOutcome:
    """How a backfill child ended (it fails only on a permanent error)."""

    chunks: int
    records: int
    errored_streams: list[str] = field(default_factory=list)


@dataclass
class StepOutcome:
    """How setup or teardown ended: `succeeded`, or the classified `error`/`system_error` with its reason."""

    status: str
    reason: str | None = None
    live_alongside: bool = False
    """Setup only: the source has the `time_range` capability (see `PipelineParams.live_alongside`)."""
    started_over: bool = False
    """Setup only: the destination is another one than the checkpoints were written for, so they were superseded
    by empty ones and the next backfill reads everything."""

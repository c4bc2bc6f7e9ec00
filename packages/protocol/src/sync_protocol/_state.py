"""What a sync remembers between runs (`SyncState`) and how far it got (`RunProgress`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._ranges import TimeRange


class StreamProgressStatus(StrEnum):
    """Where one stream stands in a run, as the engine sees it."""

    NOT_STARTED = "not_started"
    STARTED = "started"
    COMPLETE = "complete"
    SKIPPED = "skipped"
    ERRORED = "errored"
    RATE_LIMITED = "rate_limited"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class StreamProgress(_Model):
    """Progress of one stream, cumulative over the attempts of a run."""

    status: StreamProgressStatus = Field(default=StreamProgressStatus.NOT_STARTED, description="Stream status.")
    record_count: int = Field(default=0, description="Records delivered to the destination.")
    state_count: int = Field(default=0, description="Checkpoints committed by the destination.")
    request_count: int = Field(default=0, description="API requests the source reported for this stream.")
    inserted_count: int | None = Field(default=None, description="Rows the destination inserted, if it reports it.")
    updated_count: int | None = Field(default=None, description="Rows the destination updated, if it reports it.")
    deleted_count: int | None = Field(default=None, description="Rows the destination deleted, if it reports it.")
    completed_ranges: list[TimeRange] = Field(default_factory=list, description="Committed spans of time, merged.")
    requested_range: TimeRange | None = Field(default=None, description="The span the user asked for, if any.")
    covered_fraction: float | None = Field(
        default=None, description="Share of requested_range in completed_ranges, 0..1; null when unbounded."
    )
    error: str | None = Field(default=None, description="Message of the error that stopped the stream, if any.")


class RunProgress(_Model):
    """A progress snapshot of a run: per-stream figures plus totals."""

    run_id: str | None = Field(default=None, description="The run these figures belong to.")
    elapsed_s: float = Field(default=0.0, description="Seconds spent syncing, summed over attempts.")
    record_count: int = Field(default=0, description="Records delivered to the destination, all streams.")
    state_count: int = Field(default=0, description="Checkpoints committed, all streams.")
    records_per_s: float = Field(default=0.0, description="record_count / elapsed_s.")
    recent_records_per_s: float = Field(default=0.0, description="Records per second over the last ~10 seconds.")
    states_per_s: float = Field(default=0.0, description="state_count / elapsed_s.")
    request_count: int = Field(default=0, description="API requests the source reported, all streams.")
    attempts: int = Field(default=0, description="How many times the source was started in this run.")
    streams: dict[str, StreamProgress] = Field(default_factory=dict, description="Per-stream progress by name.")


class StreamState(_Model):
    """What a sync remembers about one stream."""

    data: Any = Field(default=None, description="The source's own checkpoint for the stream (opaque).")
    completed_ranges: list[TimeRange] = Field(
        default_factory=list, description="Spans of time whose records are committed, merged and sorted."
    )


class SyncState(_Model):
    """A persisted checkpoint: source state, completed ranges, and cumulative progress.

    The engine passes it to a source's `read --state`; a source reads its own `data` and may use
    `completed_ranges` to sync only the gaps.
    """

    run_id: str | None = Field(default=None, description="The run that wrote this checkpoint.")
    streams: dict[str, StreamState] = Field(default_factory=dict, description="Per-stream state by name.")
    global_state: Any = Field(default=None, description="The source's latest global (not per-stream) checkpoint.")
    progress: RunProgress | None = Field(default=None, description="Cumulative progress when it was written.")
    finished: bool = Field(default=False, description="True once the run ended without more to do.")
    pipeline: PipelineIdentity | None = Field(
        default=None, description="What this checkpoint belongs to; another pipeline never resumes from it."
    )
    run_ranges: dict[str, TimeRange] = Field(
        default_factory=dict,
        description="The time range each stream reads in this run, fixed when the run started (upper bound included).",
    )
    earlier_runs: RunProgress | None = Field(
        default=None,
        description="Totals of every earlier run of the pipeline; with `progress` they give its lifetime totals.",
    )
    failed_attempts: int = Field(
        default=0, description="Attempts of this run that ended in a transient failure; the retry budget spent."
    )


class PipelineIdentity(_Model):
    """A fingerprint of the pipeline a checkpoint belongs to: connector commands and their non-secret configs.

    `parts` holds one digest per command and per top-level config key (`source.command`,
    `destination.config.schema`, ...), so a mismatch can name what changed without storing any value.
    """

    fingerprint: str = Field(description="Digest over all parts.")
    parts: dict[str, str] = Field(default_factory=dict, description="Digest per command and per config key.")

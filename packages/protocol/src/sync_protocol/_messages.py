"""Every message that crosses a pipe, as one discriminated union on `type`.

On the wire each message is an envelope `{"type": "<kind>", "<kind>": {...payload}}`. Readers ignore unknown
fields; a message whose `type` is unknown becomes an `UnknownMessage` that is passed through unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

from ._catalog import Catalog, ConfiguredCatalog
from ._errors import ErrorLevel, FailureType
from ._ranges import TimeRange
from ._state import RunProgress, SyncState


class _Payload(BaseModel):
    # Validators are built on first use: a process pays only for the messages it handles (a connector's `spec`
    # or `discover` touches two or three of ~45 models; every Python connector starts with this module).
    model_config = ConfigDict(extra="ignore", defer_build=True)


# ---- payloads ---------------------------------------------------------------------------------------------------


class Spec(_Payload):
    """What a connector accepts: its config schema and optional capabilities."""

    config: dict[str, Any] = Field(description="JSON Schema of the config; secret fields carry writeOnly/secret.")
    state_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of the source state data.")
    input_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema of `source_input` data.")
    capabilities: dict[str, Any] = Field(
        default_factory=dict,
        description='Optional features, e.g. {"time_range": true, "max_cell_chars": 50000}.',
    )


class ConnectionStatusValue(StrEnum):
    """Outcome of `check`."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ConnectionStatus(_Payload):
    """The answer to `check`."""

    status: ConnectionStatusValue = Field(description="Whether the connector could connect with the config.")
    message: str | None = Field(default=None, description="Why it failed, or a note on success.")


class Record(_Payload):
    """One row of one stream."""

    stream: str = Field(description="Stream the record belongs to.")
    data: dict[str, Any] = Field(description="The record's fields.")
    emitted_at: AwareDatetime = Field(description="When the source read it (RFC 3339 with offset, UTC by convention).")
    deleted: bool = Field(default=False, description="A tombstone: the object with this primary key was deleted.")


class StateType(StrEnum):
    """Whether a checkpoint belongs to one stream or to the whole source."""

    STREAM = "stream"
    GLOBAL = "global"


class SourceState(_Payload):
    """A checkpoint: once committed, everything the source sent before it is durable."""

    state_type: StateType = Field(default=StateType.STREAM, description="Per-stream or global checkpoint.")
    stream: str | None = Field(default=None, description="The stream, for state_type=stream.")
    data: Any = Field(default=None, description="The source's checkpoint; opaque to the engine.")
    time_range: TimeRange | None = Field(
        default=None, description="The span of time this checkpoint completes (for completed_ranges)."
    )


class StreamStatusValue(StrEnum):
    """What a source says about a stream."""

    STARTED = "started"
    COMPLETE = "complete"
    SKIPPED = "skipped"
    RATE_LIMITED = "rate_limited"


class StreamStatus(_Payload):
    """A stream changed status."""

    stream: str = Field(description="The stream.")
    status: StreamStatusValue = Field(description="Its new status.")
    time_range: TimeRange | None = Field(default=None, description="The span the status refers to, if any.")
    reason: str | None = Field(default=None, description="Why, e.g. why a stream was skipped.")
    retry_at: AwareDatetime | None = Field(default=None, description="For rate_limited: when requests resume.")


class Error(_Payload):
    """Something went wrong; `level` decides what stops. A `stream` error names its stream."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"if": {"properties": {"level": {"const": "stream"}}}, "then": {"required": ["stream"]}},
    )

    level: ErrorLevel = Field(description="global stops the run, stream stops one stream, transient is retried.")
    failure_type: FailureType = Field(description="Who must act: config, auth, system or transient.")
    message: str = Field(description="A message for users; never contains secrets.")
    stream: str | None = Field(default=None, description="The stream, for level=stream.")
    retryable: bool = Field(default=False, description="Whether retrying the same work may succeed.")
    internal_message: str | None = Field(default=None, description="Detail for developers.")
    stack_trace: str | None = Field(default=None, description="Trace of the failure, redacted.")

    @model_validator(mode="after")
    def _stream_named(self) -> Error:
        if self.level is ErrorLevel.STREAM and not self.stream:
            raise ValueError("a stream error must name its stream")
        return self


class LogLevel(StrEnum):
    """Severity of a log message."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class Log(_Payload):
    """A diagnostic line for humans."""

    level: LogLevel = Field(description="Severity.")
    message: str = Field(description="The text, redacted.")
    data: dict[str, Any] | None = Field(default=None, description="Structured context.")


class ControlType(StrEnum):
    """Which config a control message replaces."""

    SOURCE_CONFIG = "source_config"
    DESTINATION_CONFIG = "destination_config"


class Control(_Payload):
    """A connector asks the caller to store a new config (e.g. setup created a spreadsheet)."""

    control_type: ControlType = Field(description="Which config to replace.")
    config: dict[str, Any] = Field(description="The full new config.")


class RunStatus(StrEnum):
    """How a run ended. `failed` is the user's to fix (config, credentials); `system_error` is infrastructure's
    (transient failures that exhausted their retries, internal faults): alert on it, not on bad keys."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"
    SYSTEM_ERROR = "system_error"


class Stats(_Payload):
    """Counters a connector reports; each is the increase since its previous `stats` message (absent = unknown)."""

    stream: str | None = Field(default=None, description="The stream the counts belong to; null = the whole run.")
    request_count: int | None = Field(default=None, ge=0, description="API requests made (a source).")
    inserted_count: int | None = Field(default=None, ge=0, description="Rows inserted (a destination, committed).")
    updated_count: int | None = Field(default=None, ge=0, description="Rows updated (a destination, committed).")
    deleted_count: int | None = Field(default=None, ge=0, description="Rows deleted (a destination, committed).")


class Start(_Payload):
    """The engine began a run."""

    run_id: str = Field(description="Identifies the run across attempts.")
    starting_state: SyncState | None = Field(
        default=None, description="The checkpoint the run starts from; absent when there is none (or it was not read)."
    )


class End(_Payload):
    """The engine finished a run."""

    status: RunStatus = Field(
        description="succeeded; partial (some streams errored or were left unfinished); failed (the user's: config, "
        "credentials); system_error (infrastructure: retries exhausted, internal faults)."
    )
    has_more: bool = Field(default=False, description="A limit or a stop request ended the run early; run again.")
    ending_state: SyncState | None = Field(
        default=None, description="The last committed checkpoint; absent when the sync failed before reading it."
    )
    failure_type: FailureType | None = Field(default=None, description="For failed/system_error: the deciding type.")
    run_progress: RunProgress | None = Field(
        default=None,
        description="Figures of the run: cumulative over every attempt and invocation of the run_id (persisted in "
        "the checkpoint). In an `end` without `pipeline_progress` (an older engine) it holds the invocation's.",
    )
    request_progress: RunProgress | None = Field(
        default=None,
        description="Figures of this invocation alone. In an `end` without `pipeline_progress` (an older engine) "
        "it holds the run's.",
    )
    pipeline_progress: RunProgress | None = Field(
        default=None, description="Totals over every run of the pipeline, this one included."
    )


class SourceInput(_Payload):
    """One pushed event for `read` on stdin (e.g. a webhook's payload)."""

    data: dict[str, Any] = Field(description="The event as the upstream system sent it.")
    stream: str | None = Field(default=None, description="The stream it belongs to, if the caller knows.")


# ---- envelopes --------------------------------------------------------------------------------------------------


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class SpecMessage(_Envelope):
    type: Literal["spec"] = "spec"
    spec: Spec


class ConnectionStatusMessage(_Envelope):
    type: Literal["connection_status"] = "connection_status"
    connection_status: ConnectionStatus


class CatalogMessage(_Envelope):
    type: Literal["catalog"] = "catalog"
    catalog: Catalog


class RecordMessage(_Envelope):
    type: Literal["record"] = "record"
    record: Record


class SourceStateMessage(_Envelope):
    type: Literal["source_state"] = "source_state"
    source_state: SourceState


class StreamStatusMessage(_Envelope):
    type: Literal["stream_status"] = "stream_status"
    stream_status: StreamStatus


class ErrorMessage(_Envelope):
    type: Literal["error"] = "error"
    error: Error


class LogMessage(_Envelope):
    type: Literal["log"] = "log"
    log: Log


class ControlMessage(_Envelope):
    type: Literal["control"] = "control"
    control: Control


class ProgressMessage(_Envelope):
    type: Literal["progress"] = "progress"
    progress: RunProgress


class StartMessage(_Envelope):
    type: Literal["start"] = "start"
    start: Start


class EndMessage(_Envelope):
    type: Literal["end"] = "end"
    end: End


class StatsMessage(_Envelope):
    type: Literal["stats"] = "stats"
    stats: Stats


class ConfiguredCatalogMessage(_Envelope):
    """Emitted by the engine right after `start`: the streams of this sync as actually configured."""

    type: Literal["configured_catalog"] = "configured_catalog"
    configured_catalog: ConfiguredCatalog


class SourceInputMessage(_Envelope):
    type: Literal["source_input"] = "source_input"
    source_input: SourceInput


class UnknownMessage(_Envelope):
    """A message of a type this version does not know; kept whole so it can be passed through unchanged."""

    model_config = ConfigDict(extra="allow", frozen=True, json_schema_extra=lambda schema: _unknown_schema(schema))
    type: str


def _unknown_schema(schema: dict[str, Any]) -> None:
    """In the published schema an unknown message is one whose `type` is none of the known kinds."""
    schema["properties"]["type"] = {"type": "string", "not": {"enum": sorted(KNOWN_MESSAGE_CLASSES)}}
    schema["description"] = "A message of a type this protocol version does not define; pass it through unchanged."


KNOWN_MESSAGE_CLASSES: dict[str, type[_Envelope]] = {
    "spec": SpecMessage,
    "connection_status": ConnectionStatusMessage,
    "catalog": CatalogMessage,
    "record": RecordMessage,
    "source_state": SourceStateMessage,
    "stream_status": StreamStatusMessage,
    "error": ErrorMessage,
    "log": LogMessage,
    "control": ControlMessage,
    "progress": ProgressMessage,
    "start": StartMessage,
    "end": EndMessage,
    "source_input": SourceInputMessage,
    "stats": StatsMessage,
    "configured_catalog": ConfiguredCatalogMessage,
}


def _message_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in KNOWN_MESSAGE_CLASSES else "unknown"


Message = Annotated[
    Annotated[SpecMessage, Tag("spec")]
    | Annotated[ConnectionStatusMessage, Tag("connection_status")]
    | Annotated[CatalogMessage, Tag("catalog")]
    | Annotated[RecordMessage, Tag("record")]
    | Annotated[SourceStateMessage, Tag("source_state")]
    | Annotated[StreamStatusMessage, Tag("stream_status")]
    | Annotated[ErrorMessage, Tag("error")]
    | Annotated[LogMessage, Tag("log")]
    | Annotated[ControlMessage, Tag("control")]
    | Annotated[ProgressMessage, Tag("progress")]
    | Annotated[StartMessage, Tag("start")]
    | Annotated[EndMessage, Tag("end")]
    | Annotated[SourceInputMessage, Tag("source_input")]
    | Annotated[StatsMessage, Tag("stats")]
    | Annotated[ConfiguredCatalogMessage, Tag("configured_catalog")]
    | Annotated[UnknownMessage, Tag("unknown")],
    Discriminator(_message_tag),
]
"""Any message of the wire protocol; an unknown `type` validates as `UnknownMessage`."""

MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message, config=ConfigDict(defer_build=True))


def utc_now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


def error_message(exc: BaseException, *, stream: str | None = None) -> ErrorMessage:
    """The one place an exception becomes an `error` message.

    A `ConnectorError` keeps its level and failure type; anything else is a global system error with its trace.
    """
    import traceback

    from ._errors import ConnectorError

    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, ConnectorError):
        level = exc.level
        if level is ErrorLevel.STREAM and not (exc.stream or stream):
            level = ErrorLevel.GLOBAL  # a stream error that names no stream cannot be isolated
        error = Error(
            level=level,
            failure_type=exc.failure_type,
            message=exc.message,
            stream=exc.stream or stream,
            retryable=exc.retryable,
            internal_message=exc.internal_message,
            stack_trace=trace if exc.__cause__ is not None else None,
        )
    else:
        error = Error(
            level=ErrorLevel.GLOBAL,
            failure_type=FailureType.SYSTEM_ERROR,
            message=f"unexpected {type(exc).__name__}: {exc}",
            stream=stream,
            internal_message=repr(exc),
            stack_trace=trace,
        )
    return ErrorMessage(error=error)

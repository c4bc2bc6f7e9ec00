"""Catalog enforcement on every source line: pure logic, no I/O.

Records take a fast path: msgspec decodes the envelope and the record's field names but leaves field values as
raw JSON (about 1.6x faster than a full orjson parse of a Stripe-sized record), and the original bytes are
forwarded unless a field must be pruned. Other messages are validated with the protocol models. Records and states
of unconfigured streams are dropped and counted; a malformed line raises `ConnectorFailedError` naming the
connector and the line number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
from sync_protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    Message,
    NdjsonDecodeError,
    SourceStateMessage,
    StateType,
    StreamStatusMessage,
    UnknownMessage,
    decode_message,
    decode_object,
)

from ._errors import ConnectorFailedError
from ._validation import RecordValidator

FORWARDED_TYPES = frozenset({"record", "source_state", "stream_status"})
"""Known message types a destination receives; unknown types are forwarded too (pass-through contract)."""


class _RecordHead(msgspec.Struct):
    stream: str
    data: dict[str, msgspec.Raw]
    emitted_at: str
    deleted: bool = False


class _Envelope(msgspec.Struct):
    type: str
    record: _RecordHead | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """What may pass for one configured stream."""

    allowed_fields: frozenset[str] | None
    """Top-level fields kept (selected properties + primary key); None keeps everything."""
    validator: RecordValidator | None


@dataclass(slots=True)
class Enforced:
    """The verdict on one line: bytes for the destination (or None) and, for non-records, the parsed message."""

    kind: str
    forward: bytes | None
    message: Message | None = None
    stream: str | None = None


class InvalidRecordError(Exception):
    """A record failed validation against its stream's JSON Schema."""

    def __init__(self, stream: str, reason: str) -> None:
        super().__init__(f"record of stream {stream!r} does not match its schema: {reason}")
        self.stream = stream


def plan_stream(stream: ConfiguredStream, validate: bool) -> StreamPlan:
    """The enforcement plan for a configured stream."""
    properties = stream.json_schema.get("properties")
    allowed = None
    if isinstance(properties, dict) and stream.json_schema.get("additionalProperties") is not True:
        allowed = frozenset(properties) | {path[0] for path in stream.primary_key if path}
    return StreamPlan(allowed, RecordValidator(stream.json_schema) if validate else None)


class CatalogEnforcer:
    """Applies the configured catalog to the source's output, one line at a time."""

    def __init__(self, catalog: ConfiguredCatalog, *, validate_records: bool = False, connector: str = "source"):
        self._plans = {s.name: plan_stream(s, validate_records) for s in catalog.streams}
        self._connector = connector
        self.dropped: Counter[str] = Counter()
        """Records and states dropped because their stream is not configured, by stream."""
        self.pruned: Counter[str] = Counter()
        """Records that lost fields outside the configured schema, by stream."""
        self._warned: set[str] = set()
        self._disabled: set[str] = set()
        self.new_warnings: list[str] = []
        """Streams dropped for the first time since the caller last cleared this list (warn once each)."""

    def record(self, line: bytes, line_number: int) -> tuple[str, bytes | None] | None:
        """Fast path for a record line: `(stream, bytes to forward or None if dropped)`; None if not a record.

        Forwarded bytes carry no newline. Raises like `process` on a malformed or invalid record.
        """
        try:
            envelope = _decode_envelope(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            envelope = None
        if envelope is None or envelope.record is None or envelope.type != "record":
            if envelope is not None and envelope.type != "record":
                return None
            verdict = self.process(line, line_number)  # raises with a precise message, or handles an odd line
            if verdict.kind != "record":
                return None  # e.g. a state with an extra top-level `record` field: the caller handles it
            return (verdict.stream or "", verdict.forward[:-1] if verdict.forward else None)
        head = envelope.record
        stream = head.stream
        plan = self._plans.get(stream)
        if plan is None:
            if stream not in self._disabled:
                self._drop(stream)
            return stream, None
        allowed = plan.allowed_fields
        if plan.validator is None and (allowed is None or allowed.issuperset(head.data)):
            return stream, line
        verdict = self._record(orjson.loads(line), line, line_number)
        return stream, verdict.forward[:-1] if verdict.forward else None

    def process(self, line: bytes, line_number: int) -> Enforced:
        """Judge one non-blank line; raise `ConnectorFailedError` or `InvalidRecordError` on bad input."""
        try:
            value = decode_object(line, line_number)
            if value["type"] == "record":
                return self._record(value, line, line_number)
            message = decode_message(line, line_number)
        except NdjsonDecodeError as exc:
            raise ConnectorFailedError(f"{self._connector} wrote an invalid message at {exc}") from exc
        return self._other(message, line)

    def _record(self, value: dict[str, Any], line: bytes, line_number: int) -> Enforced:
        record = value.get("record")
        if (
            not isinstance(record, dict)
            or not isinstance(stream := record.get("stream"), str)
            or not isinstance(data := record.get("data"), dict)
            or not isinstance(record.get("emitted_at"), str)
        ):
            excerpt = line[:120].decode("utf-8", errors="replace")
            raise ConnectorFailedError(
                f"{self._connector} wrote an invalid record at line {line_number}: "
                f"needs string `stream`, object `data` and `emitted_at`: {excerpt!r}"
            )
        plan = self._plans.get(stream)
        if plan is None:
            if stream not in self._disabled:
                self._drop(stream)
            return Enforced("record", None, stream=stream)
        if plan.validator is not None:
            problem = plan.validator.first_error(data)
            if problem is not None:
                raise InvalidRecordError(stream, problem)
        allowed = plan.allowed_fields
        if allowed is not None and not allowed.issuperset(data):
            record["data"] = {k: v for k, v in data.items() if k in allowed}
            self.pruned[stream] += 1
            return Enforced("record", orjson.dumps(value) + b"\n", stream=stream)
        return Enforced("record", line + b"\n", stream=stream)

    def _other(self, message: Message, line: bytes) -> Enforced:
        stream: str | None = None
        if isinstance(message, SourceStateMessage):
            if message.source_state.state_type is StateType.STREAM:
                stream = message.source_state.stream
                if stream is None:
                    raise ConnectorFailedError(f"{self._connector} sent a stream state without `stream`")
        elif isinstance(message, StreamStatusMessage):
            stream = message.stream_status.stream
        if stream is not None and stream not in self._plans:
            if stream not in self._disabled:
                self._drop(stream)
            return Enforced(message.type, None, message, stream)
        forward = line + b"\n" if message.type in FORWARDED_TYPES or isinstance(message, UnknownMessage) else None
        return Enforced(message.type, forward, message, stream)

    def disable(self, stream: str) -> None:
        """Stop forwarding `stream` (records, states, statuses) for the rest of this attempt: it errored."""
        self._plans.pop(stream, None)
        self._disabled.add(stream)

    def _drop(self, stream: str) -> None:
        self.dropped[stream] += 1
        if stream not in self._warned:
            self._warned.add(stream)
            self.new_warnings.append(stream)

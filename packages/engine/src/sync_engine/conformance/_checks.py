"""The conformance rules as pure functions over what a connector printed: no processes, no I/O.

Each function returns the findings that break one rule (empty when it holds); a finding names the offending line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema_rs
import orjson
from sync_protocol import (
    ConfiguredCatalog,
    ErrorLevel,
    ErrorMessage,
    Message,
    NdjsonDecodeError,
    RecordMessage,
    SourceStateMessage,
    StateType,
    StreamStatusMessage,
    StreamStatusValue,
    TimeRange,
    decode_message,
    protocol_json_schema,
)

TERMINAL_STATUSES = frozenset({StreamStatusValue.COMPLETE, StreamStatusValue.SKIPPED})


@dataclass(frozen=True)
class Finding:
    """One breach of a rule, with the stdout line (1-based) that shows it, if any."""

    message: str
    line_number: int | None = None
    line: bytes | None = None


@dataclass(frozen=True)
class Line:
    """One stdout line that is a valid protocol message."""

    number: int
    raw: bytes
    message: Message


def _checked_validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator of the draft `schema` names (2020-12 when none); `ValidationError` when `schema` breaks it."""
    return jsonschema_rs.validator_cls_for(schema)(schema, offline=True)


@cache
def _message_validator() -> jsonschema_rs.Validator:
    return _checked_validator(protocol_json_schema())


def config_schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a usable JSON Schema for a config (None when it is)."""
    if not isinstance(schema, dict):
        return "the config schema is not a JSON object"
    try:
        _checked_validator(schema)
    except jsonschema_rs.ValidationError as exc:
        return f"the config schema is not a valid JSON Schema: {exc.message}"
    if schema.get("type", "object") != "object":
        return f"the config schema describes {schema.get('type')!r}, not an object"
    return None


def parse_output(stdout: bytes) -> tuple[list[Line], list[Finding]]:
    """Every stdout line as a message validated against the published protocol schema; findings for the others."""
    lines: list[Line] = []
    findings: list[Finding] = []
    for number, raw in enumerate(stdout.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            findings.append(Finding(f"not a JSON line: {exc}", number, raw))
            continue
        error = next(iter(_message_validator().iter_errors(obj)), None)
        try:
            message = decode_message(raw, number)
        except NdjsonDecodeError as exc:
            findings.append(Finding(f"not a valid protocol message: {exc}", number, raw))
            continue
        if error is not None:
            findings.append(Finding(f"does not match protocol.schema.json: {error.message}", number, raw))
            continue
        lines.append(Line(number, raw, message))
    return lines, findings


def truncation(stdout: bytes) -> list[Finding]:
    """Output that stops inside a line: the connector exited before its stdout was flushed."""
    if not stdout or stdout.endswith(b"\n"):
        return []
    last = stdout.rsplit(b"\n", 1)[-1]
    number = stdout.count(b"\n") + 1
    return [Finding("output lost at exit: the last line is cut off (stdout not flushed before exit)", number, last)]


def leaks(outputs: Iterable[tuple[str, bytes]], secrets: Sequence[str]) -> list[Finding]:
    """Every output (named, e.g. `check stdout`) that contains a secret of the config, by line."""
    found: list[Finding] = []
    needles = [s.encode() for s in secrets if s]
    for name, data in outputs:
        for number, raw in enumerate(data.split(b"\n"), 1):
            if any(needle in raw for needle in needles):
                found.append(Finding(f"a secret from the config appears in {name}", number, raw))
                break
    return found


def foreign_streams(lines: Sequence[Line], catalog: ConfiguredCatalog) -> list[Finding]:
    """Records and states of streams the catalog does not configure."""
    configured = {s.name for s in catalog.streams}
    found: list[Finding] = []
    for line in lines:
        stream = _stream_of(line.message)
        if isinstance(line.message, RecordMessage | SourceStateMessage) and stream is not None:
            if stream not in configured:
                found.append(Finding(f"{line.message.type} of stream {stream!r}, which is not configured", *_at(line)))
    return found


def terminal_statuses(lines: Sequence[Line], catalog: ConfiguredCatalog) -> list[Finding]:
    """Each configured stream ends with `complete`, `skipped` or a stream error naming it; nothing of it after."""
    ended: dict[str, Line] = {}
    found: list[Finding] = []
    for line in lines:
        message = line.message
        if isinstance(message, ErrorMessage) and message.error.level is ErrorLevel.GLOBAL:
            return [Finding(f"the read failed with a global error: {message.error.message}", *_at(line))]
        stream = _stream_of(message)
        if stream is None:
            continue
        if stream in ended and not isinstance(message, ErrorMessage):
            found.append(Finding(f"{message.type} of stream {stream!r} after its terminal status", *_at(line)))
        if isinstance(message, StreamStatusMessage) and message.stream_status.status in TERMINAL_STATUSES:
            ended.setdefault(stream, line)
        elif isinstance(message, ErrorMessage) and message.error.level is ErrorLevel.STREAM:
            ended.setdefault(stream, line)
    for configured in catalog.streams:
        if configured.name not in ended:
            last = lines[-1] if lines else None
            found.append(
                Finding(
                    f"missing terminal status: stream {configured.name!r} never got `complete`, `skipped` "
                    "or a stream error",
                    *(_at(last) if last else (None, None)),
                )
            )
    return found


def state_ranges(lines: Sequence[Line], catalog: ConfiguredCatalog) -> list[Finding]:
    """Stream states name their stream, come after it started, and carry well-formed ranges inside the handed one."""
    found: list[Finding] = []
    started: set[str] = set()
    for line in lines:
        message = line.message
        if isinstance(message, StreamStatusMessage):
            started.add(message.stream_status.stream)
        if not isinstance(message, SourceStateMessage):
            continue
        state = message.source_state
        if state.state_type is StateType.STREAM and not state.stream:
            found.append(Finding("a stream state without `stream`", *_at(line)))
            continue
        if state.stream and state.stream not in started:
            found.append(Finding(f"a state of stream {state.stream!r} before its `started` status", *_at(line)))
        configured = catalog.stream(state.stream) if state.stream else None
        given = configured.time_range if configured is not None else None
        if state.time_range is None:
            continue
        if state.time_range.gte is not None and state.time_range.lt is not None and state.time_range.is_empty:
            found.append(Finding("a state with an empty time_range (gte >= lt)", *_at(line)))
        elif given is not None and not _inside(state.time_range, given):
            found.append(
                Finding(f"a state's time_range lies outside the range handed over ({_show(given)})", *_at(line))
            )
    return found


def committed_keys(lines: Sequence[Line], catalog: ConfiguredCatalog) -> tuple[set[tuple[str, str]], int]:
    """Primary keys of the records before each stream's last state, and the largest page between two states."""
    keys: set[tuple[str, str]] = set()
    pending: dict[str, set[tuple[str, str]]] = {}
    biggest = 0
    for line in lines:
        message = line.message
        if isinstance(message, RecordMessage):
            configured = catalog.stream(message.record.stream)
            key = _key(message.record.data, configured.primary_key if configured else [])
            pending.setdefault(message.record.stream, set()).add((message.record.stream, key))
        elif isinstance(message, SourceStateMessage):
            page = pending.pop(message.source_state.stream or "", set())
            if message.source_state.state_type is StateType.GLOBAL:
                for rest in pending.values():
                    page |= rest
                pending.clear()
            biggest = max(biggest, len(page))
            keys |= page
    return keys, biggest


def redelivered(lines: Sequence[Line], catalog: ConfiguredCatalog, committed: set[tuple[str, str]]) -> list[Line]:
    """Records of a second read whose primary key was already committed by the first."""
    out = []
    for line in lines:
        if isinstance(line.message, RecordMessage):
            configured = catalog.stream(line.message.record.stream)
            key = _key(line.message.record.data, configured.primary_key if configured else [])
            if (line.message.record.stream, key) in committed:
                out.append(line)
    return out


_DESTINATION_OWN = frozenset({"log", "error", "stream_status", "control", "stats"})
"""What a destination may say of its own between echoes (row counts, logs, ...): not echoes."""


def echo_order(sent: Sequence[bytes], lines: Sequence[Line]) -> list[Finding]:
    """The destination echoed exactly the states and unknown messages it was sent, in order."""
    expected = [orjson.loads(s) for s in sent]
    echoed = [line for line in lines if line.message.type not in _DESTINATION_OWN]
    found: list[Finding] = []
    for index, want in enumerate(expected):
        if index >= len(echoed):
            what = "state" if want.get("type") == "source_state" else f"unknown message {want.get('type')!r}"
            found.append(Finding(f"the {what} sent as number {index + 1} was never echoed"))
            break
        got = orjson.loads(echoed[index].raw)
        if _canonical(got) != _canonical(want):
            found.append(Finding(f"echo number {index + 1} is not what was sent in that place", *_at(echoed[index])))
            break
    else:
        if len(echoed) > len(expected):
            found.append(Finding("an echo that was never sent", *_at(echoed[len(expected)])))
    return found


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _key(data: dict[str, Any], primary_key: list[list[str]]) -> str:
    values: list[Any] = []
    for path in primary_key or [["id"]]:
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        values.append(value)
    return orjson.dumps(values).decode()


def _stream_of(message: Message) -> str | None:
    if isinstance(message, RecordMessage):
        return message.record.stream
    if isinstance(message, SourceStateMessage):
        return message.source_state.stream
    if isinstance(message, StreamStatusMessage):
        return message.stream_status.stream
    if isinstance(message, ErrorMessage):
        return message.error.stream
    return None


def _inside(inner: TimeRange, outer: TimeRange) -> bool:
    return _le(outer.gte, inner.gte, low=True) and _le(inner.lt, outer.lt, low=False)


def _le(a: datetime | None, b: datetime | None, *, low: bool) -> bool:
    """a <= b where None is the open end (-inf for a lower bound, +inf for an upper one)."""
    if low:
        return a is None or (b is not None and a <= b)
    return b is None or (a is not None and a <= b)


def _show(r: TimeRange) -> str:
    return f"gte={r.gte.isoformat() if r.gte else '-'}, lt={r.lt.isoformat() if r.lt else '-'}"


def _at(line: Line) -> tuple[int, bytes]:
    return line.number, line.raw

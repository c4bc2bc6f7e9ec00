"""Records as their original bytes: what a destination gets from `write_raw` instead of parsed records.

A destination that stores each record's JSON as it came (a jsonb column, a file) gains nothing from parsing it
into Python objects only to dump it again; that parse and re-dump was most of such a writer's CPU. msgspec reads
the envelope and skips over `data` without building it (`msgspec.Raw`), so `RawRecord.data` is the exact bytes
the source wrote. The same checks as the parsed path are made (string stream, object data, timezone-aware
RFC 3339 `emitted_at`, boolean `deleted`, valid UTF-8); a line that fails them goes through the full decoder,
which names the problem.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
import orjson

from .._messages import RecordMessage


class RawRecord(msgspec.Struct, gc=False):
    """One record with its `data` object as the original JSON bytes (UTF-8, never re-encoded).

    A msgspec struct rather than a plain class: built once per record on a destination's hot path, and its
    constructor is C code (measured: a third of a microsecond less per record)."""

    stream: str
    """The record's stream."""
    data: bytes
    """The `data` object exactly as it appeared on the line (starts with `{`)."""
    emitted_at: str
    """`emitted_at` as sent (RFC 3339 with an offset; checked, not parsed further)."""
    deleted: bool = False
    """Whether the record is a tombstone."""

    def __repr__(self) -> str:
        return f"RawRecord(stream={self.stream!r}, data={self.data!r}, deleted={self.deleted})"

    @classmethod
    def from_message(cls, message: RecordMessage) -> RawRecord:
        """A parsed record as a raw one (the slow path: lines the fast decoder declined)."""
        record = message.record
        return cls(record.stream, orjson.dumps(record.data), emitted_at_text(record.emitted_at), record.deleted)

    @classmethod
    def from_json(cls, stream: str, data: bytes, emitted_at: str, deleted: bool = False) -> RawRecord:
        """A record for a source to emit whose `data` is one JSON object as bytes, e.g. an object of an API
        response sliced out with `msgspec.Raw`: the source then neither builds it in Python nor encodes it again.

        The bytes are trusted to be JSON (the engine rejects a line that is not); they are compacted when they span
        lines (pretty-printed responses) and raise `ValueError` unless they are an object in valid UTF-8.
        """
        if not data.startswith(b"{"):
            raise ValueError(f"record data of stream {stream!r} is not a JSON object: {data[:40]!r}")
        if not data.isascii():
            data.decode()  # UnicodeDecodeError is a ValueError
        if b"\n" in data or b"\r" in data:  # inside JSON strings these are escaped: this is layout
            data = msgspec.json.format(data, indent=-1)
        return cls(stream, data, emitted_at, deleted)

    def line(self) -> bytes:
        """The record as one NDJSON line (newline included), in the form `encode_record_fast` gives."""
        deleted = b',"deleted":true}}\n' if self.deleted else b"}}\n"
        return b"".join(
            (
                b'{"type":"record","record":{"stream":',
                orjson.dumps(self.stream),
                b',"data":',
                self.data,
                b',"emitted_at":',
                orjson.dumps(self.emitted_at),
                deleted,
            )
        )


def emitted_at_text(value: datetime) -> str:
    """`value` as the wire carries an `emitted_at` (RFC 3339, UTC written as `Z`)."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()[1:-1]


class _Body(msgspec.Struct):
    stream: str
    data: msgspec.Raw
    emitted_at: str
    deleted: bool = False


class _Envelope(msgspec.Struct):
    type: str
    record: _Body


_decode = msgspec.json.Decoder(_Envelope).decode


def decode_raw_record(line: bytes) -> RawRecord | None:
    """The record on `line` with its data left as bytes; None when the line is anything unusual."""
    try:
        body = _decode(line).record
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    data = bytes(body.data)
    if not data.startswith(b"{"):
        return None
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError:
            return None
    try:
        emitted = datetime.fromisoformat(body.emitted_at)
    except ValueError:
        return None
    if emitted.tzinfo is None:
        return None
    return RawRecord(body.stream, data, body.emitted_at, body.deleted)

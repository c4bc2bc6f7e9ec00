"""NDJSON framing and message encoding: a sans-IO line splitter with blocking and async wrappers.

`LineSplitter` turns arbitrary byte chunks into complete lines (blank lines skipped, a final line without a
newline accepted by `close()`); `decode_message` and `encode_message` convert between lines and messages. The
async reader takes any async iterable of bytes (an anyio byte stream is one), so this module needs no event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator
from typing import IO, Any

import orjson
from pydantic import ValidationError

from ._errors import NdjsonDecodeError, describe_validation_error
from ._messages import MESSAGE_ADAPTER, Message

DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024
"""Longest line accepted; longer input is an error rather than unbounded memory growth."""

READ_CHUNK_BYTES = 256 * 1024


class LineSplitter:
    """Sans-IO NDJSON framing: `feed(chunk)` returns the complete lines it finished, numbered from 1.

    Lines are returned without their `\\n` (and without a trailing `\\r`); blank lines are skipped but counted.
    """

    __slots__ = ("_buffer", "_line_number", "_max_line_bytes")

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._line_number = 0
        self._max_line_bytes = max_line_bytes

    @property
    def line_number(self) -> int:
        """Number of the last line returned (or skipped as blank)."""
        return self._line_number

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        """Add `chunk`; return `(line_number, line)` for each line it completed."""
        pieces = chunk.split(b"\n")  # the chunk is copied once, into its lines
        rest = pieces.pop()
        if self._buffer and pieces:
            self._buffer += pieces[0]
            pieces[0] = bytes(self._buffer)
            self._buffer.clear()
        self._buffer += rest
        if not pieces:
            if len(self._buffer) > self._max_line_bytes:
                raise NdjsonDecodeError(
                    f"line longer than {self._max_line_bytes} bytes",
                    line_number=self._line_number + 1,
                    line=bytes(self._buffer[:200]),
                )
            return []
        lines: list[tuple[int, bytes]] = []
        number = self._line_number
        for line in pieces:  # the hot loop of every reader: kept inline
            number += 1
            if line and line[0] == 0x7B and line[-1] == 0x7D:
                lines.append((number, line))
            elif line:
                self._line_number = number - 1
                self._append(lines, line)
        self._line_number = number
        return lines

    def close(self) -> list[tuple[int, bytes]]:
        """End of input: return the final line if it had no newline."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        lines: list[tuple[int, bytes]] = []
        self._append(lines, rest)
        return lines

    def _append(self, lines: list[tuple[int, bytes]], line: bytes) -> None:
        self._line_number += 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if line and (line[0] == 0x7B or not line.isspace()):
            if len(line) > self._max_line_bytes:
                raise NdjsonDecodeError(
                    f"line longer than {self._max_line_bytes} bytes", line_number=self._line_number, line=line
                )
            lines.append((self._line_number, line))


def decode_object(line: bytes, line_number: int) -> dict[str, Any]:
    """Parse one line into a JSON object with a string `type`; raise `NdjsonDecodeError` otherwise."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        reason = "invalid UTF-8" if "utf-8" in str(exc).lower() else f"invalid JSON ({exc})"
        raise NdjsonDecodeError(reason, line_number=line_number, line=line) from exc
    if not isinstance(value, dict):
        raise NdjsonDecodeError("expected a JSON object", line_number=line_number, line=line)
    if not isinstance(value.get("type"), str):
        raise NdjsonDecodeError("message has no string `type`", line_number=line_number, line=line)
    return value


def decode_message(line: bytes, line_number: int = 0) -> Message:
    """Parse and validate one line into a typed message; an unknown `type` gives an `UnknownMessage`."""
    value = decode_object(line, line_number)
    try:
        return MESSAGE_ADAPTER.validate_python(value)
    except ValidationError as exc:
        problems = describe_validation_error(exc, root="message", skip=1, limit=3)
        raise NdjsonDecodeError(
            f"invalid {value['type']} message ({problems})", line_number=line_number, line=line
        ) from exc


def encode_message(message: Message) -> bytes:
    """Serialise a message as one NDJSON line, newline included; null optional fields are left out."""
    return message.model_dump_json(exclude_none=True).encode() + b"\n"


def iter_line_chunks(
    stream: IO[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[list[tuple[int, bytes]]]:
    """Blocking: the numbered non-blank lines of a binary stream, one list per read (lists may be empty)."""
    splitter = LineSplitter(max_line_bytes)
    read = getattr(stream, "read1", stream.read)
    while chunk := read(READ_CHUNK_BYTES):
        yield splitter.feed(chunk)
    yield splitter.close()


def iter_lines(stream: IO[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """Blocking: numbered non-blank lines of a binary stream, read in chunks."""
    for lines in iter_line_chunks(stream, max_line_bytes):
        yield from lines


def read_messages(stream: IO[bytes]) -> Iterator[Message]:
    """Blocking: typed messages from a binary stream until end of input."""
    for number, line in iter_lines(stream):
        yield decode_message(line, number)


async def aiter_lines(
    chunks: AsyncIterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> AsyncIterable[tuple[int, bytes]]:
    """Async: numbered non-blank lines from any async iterable of byte chunks (e.g. an anyio stream)."""
    splitter = LineSplitter(max_line_bytes)
    async for chunk in chunks:
        for item in splitter.feed(chunk):
            yield item
    for item in splitter.close():
        yield item


async def aread_messages(chunks: AsyncIterable[bytes]) -> AsyncIterable[Message]:
    """Async: typed messages from any async iterable of byte chunks."""
    async for number, line in aiter_lines(chunks):
        yield decode_message(line, number)


def write_messages(stream: IO[bytes], messages: Iterable[Message]) -> None:
    """Blocking: write messages as NDJSON lines (no flush)."""
    for message in messages:
        stream.write(encode_message(message))

"""NDJSON framing and decoding: chunking, blank lines, missing final newline, huge lines, bad input."""

from __future__ import annotations

import io

import anyio
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sync_protocol import (
    LineSplitter,
    NdjsonDecodeError,
    RecordMessage,
    SourceStateMessage,
    UnknownMessage,
    aread_messages,
    decode_message,
    encode_message,
    read_messages,
)
from sync_protocol.sdk import record

RECORD = b'{"type":"record","record":{"stream":"s","data":{"id":1},"emitted_at":"2024-01-01T00:00:00Z"}}'
STATE = b'{"type":"source_state","source_state":{"stream":"s","data":{"n":1}}}'


@given(st.lists(st.integers(1, 40), max_size=20))
def test_any_chunking_yields_the_same_lines(cuts: list[int]) -> None:
    payload = b"a\n\nbb\r\n  \nccc\nlast"
    splitter = LineSplitter()
    lines, position = [], 0
    for cut in cuts:
        lines += splitter.feed(payload[position : position + cut])
        position += cut
    lines += splitter.feed(payload[position:])
    lines += splitter.close()
    assert lines == [(1, b"a"), (3, b"bb"), (5, b"ccc"), (6, b"last")]


def test_reads_messages_without_final_newline() -> None:
    messages = list(read_messages(io.BytesIO(RECORD + b"\n\n" + STATE)))
    assert [type(m) for m in messages] == [RecordMessage, SourceStateMessage]


def test_a_64_mib_line_round_trips() -> None:
    big = "x" * (64 * 1024 * 1024)
    line = encode_message(record("s", {"blob": big}))
    splitter = LineSplitter()
    out = []
    for start in range(0, len(line), 1 << 20):
        out += splitter.feed(line[start : start + (1 << 20)])
    assert len(out) == 1
    message = decode_message(out[0][1], out[0][0])
    assert isinstance(message, RecordMessage) and len(message.record.data["blob"]) == len(big)


def test_line_over_the_limit_is_an_error() -> None:
    splitter = LineSplitter(max_line_bytes=10)
    with pytest.raises(NdjsonDecodeError, match="longer than 10 bytes"):
        splitter.feed(b"0123456789abc")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "invalid JSON"),
        (b'{"type": "record", "record": "\xff\xfe"}', "invalid UTF-8"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"record": {}}', "no string `type`"),
        (b'{"type": "record", "record": {"stream": "s"}}', "invalid record message"),
    ],
)
def test_bad_lines_name_the_line_and_show_an_excerpt(line: bytes, reason: str) -> None:
    stream = io.BytesIO(RECORD + b"\n" + line + b"\n")
    with pytest.raises(NdjsonDecodeError, match=reason) as caught:
        list(read_messages(stream))
    assert caught.value.line_number == 2
    assert str(caught.value).startswith("line 2: ")


def test_unknown_type_is_kept_whole_for_pass_through() -> None:
    message = decode_message(b'{"type": "future_thing", "future_thing": {"a": 1}, "extra": [1]}')
    assert isinstance(message, UnknownMessage)
    assert orjson.loads(encode_message(message)) == {
        "type": "future_thing",
        "future_thing": {"a": 1},
        "extra": [1],
    }


def test_unknown_fields_are_ignored() -> None:
    message = decode_message(RECORD[:-1] + b',"from_the_future":true}')
    assert isinstance(message, RecordMessage)


def test_encode_decode_round_trip_keeps_nulls_inside_data() -> None:
    original = record("s", {"id": "x", "description": None, "nested": {"k": None}}, deleted=True)
    decoded = decode_message(encode_message(original).rstrip(b"\n"))
    assert isinstance(decoded, RecordMessage)
    assert decoded.record.data == {"id": "x", "description": None, "nested": {"k": None}}
    assert decoded.record.deleted is True


def test_async_reader_over_an_anyio_stream() -> None:
    async def main() -> list[str]:
        send, receive = anyio.create_memory_object_stream[bytes](10)
        async with send:
            for piece in (RECORD[:10], RECORD[10:] + b"\n" + STATE[:5], STATE[5:]):
                await send.send(piece)
        async with receive:
            return [m.type async for m in aread_messages(receive)]

    assert anyio.run(main) == ["record", "source_state"]

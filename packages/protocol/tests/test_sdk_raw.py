"""`write_raw`: a destination gets each record's `data` as the original bytes, checked like the parsed path."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
import pytest
from pydantic import BaseModel
from sync_protocol import (
    ConfiguredCatalog,
    Message,
    SourceInput,
    SourceStateMessage,
    SyncState,
    decode_message,
)
from sync_protocol.sdk import (
    Connector,
    RawRecord,
    decode_raw_record,
    emitted_at_text,
    encode_record_fast,
    record,
    run,
    stream_state,
)

CATALOG = '{"streams": [{"name": "s", "json_schema": {"type": "object"}}]}'


class Config(BaseModel):
    pass


class RawSink(Connector[Config]):
    config_model: ClassVar[type[BaseModel]] = Config
    seen: ClassVar[list[Message | RawRecord]] = []

    def write_raw(
        self, config: Config, catalog: ConfiguredCatalog, messages: Iterator[Message | RawRecord]
    ) -> Iterable[Message]:
        for message in messages:
            RawSink.seen.append(message)
            yield from ()


def write(stdin: bytes) -> tuple[int, list[dict[str, Any]]]:
    RawSink.seen.clear()
    out = io.BytesIO()
    code = run(
        RawSink(),
        ["write", "--config", "{}", "--catalog", CATALOG],
        stdin=io.BytesIO(stdin),
        stdout=out,
        stderr=io.StringIO(),
    )
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_data_arrives_as_the_exact_bytes_sent() -> None:
    data = b'{"id": 1,  "name":"Zo\\u00eb \xc3\xa9", "n":1.50e0, "nested":{"a":[1, 2]}}'
    line = b'{"type":"record","record":{"stream":"s","data":' + data + b',"emitted_at":"2024-01-01T00:00:00Z"}}\n'
    code, out = write(line + b'{"type":"source_state","source_state":{"stream":"s","data":1}}\n')
    assert code == 0 and out == []
    raw, state = RawSink.seen
    assert isinstance(raw, RawRecord) and isinstance(state, SourceStateMessage)
    assert (raw.stream, raw.data, raw.emitted_at, raw.deleted) == ("s", data, "2024-01-01T00:00:00Z", False)


def test_tombstones_and_unusual_spellings_arrive_raw_too() -> None:
    spaced = b'{"type": "record", "record": {"stream": "s", "data": {"id": 2}, "emitted_at": "2024-01-01T00:00:00Z",'
    code, _ = write(spaced + b' "deleted": true}}\n')
    assert code == 0
    [raw] = RawSink.seen
    assert isinstance(raw, RawRecord) and orjson.loads(raw.data) == {"id": 2} and raw.deleted


def test_the_parsed_write_is_not_used_and_unknown_messages_pass_through() -> None:
    assert RawSink.supports("write") and RawSink.writes_raw() and not Connector.writes_raw()
    code, out = write(b'{"type":"future_thing","future_thing":{"x":1}}\n')
    assert code == 0 and out == [{"type": "future_thing", "future_thing": {"x": 1}}]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"type":"record","record":{"stream":"s","data":{},"emitted_at":"2024-01-01T00:00:00"}}', "timezone"),
        (b'{"type":"record","record":{"stream":"s","data":[],"emitted_at":"2024-01-01T00:00:00Z"}}', "data"),
        (b'{"type":"record","record":{"stream":"s","data":{},"emitted_at":"yesterday"}}', "emitted_at"),
        (b'{"type":"record","record":{"stream":"s","data":{"a":1,},"emitted_at":"2024-01-01T00:00:00Z"}}', "JSON"),
        (b'{"type":"record","record":{"stream":"s","data":{"a":"\xff"},"emitted_at":"2024-01-01T00:00:00Z"}}', "line"),
    ],
)
def test_bad_records_fail_with_the_problem_named(line: bytes, problem: str) -> None:
    code, out = write(line + b"\n")
    assert code == 1 and RawSink.seen == []
    error = out[-1]["error"]
    assert "line 1" in error["message"] and problem in error["message"]


def test_what_came_before_a_bad_line_in_the_same_read_arrives_first() -> None:
    good = b'{"type":"record","record":{"stream":"s","data":{"id":1},"emitted_at":"2024-01-01T00:00:00Z"}}\n'
    state = b'{"type":"source_state","source_state":{"stream":"s","data":1}}\n'
    code, out = write(good + state + b'{"type":"record","record":{"stream":"s"}}\n')  # one read of stdin
    assert code == 1 and "line 3" in out[-1]["error"]["message"]
    assert [type(m) for m in RawSink.seen] == [RawRecord, SourceStateMessage]


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"record","record":{"stream":1,"data":{},"emitted_at":"2024-01-01T00:00:00Z"}}',
        b'{"type":"record","record":{"stream":"s","data":{"a":"\xff"},"emitted_at":"2024-01-01T00:00:00Z"}}',
        b'{"type":"record","record":{"stream":"s","data":{},"emitted_at":"2024-01-01T00:00:00Z","deleted":1}}',
        b'{"type":"record","record":{"stream":"s","data":"{}","emitted_at":"2024-01-01T00:00:00Z"}}',
    ],
)
def test_the_fast_decoder_declines_what_it_cannot_vouch_for(line: bytes) -> None:
    assert decode_raw_record(line) is None


class RawSource(Connector[Config]):
    """Emits each given JSON object as it is, the way a source forwards an API response's objects."""

    config_model: ClassVar[type[BaseModel]] = Config
    objects: ClassVar[list[bytes]] = []

    def read(
        self, config: Config, catalog: ConfiguredCatalog, state: SyncState | None, inputs: Iterator[SourceInput]
    ) -> Iterable[Message | RawRecord]:
        for data in RawSource.objects:
            yield RawRecord.from_json("s", data, emitted_at_text(datetime(2024, 1, 1, tzinfo=UTC)))
        yield stream_state("s", {"done": True})


def read_raw(objects: list[bytes]) -> tuple[int, bytes]:
    RawSource.objects = objects
    out = io.BytesIO()
    code = run(RawSource(), ["read", "--config", "{}", "--catalog", CATALOG], stdout=out, stderr=io.StringIO())
    return code, out.getvalue()


def test_a_source_emits_json_objects_as_they_are_one_line_each() -> None:
    compact = b'{"id":"a","name":"Zo\xc3\xab","n":1.50e0}'
    pretty = b'{\n  "id": "b",\n  "text": "two\\nlines",\n  "nested": {"a": [1, 2]}\n}'
    code, output = read_raw([compact, pretty])
    assert code == 0
    first, second, state = output.splitlines()
    assert (
        first
        == b'{"type":"record","record":{"stream":"s","data":' + compact + b',"emitted_at":"2024-01-01T00:00:00Z"}}'
    )
    assert decode_message(second) == record(
        "s", {"id": "b", "text": "two\nlines", "nested": {"a": [1, 2]}}, emitted_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert decode_message(state) == stream_state("s", {"done": True})


def test_a_raw_record_is_written_as_the_parsed_one_would_be() -> None:
    now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    for deleted in (False, True):
        parsed = record("s", {"id": "x", "é": [1, None]}, emitted_at=now, deleted=deleted)
        raw = RawRecord.from_json("s", orjson.dumps(parsed.record.data), emitted_at_text(now), deleted)
        assert raw.line() == encode_record_fast(parsed)


@pytest.mark.parametrize("data", [b'[{"id":1}]', b'"{}"', b'{"a":"\xff"}'])
def test_a_source_cannot_emit_what_is_not_an_object_in_utf8(data: bytes) -> None:
    with pytest.raises(ValueError):
        RawRecord.from_json("s", data, "2024-01-01T00:00:00Z")
    code, output = read_raw([data])
    assert code == 1 and b'"type":"record"' not in output and b'"type":"error"' in output

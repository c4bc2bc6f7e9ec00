"""Catalog enforcement on raw lines: forward original bytes, prune, drop, reject malformed."""

from __future__ import annotations

import orjson
import pytest
from sync_engine import ConnectorFailedError
from sync_engine._enforce import CatalogEnforcer, InvalidRecordError
from sync_protocol import ConfiguredCatalog

CATALOG = ConfiguredCatalog.model_validate(
    {
        "streams": [
            {
                "name": "customers",
                "json_schema": {"type": "object", "properties": {"email": {"type": "string"}}},
                "primary_key": [["id"]],
            },
            {"name": "raw", "json_schema": {"type": "object"}},
        ]
    }
)


def record_line(stream: str, data: dict[str, object]) -> bytes:
    return orjson.dumps(
        {"type": "record", "record": {"stream": stream, "data": data, "emitted_at": "2024-01-01T00:00:00Z"}}
    )


def test_unchanged_record_is_forwarded_as_its_original_bytes() -> None:
    line = record_line("customers", {"id": "c1", "email": "a@b"})
    verdict = CatalogEnforcer(CATALOG).process(line, 1)
    assert verdict.forward == line + b"\n"


def test_fields_outside_the_schema_are_pruned_but_the_key_kept() -> None:
    enforcer = CatalogEnforcer(CATALOG)
    verdict = enforcer.process(record_line("customers", {"id": "c1", "email": "a@b", "ssn": "x"}), 1)
    assert verdict.forward is not None
    assert orjson.loads(verdict.forward)["record"]["data"] == {"id": "c1", "email": "a@b"}
    assert enforcer.pruned["customers"] == 1


def test_schema_without_properties_keeps_every_field() -> None:
    line = record_line("raw", {"anything": 1})
    assert CatalogEnforcer(CATALOG).process(line, 1).forward == line + b"\n"


def test_unconfigured_stream_records_and_states_are_dropped_and_warned_once() -> None:
    enforcer = CatalogEnforcer(CATALOG)
    assert enforcer.process(record_line("secret", {"id": 1}), 1).forward is None
    assert enforcer.process(record_line("secret", {"id": 2}), 2).forward is None
    state = b'{"type":"source_state","source_state":{"stream":"secret","data":{}}}'
    assert enforcer.process(state, 3).forward is None
    assert enforcer.dropped["secret"] == 3
    assert enforcer.new_warnings == ["secret"]


def test_logs_are_not_forwarded_but_unknown_types_are() -> None:
    enforcer = CatalogEnforcer(CATALOG)
    assert enforcer.process(b'{"type":"log","log":{"level":"info","message":"hi"}}', 1).forward is None
    assert enforcer.process(b'{"type":"future","x":1}', 2).forward == b'{"type":"future","x":1}\n'


@pytest.mark.parametrize(
    "line",
    [
        b"garbage",
        b'{"type":"record","record":{"stream":"customers","data":[1],"emitted_at":"x"}}',
        b'{"type":"record","record":{"stream":"customers","data":{}}}',
        b'{"type":"source_state","source_state":{"state_type":"stream","data":{}}}',
        b'{"type":"stream_status","stream_status":{"stream":"customers","status":"exploded"}}',
    ],
)
def test_malformed_lines_raise_naming_the_connector_and_line(line: bytes) -> None:
    with pytest.raises(ConnectorFailedError, match=r"source") as caught:
        CatalogEnforcer(CATALOG).process(line, 42)
    assert "42" in str(caught.value) or "without `stream`" in str(caught.value)


def test_validation_when_enabled() -> None:
    enforcer = CatalogEnforcer(CATALOG, validate_records=True)
    enforcer.process(record_line("customers", {"id": "c1", "email": "a@b"}), 1)
    with pytest.raises(InvalidRecordError, match="email"):
        enforcer.process(record_line("customers", {"id": "c1", "email": 5}), 2)


def test_a_non_record_with_an_extra_record_field_is_not_mistaken_for_a_record() -> None:
    enforcer = CatalogEnforcer(CATALOG)
    state = b'{"type":"source_state","source_state":{"stream":"customers","data":{}},"record":{"x":1}}'
    assert enforcer.record(state, 1) is None
    verdict = enforcer.process(state, 1)
    assert verdict.kind == "source_state" and verdict.forward is not None


def test_a_disabled_stream_forwards_nothing_more() -> None:
    enforcer = CatalogEnforcer(CATALOG)
    enforcer.disable("customers")
    assert enforcer.record(record_line("customers", {"id": "c1"}), 1) == ("customers", None)
    state = b'{"type":"source_state","source_state":{"stream":"customers","data":{}}}'
    assert enforcer.process(state, 2).forward is None
    assert enforcer.dropped == {}, "not counted as an unconfigured stream"


ODD = ConfiguredCatalog.model_validate(
    {
        "streams": [
            {
                "name": "my stream",
                "json_schema": {"type": "object", "properties": {"class": {}, "a-b": {}, "données": {}}},
                "primary_key": [["id"]],
            },
            {"name": "raw", "json_schema": {"type": "object"}},
        ]
    }
)


@pytest.mark.parametrize(
    "line",
    [
        record_line("my stream", {"id": 1, "class": "x", "a-b": [1, {"c": 2}], "données": "é"}),
        record_line("my stream", {"class": None}),
        record_line("my stream", {"id": 1, "extra": {"nested": True}}),  # pruned
        record_line("raw", {"anything": {"at": ["all"]}}),
        record_line("elsewhere", {"id": 1}),  # not configured: dropped
        b'{"type":"record","record":{"data":{"id":2},"emitted_at":"2024-01-01T00:00:00Z","stream":"my stream"}}',
        b'{"type":"record","record":{"stream":"my stream","data":{"id":3},"emitted_at":"2024-01-01T00:00:00Z",'
        b'"deleted":true}}',
    ],
)
def test_the_record_fast_path_agrees_with_the_general_path(line: bytes) -> None:
    fast, general = CatalogEnforcer(ODD), CatalogEnforcer(ODD)
    verdict = general.process(line, 1)
    assert fast.record(line, 1) == (verdict.stream, verdict.forward[:-1] if verdict.forward else None)
    assert (fast.pruned, fast.dropped) == (general.pruned, general.dropped)


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"record","record":{"stream":"raw","data":{"a":tru},"emitted_at":"2024-01-01T00:00:00Z"}}',
        b'{"type":"record","record":{"stream":"raw","data":{"a":"\xff"},"emitted_at":"2024-01-01T00:00:00Z"}}',
        b'{"type":"record","record":{"stream":"my stream","data":{"id":1},"emitted_at":"2024-01-01"}}',
        b'{"type":"record","record":{"stream":7,"data":{"id":1},"emitted_at":"2024-01-01T00:00:00Z"}}',
    ],
)
def test_the_record_fast_path_rejects_what_the_general_path_rejects(line: bytes) -> None:
    with pytest.raises(ConnectorFailedError, match="line 9"):
        CatalogEnforcer(ODD).record(line, 9)

"""The committed JSON Schema is current, and it accepts real messages and rejects malformed ones."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import orjson
import pytest
from sync_protocol import encode_message, render_schema
from sync_protocol._schema import DEFAULT_SCHEMA_PATH
from sync_protocol._schema import main as schema_main
from sync_protocol.sdk import record, stream_state


def test_committed_schema_file_is_current() -> None:
    assert DEFAULT_SCHEMA_PATH.read_bytes() == render_schema(), "stale: run `uv run sync-protocol-schema`"


def test_check_flag_fails_on_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text("{}")
    assert schema_main(["--check", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert schema_main([str(stale)]) == 0
    assert schema_main(["--check", str(stale)]) == 0


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(orjson.loads(DEFAULT_SCHEMA_PATH.read_bytes()))


def test_schema_accepts_what_the_sdk_writes(validator: jsonschema.Draft202012Validator) -> None:
    for message in (record("s", {"id": 1}), stream_state("s", {"cursor": "x"})):
        validator.validate(orjson.loads(encode_message(message)))
    validator.validate({"type": "some_future_kind", "payload": {}})


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "record", "record": {"stream": "s"}},
        {"type": "error", "error": {"level": "fatal", "failure_type": "system_error", "message": "x"}},
        {"record": {}},
    ],
)
def test_schema_rejects_malformed_messages(validator: jsonschema.Draft202012Validator, bad: dict[str, object]) -> None:
    assert not validator.is_valid(bad)

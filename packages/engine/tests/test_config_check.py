"""Connector configs against their spec (jsonschema-rs): the bad key and what was expected, never a value."""

from __future__ import annotations

from typing import Any

import pytest
from sync_engine._config_check import validate_config
from sync_engine._errors import PipelineConfigError

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "minLength": 8},
        "mode": {"enum": ["live", "test"]},
        "limits": {"type": "object", "properties": {"rps": {"type": "integer"}}},
    },
    "required": ["api_key"],
    "additionalProperties": False,
}


def problems(config: dict[str, Any]) -> str:
    with pytest.raises(PipelineConfigError) as caught:
        validate_config("source", SCHEMA, config)
    return str(caught.value)


def test_a_valid_config_passes() -> None:
    validate_config("source", SCHEMA, {"api_key": "sk_test_123456", "mode": "test", "limits": {"rps": 5}})


def test_missing_and_unknown_keys_are_named_with_a_hint() -> None:
    text = problems({"api_kye": "sk_live_supersecret"})
    assert "source config does not match its spec" in text
    assert "api_key: required, missing" in text
    assert "unknown key 'api_kye' (did you mean 'api_key'?)" in text
    assert "sk_live_supersecret" not in text


def test_wrong_values_say_what_was_expected_without_the_value() -> None:
    text = problems({"api_key": "short", "mode": "prod", "limits": {"rps": "lots"}})
    assert "api_key: expected minLength 8" in text
    assert "mode: expected enum ['live', 'test']" in text
    assert "limits.rps: expected integer" in text
    assert "short" not in text and "prod" not in text and "lots" not in text

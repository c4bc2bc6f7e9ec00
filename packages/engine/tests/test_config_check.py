"""Connector configs against their spec (jsonschema-rs): the bad key and what was expected, never a value."""

from __future__ import annotations

import http.server
import threading
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


def test_a_remote_reference_in_a_spec_is_an_error_and_never_fetched() -> None:
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = b'{"type": "object"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/config.json"
    try:
        with pytest.raises(PipelineConfigError, match="unusable config schema") as caught:
            validate_config("source", {"$ref": url}, {"api_key": "sk_test_123456"})
    finally:
        server.shutdown()
        server.server_close()
    assert url in str(caught.value)
    assert requests == [], "the engine fetched a schema from the network on a connector's behalf"

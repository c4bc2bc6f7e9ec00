"""Record validation against a stream's JSON Schema, compiled once (jsonschema-rs: ~100x pure-Python jsonschema)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs


def compile_schema(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator for `schema` that never fetches a remote `$ref` or `$schema`.

    Schemas come from connectors; the engine must not reach the network on a connector's behalf (a remote reference
    is an error naming the URL, as it would be on a machine with no network).
    """
    return jsonschema_rs.validator_for(schema, offline=True)


class RecordValidator:
    """A compiled validator for one stream's record schema."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = compile_schema(schema)

    def first_error(self, data: Any) -> str | None:
        """None when `data` is valid, else the first problem (path and message)."""
        if self._validator.is_valid(data):
            return None
        error = next(iter(self._validator.iter_errors(data)))
        path = "/".join(str(p) for p in error.instance_path)
        return f"{path or '(root)'}: {error.message}"

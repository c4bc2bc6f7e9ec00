"""Finding secret values in a config (by its JSON Schema) and scrubbing them from anything printed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

REDACTED = "**********"
_MIN_SECRET_LEN = 4
"""Shorter values would blank out ordinary text; configs reject such secrets anyway."""


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target if isinstance(target, dict) else {}
    return schema


def _is_secret(schema: dict[str, Any]) -> bool:
    return bool(
        schema.get("writeOnly")
        or schema.get("secret")
        or schema.get("airbyte_secret")
        or schema.get("format") == "password"
    )


def find_secrets(schema: dict[str, Any], config: Any, root: dict[str, Any] | None = None) -> list[str]:
    """Every string in `config` whose schema marks it secret (writeOnly, secret, format: password)."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    found: list[str] = []
    if _is_secret(schema):
        found.extend(_strings(config))
        return found
    for alternative in (*schema.get("anyOf", ()), *schema.get("oneOf", ()), *schema.get("allOf", ())):
        if isinstance(alternative, dict):
            found.extend(find_secrets(alternative, config, root))
    if isinstance(config, dict):
        properties = schema.get("properties", {})
        for key, value in config.items():
            if isinstance(properties.get(key), dict):
                found.extend(find_secrets(properties[key], value, root))
    elif isinstance(config, list) and isinstance(schema.get("items"), dict):
        for item in config:
            found.extend(find_secrets(schema["items"], item, root))
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


class Redactor:
    """Replaces known secret values with `**********` in text and in encoded JSON lines."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if len(s) >= _MIN_SECRET_LEN}
        self._texts = sorted(unique, key=len, reverse=True)
        self._encoded = [orjson.dumps(s)[1:-1] for s in self._texts]
        self._raw = [s.encode() for s in self._texts]

    def __bool__(self) -> bool:
        return bool(self._texts)

    def text(self, value: str) -> str:
        """`value` with every secret replaced."""
        for secret in self._texts:
            value = value.replace(secret, REDACTED)
        return value

    def line(self, line: bytes) -> bytes:
        """An encoded JSON line with every secret replaced, in its JSON-escaped or raw form."""
        for encoded, raw in zip(self._encoded, self._raw, strict=True):
            line = line.replace(encoded, REDACTED.encode())
            if raw != encoded:
                line = line.replace(raw, REDACTED.encode())
        return line

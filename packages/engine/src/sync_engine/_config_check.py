"""Connector configs checked against their spec with jsonschema-rs (the engine's one validator); errors name the
bad key and what was expected, never a value (a value may be a secret)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema_rs

from ._errors import PipelineConfigError
from ._suggest import did_you_mean
from ._validation import compile_schema

_SHOWN = 5


def validate_config(name: str, schema: dict[str, Any], config: dict[str, Any]) -> None:
    """Raise `PipelineConfigError` listing up to five problems of `config` against `schema`."""
    try:
        validator = compile_schema(schema)
    except jsonschema_rs.ValidationError as exc:
        raise PipelineConfigError(f"{name} spec has an unusable config schema: {str(exc).splitlines()[0]}") from None
    if validator.is_valid(config):
        return
    problems = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.instance_path])
    described = "; ".join(_describe(e, schema) for e in problems[:_SHOWN])
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    raise PipelineConfigError(f"{name} config does not match its spec: {described}{more}")


def _subschema(schema: dict[str, Any], path: Sequence[str | int]) -> Any:
    node: Any = schema
    for part in path:
        if isinstance(node, dict):
            node = node.get(str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _describe(error: jsonschema_rs.ValidationError, schema: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error.instance_path) or "(root)"
    keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
    parent = _subschema(schema, list(error.schema_path)[:-1])
    expected = parent.get(keyword) if isinstance(parent, dict) else None
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        key = f"{where}.{kind.property}" if where != "(root)" else str(kind.property)
        return f"{key}: required, missing"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        known = sorted(parent.get("properties", {})) if isinstance(parent, dict) else []
        return "; ".join(f"{where}: {_unknown_key(str(key), known)}" for key in kind.unexpected)
    if keyword in ("type", "enum", "const", "format", "minimum", "maximum", "pattern", "minLength", "maxLength"):
        return f"{where}: expected {keyword} {expected!r}" if keyword != "type" else f"{where}: expected {expected}"
    return f"{where}: does not satisfy {keyword}"


def _unknown_key(key: str, known: list[str]) -> str:
    return f"unknown key {key!r}{did_you_mean(key, known)}; allowed: {', '.join(known) or 'none'}"

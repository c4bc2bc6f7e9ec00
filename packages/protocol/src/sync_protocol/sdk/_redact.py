"""Finding secret values in a config (by its JSON Schema) and scrubbing them from anything printed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from .._messages import ConnectionStatusMessage, ErrorMessage, LogMessage, StreamStatusMessage

MessageT = TypeVar("MessageT", bound=BaseModel)

REDACTED = "**********"
_MIN_SECRET_LEN = 6
"""Shorter values would blank out ordinary words; real credentials are far longer."""


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
        extra = schema.get("additionalProperties")
        for key, value in config.items():
            sub = properties.get(key, extra)
            if isinstance(sub, dict):
                found.extend(find_secrets(sub, value, root))
    elif isinstance(config, list):
        positional = schema.get("prefixItems", [])
        for index, item in enumerate(config):
            sub = positional[index] if index < len(positional) else schema.get("items")
            if isinstance(sub, dict):
                found.extend(find_secrets(sub, item, root))
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
    """Replaces known secret values with `**********` in text meant for people.

    Only free text is touched (log and error messages, traces, check and skip reasons): records, states and
    `control` configs must stay byte-exact, and a secret that happens to occur in data is not a leak of ours.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if len(s) >= _MIN_SECRET_LEN}
        self._texts = sorted(unique, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._texts)

    def text(self, value: str) -> str:
        """`value` with every secret replaced."""
        for secret in self._texts:
            value = value.replace(secret, REDACTED)
        return value

    def value(self, value: Any) -> Any:
        """A JSON-like value with secrets replaced in every string (for showing a config, never storing it)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    @property
    def secrets(self) -> list[str]:
        """The values scrubbed, longest first."""
        return list(self._texts)

    def message(self, message: MessageT) -> MessageT:
        """`message` with secrets replaced in its free-text fields (data, states and configs stay exact)."""
        return cast("MessageT", self._scrub(message)) if self._texts else message

    def _scrub(self, message: BaseModel) -> BaseModel:
        if isinstance(message, LogMessage):
            log = message.log
            data = self.value(log.data) if log.data is not None else None
            return LogMessage(log=log.model_copy(update={"message": self.text(log.message), "data": data}))
        if isinstance(message, ErrorMessage):
            error = message.error
            fields = ("message", "internal_message", "stack_trace")
            update = {f: self.text(v) for f in fields if isinstance(v := getattr(error, f), str)}
            return ErrorMessage(error=error.model_copy(update=update))
        if isinstance(message, ConnectionStatusMessage) and message.connection_status.message:
            checked = message.connection_status
            return ConnectionStatusMessage(
                connection_status=checked.model_copy(update={"message": self.text(checked.message or "")})
            )
        if isinstance(message, StreamStatusMessage) and message.stream_status.reason:
            status = message.stream_status
            return StreamStatusMessage(
                stream_status=status.model_copy(update={"reason": self.text(status.reason or "")})
            )
        return message

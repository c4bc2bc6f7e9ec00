"""Error levels, failure types and the exception tree connectors raise.

ConnectorError                 (level, failure_type, retryable: what the wire `error` message says)
├── ConfigError                global, config_error — the user must fix the config
├── AuthError                  global, auth_error — bad or revoked credentials
├── StreamError                stream, system_error — one stream failed, the others go on
├── TransientError             transient, transient_error, retryable — 429, 5xx, network
└── ProtocolViolationError     global, system_error — a peer broke the wire contract
    └── NdjsonDecodeError      a line that is not a JSON object (names the line and shows an excerpt)
UsageError                     bad command-line use: exit code 2, never an `error` message
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ValidationError


class ErrorLevel(StrEnum):
    """What an error stops: the whole run, one stream, or nothing yet (retry)."""

    GLOBAL = "global"
    STREAM = "stream"
    TRANSIENT = "transient"


class FailureType(StrEnum):
    """Who has to act on an error."""

    CONFIG_ERROR = "config_error"
    AUTH_ERROR = "auth_error"
    SYSTEM_ERROR = "system_error"
    TRANSIENT_ERROR = "transient_error"


class ConnectorError(Exception):
    """Base of every error a connector reports on the wire; attributes carry its wire meaning."""

    level: ErrorLevel = ErrorLevel.GLOBAL
    failure_type: FailureType = FailureType.SYSTEM_ERROR
    retryable: bool = False

    def __init__(self, message: str, *, stream: str | None = None, internal_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stream = stream
        self.internal_message = internal_message


class ConfigError(ConnectorError):
    """The configuration is wrong; retrying will not help."""

    failure_type = FailureType.CONFIG_ERROR


class AuthError(ConnectorError):
    """Credentials were refused."""

    failure_type = FailureType.AUTH_ERROR


class StreamError(ConnectorError):
    """One stream failed permanently; the rest of the run goes on."""

    level = ErrorLevel.STREAM


class TransientError(ConnectorError):
    """A failure that may pass: rate limits, server errors, network trouble."""

    level = ErrorLevel.TRANSIENT
    failure_type = FailureType.TRANSIENT_ERROR
    retryable = True


class ProtocolViolationError(ConnectorError):
    """A peer wrote something the wire contract does not allow."""


class NdjsonDecodeError(ProtocolViolationError):
    """A line of NDJSON input could not be decoded into a message."""

    def __init__(self, reason: str, *, line_number: int, line: bytes) -> None:
        excerpt = line[:120].decode("utf-8", errors="replace")
        suffix = "…" if len(line) > 120 else ""
        super().__init__(f"line {line_number}: {reason}: {excerpt!r}{suffix}")
        self.line_number = line_number
        self.reason = reason


class UsageError(Exception):
    """The command line or a config file is unusable; reported as one line on stderr with exit code 2."""


def describe_validation_error(exc: ValidationError, *, root: str, skip: int = 0, limit: int = 5) -> str:
    """`field.path: problem; …` for the first `limit` problems — never the offending values (they may be secret).

    `skip` drops leading location parts (e.g. the envelope's tag); `root` names a problem with no location.
    """
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'][skip:]) or root}: {err['msg']}" for err in exc.errors()[:limit]
    )

"""The one place psycopg errors become the toolkit's errors, with every secret redacted from their text.

psycopg.Error
├── connecting fails: password/role refused (28xxx) ─────────────────▶ AuthError          (global)
│                     unknown database (3D000) ──────────────────────▶ ConfigError        (global)
│                     server unreachable, at the start of a command ─▶ UnreachableError   (global, what to do)
│                     server unreachable, once the write is under way ▶ TransientError    (engine restarts)
├── insufficient privilege (42501) ──────────────────────────────────▶ ConfigError        (global)
├── connection lost mid-run (08xxx, 57Pxx, broken connection) ───────▶ TransientError
└── anything else while writing one stream (bad data, DDL) ───────────▶ StreamError        (that stream only)

The error texts of psycopg may quote the connection string (a URL it could not parse) or other secrets: every
message, internal message and the original exception (which travels on as `__cause__` into stack traces) is
passed through the SDK's `Redactor`. A URL that cannot be parsed never gets here: `PostgresConfig.conninfo`
reports it without quoting it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

import psycopg
from sync_protocol import AuthError, ConfigError, ConnectorError, FailureType, StreamError, TransientError
from sync_protocol.sdk import Redactor


class UnreachableError(ConnectorError):
    """PostgreSQL could not be reached when the command started: nothing was written, a person must look."""

    failure_type = FailureType.SYSTEM_ERROR


class Phase(Enum):
    """When a psycopg error happened, which decides what a connection failure means."""

    START = "start"
    """The first connection of a command: unreachable means misconfigured or down (global)."""
    RECONNECT = "reconnect"
    """A further connection once a write is under way: unreachable means an outage (transient)."""
    WORK = "work"
    """Statements on an open connection."""


def _first_line(text: str, fallback: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else fallback


def translate(
    exc: psycopg.Error, redactor: Redactor, *, stream: str | None = None, phase: Phase = Phase.WORK
) -> ConnectorError:
    """The toolkit error for one psycopg error (see the module tree); scrubs `exc` itself in place."""
    sqlstate = _sqlstate(exc)
    detail = redactor.text(str(exc))
    message = _first_line(detail, type(exc).__name__)
    exc.args = (detail,)  # the original travels on as __cause__ into stack traces
    if phase is not Phase.WORK:
        if sqlstate.startswith("28") or "password authentication failed" in message:
            return AuthError(f"PostgreSQL refused the credentials: {message}", internal_message=detail)
        if sqlstate == "3D000":
            return ConfigError(f"cannot connect to PostgreSQL: {message}", internal_message=detail)
        if phase is Phase.RECONNECT:
            return TransientError(f"cannot reconnect to PostgreSQL: {message}", stream=stream, internal_message=detail)
        return UnreachableError(
            f"cannot reach PostgreSQL: {message}. Check that the server is running and accepts connections from"
            " here, and that host, port and sslmode in the config are right; then run again",
            internal_message=detail,
        )
    if sqlstate == "42501":
        return ConfigError(f"insufficient privilege: {message}", stream=stream, internal_message=detail)
    if isinstance(exc, psycopg.OperationalError) and (not sqlstate or sqlstate.startswith(("08", "57P"))):
        return TransientError(f"lost the PostgreSQL connection: {message}", stream=stream, internal_message=detail)
    if stream is None:
        return ConfigError(f"PostgreSQL error: {message}", internal_message=detail)
    return StreamError(f"writing stream {stream!r} failed: {message}", stream=stream, internal_message=detail)


_REFUSALS = (
    ("password authentication failed", "28P01"),
    ("no pg_hba.conf entry", "28000"),
    ('role "', "28000"),  # role "x" does not exist
    ('database "', "3D000"),  # database "x" does not exist
)
"""Server refusals libpq reports when connecting, without a SQLSTATE: known by their (English) text."""


def _sqlstate(exc: psycopg.Error) -> str:
    """The error's SQLSTATE, or the one a refused connection stands for (libpq gives those none)."""
    if exc.sqlstate:
        return exc.sqlstate
    text = str(exc)
    if "FATAL:" in text:
        for marker, sqlstate in _REFUSALS:
            if marker in text and (sqlstate != "3D000" or "does not exist" in text):
                return sqlstate
    return ""


def worth_retrying(exc: psycopg.Error) -> bool:
    """Whether a failed connection attempt may succeed later: the server refused, did not answer, or is
    starting up or shutting down (not a refused login, an unknown database or an unknown host)."""
    sqlstate = _sqlstate(exc)
    if sqlstate:
        return sqlstate in ("57P03", "57P01", "53300")  # cannot connect now, admin shutdown, too many connections
    return isinstance(exc, psycopg.OperationalError) and "could not translate host name" not in str(exc)


@contextmanager
def map_psycopg_errors(redactor: Redactor, *, stream: str | None = None, phase: Phase = Phase.WORK) -> Iterator[None]:
    """Re-raise any psycopg error inside the block as a `ConnectorError`, `from` the original, redacted."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, redactor, stream=stream, phase=phase) from exc

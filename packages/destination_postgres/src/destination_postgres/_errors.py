"""The one place psycopg errors become the toolkit's errors, with every secret scrubbed from their text.

psycopg.Error
├── connecting fails: password/role refused (28xxx) ──────────────▶ AuthError        (global)
│                     unknown database, bad URL, unreachable ─────▶ ConfigError      (global)
├── insufficient privilege (42501) ───────────────────────────────▶ ConfigError      (global)
├── connection lost mid-run (08xxx, 57Pxx, broken connection) ────▶ TransientError
└── anything else while writing one stream (bad data, DDL) ────────▶ StreamError      (that stream only)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sync_protocol import AuthError, ConfigError, ConnectorError, StreamError, TransientError

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` without any secret: known values, URL passwords and `password=` pairs are masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "**********")
    text = _URL_PASSWORD.sub(r"\1**********@", text)
    return _KEYWORD_PASSWORD.sub(r"\1**********", text)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(
    exc: psycopg.Error, secrets: list[str], *, stream: str | None = None, connecting: bool = False
) -> ConnectorError:
    """The toolkit error for one psycopg error (see the module tree)."""
    sqlstate = exc.sqlstate or ""
    message = scrub(_first_line(exc), secrets)
    detail = scrub(str(exc), secrets)
    exc.args = (detail,)  # the original travels on as __cause__ into stack traces: scrub it too
    if connecting:
        if sqlstate.startswith("28") or "password authentication failed" in message:
            return AuthError(f"PostgreSQL refused the credentials: {message}", internal_message=detail)
        return ConfigError(f"cannot connect to PostgreSQL: {message}", internal_message=detail)
    if sqlstate == "42501":
        return ConfigError(f"insufficient privilege: {message}", stream=stream, internal_message=detail)
    if isinstance(exc, psycopg.OperationalError) and (not sqlstate or sqlstate.startswith(("08", "57P"))):
        return TransientError(f"lost the PostgreSQL connection: {message}", stream=stream, internal_message=detail)
    if stream is None:
        return ConfigError(f"PostgreSQL error: {message}", internal_message=detail)
    return StreamError(f"writing stream {stream!r} failed: {message}", stream=stream, internal_message=detail)


@contextmanager
def map_psycopg_errors(secrets: list[str], *, stream: str | None = None, connecting: bool = False) -> Iterator[None]:
    """Re-raise any psycopg error inside the block as a `ConnectorError`, `from` the original, scrubbed."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc, secrets, stream=stream, connecting=connecting) from exc

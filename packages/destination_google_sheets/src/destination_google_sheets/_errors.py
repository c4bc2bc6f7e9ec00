"""The one place Google client errors become the toolkit's errors.

googleapiclient HttpError
├── 429, 5xx, 403 with a rate-limit reason ─────▶ retryable: retried by the client, then TransientError
├── 401 (google-auth already tried a refresh) ──▶ AuthError (global)
├── 403 PERMISSION_DENIED ──────────────────────▶ AuthError (global): the account may not use the spreadsheet
├── 404 NOT_FOUND ──────────────────────────────▶ ConfigError (global): the spreadsheet was deleted (or never was)
└── 400 and the rest, writing one stream ───────▶ StreamError (that stream), e.g. the 10M-cell limit
google.auth RefreshError ───────────────────────▶ AuthError (global); TransientError when Google says retryable
network errors (OSError, httplib2, TransportError) ▶ retryable: retried by the client, then TransientError

AmbiguousWriteError (a TransientError) says a write that is not idempotent (an append, a row deletion) may or may
not have been applied: the caller re-reads the sheet before it tries again, so nothing is written twice.
"""

from __future__ import annotations

import email.utils
import http.client
import time
from typing import Any

import httplib2  # type: ignore[import-untyped]
import orjson
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError  # type: ignore[import-untyped]
from sync_protocol import AuthError, ConfigError, ConnectorError, StreamError, TransientError

_RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    http.client.HTTPException,
    httplib2.HttpLib2Error,
    auth_exceptions.TransportError,
)


class AmbiguousWriteError(TransientError):
    """A write that is not idempotent failed after it may have been applied; re-read before trying again."""


def _details(exc: HttpError) -> tuple[str, str, str]:
    """(status, message, first reason) of an error body `{"error": {"code", "message", "status", ...}}`."""
    try:
        body: Any = orjson.loads(exc.content or b"{}")
    except orjson.JSONDecodeError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", (exc.content or b"").decode("utf-8", "replace")[:200] or exc.resp.reason, ""
    reasons = [e.get("reason", "") for e in error.get("errors") or [] if isinstance(e, dict)]
    reasons.extend(d["reason"] for d in error.get("details") or [] if isinstance(d, dict) and d.get("reason"))
    return str(error.get("status", "")), str(error.get("message", "")), reasons[0] if reasons else ""


def status_of(exc: HttpError) -> int:
    """The HTTP status of an error response."""
    return int(exc.resp.status)


def is_retryable(exc: HttpError) -> bool:
    """429, any 5xx, and 403s that are really rate limits."""
    status = status_of(exc)
    if status == 429 or status >= 500:
        return True
    return status == 403 and _details(exc)[2] in _RATE_LIMIT_REASONS


def retry_after(exc: HttpError) -> float | None:
    """The `Retry-After` of a response in seconds (a number or an HTTP date), if it has one."""
    value = exc.resp.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def translate_http(exc: HttpError, *, spreadsheet_id: str | None, stream: str | None, principal: str) -> ConnectorError:
    """The toolkit error for a final (not retried) error response."""
    status = status_of(exc)
    _, message, _ = _details(exc)
    text = f"Sheets API {status}: {message}"
    if is_retryable(exc):
        return TransientError(f"{text} (retries exhausted)", stream=stream)
    if status == 401:
        return AuthError(f"the credentials of {principal} were refused: {message}", internal_message=text)
    if status == 403:
        target = f"spreadsheet {spreadsheet_id}" if spreadsheet_id else "the Sheets API"
        return AuthError(
            f"{principal} may not use {target}: share the spreadsheet with it as an editor ({message})",
            internal_message=text,
        )
    if status == 404 and spreadsheet_id is not None:
        return ConfigError(
            f"spreadsheet {spreadsheet_id} was not found: it was deleted, or the id is wrong ({message})",
            internal_message=text,
        )
    if stream is not None:
        return StreamError(f"writing stream {stream!r} failed: {text}", stream=stream, internal_message=text)
    return ConfigError(text, internal_message=text)


def translate_refresh(exc: auth_exceptions.RefreshError, principal: str) -> ConnectorError:
    """A failed token exchange: the credential was refused (global), or Google asks to try again later."""
    if getattr(exc, "retryable", False):
        return TransientError(f"getting an access token failed for now: {exc}")
    return AuthError(f"the credentials of {principal} were refused by the token endpoint: {exc}")

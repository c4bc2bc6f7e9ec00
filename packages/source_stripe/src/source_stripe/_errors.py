"""Stripe's answers translated into the protocol's levels, in one place (`map_stripe_errors`).

    401                                               -> AuthError        global: bad, expired or revoked key
    400/403/404 saying the account has not enabled the
      product ("not set up to use Issuing", "only
      available in testmode", "… is not enabled"),
      404 unrecognized URL                            -> StreamSkipped    the stream is skipped with the reason
    403 (a restricted key without this permission),
      other 4xx                                       -> StreamError      this stream stops, the others go on
    429, 409, 5xx, network errors after retries       -> TransientError
    no server at a configured api_base before any
      answer (refused, name does not resolve)         -> ConfigError      global, at once: names the base URL
The read path raises `StripeResponseError` (it never loads the stripe SDK); `check` goes through the SDK, whose
errors are mapped the same way. Messages never contain the API key: anything key-shaped is masked.
"""

from __future__ import annotations

import errno
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sync_protocol import AuthError, ConfigError, StreamError, TransientError

from ._config import STRIPE_API

UNAVAILABLE_PATTERNS = (
    "only available in testmode",
    "only available in live mode",
    "not set up to use",
    "is not enabled",
    "not enabled for your account",
    "not enabled for this account",
)
"""Stripe's documented answers for a product the account has not enabled; nothing broader skips a stream."""
_KEYLIKE = re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9*]+")


class StreamSkipped(StreamError):
    """The account cannot use this endpoint; the stream is reported `skipped`, not errored."""


class StripeResponseError(Exception):
    """A non-2xx answer from Stripe (or no answer: `status` 0 after network errors), as the read path sees it."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param


class StripeUnreachableError(Exception):
    """No server could be reached at the API base before any answer came from it: a wrong `api_base` (or, for
    Stripe's own address, the network)."""

    def __init__(self, api_base: str, reason: str) -> None:
        super().__init__(f"cannot reach the Stripe API at {api_base} ({reason})")
        self.api_base = api_base
        self.reason = reason


def unreachable_reason(exc: BaseException) -> str | None:
    """Why a connection could not even be opened (refused, unknown host, no route), or None for other failures."""
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
        return exc.strerror or type(exc).__name__
    return None


def clean(message: str) -> str:
    """Stripe's message with anything shaped like a key removed."""
    return _KEYLIKE.sub("[key]", message)


def is_unavailable(status: int, message: str) -> bool:
    """Whether the answer says the endpoint is not enabled for this account rather than that the request was bad."""
    text = message.lower()
    if status == 404 and "unrecognized request url" in text:
        return True
    return status in (400, 403, 404) and any(p in text for p in UNAVAILABLE_PATTERNS)


def to_protocol_error(status: int, message: str, code: str | None, stream: str | None) -> Exception:
    """The protocol error for one of Stripe's answers (see the module docstring)."""
    text = clean(message)
    if status == 401:
        return AuthError(
            f"Stripe refused the API key (HTTP 401, {code or 'authentication_error'}): check that it is valid and "
            "not revoked"
        )
    if status in (0, 409, 429) or status >= 500:
        return TransientError(f"Stripe request kept failing after retries: {text}", stream=stream)
    if is_unavailable(status, text):
        return StreamSkipped(f"endpoint not available to this account: {text}", stream=stream)
    if status == 403:
        return StreamError(f"the API key may not read this endpoint (HTTP 403): {text}", stream=stream)
    return StreamError(f"Stripe rejected the request (HTTP {status}): {text}", stream=stream)


def _sdk_error(exc: BaseException) -> tuple[int, str, str | None] | None:
    """Status, message and code of a stripe SDK error, if `exc` is one (the SDK is only loaded by `check`)."""
    stripe: Any = sys.modules.get("stripe")
    if stripe is None or not isinstance(exc, stripe.StripeError):
        return None
    if isinstance(exc, stripe.APIConnectionError):
        return 0, str(exc.user_message or exc), None
    return int(exc.http_status or 0), str(exc.user_message or exc), exc.code


@contextmanager
def map_stripe_errors(stream: str | None = None) -> Iterator[None]:
    """Re-raise Stripe errors raised inside as protocol errors of the right level (`raise … from`)."""
    try:
        yield
    except StripeResponseError as exc:
        raise to_protocol_error(exc.status, exc.message, exc.code, stream) from exc
    except StripeUnreachableError as exc:
        if exc.api_base.rstrip("/") == STRIPE_API:  # Stripe itself out of reach: the network, retried
            raise TransientError(f"{exc}: is the network down?", stream=stream) from exc
        raise ConfigError(f"{exc}: check api_base") from exc
    except Exception as exc:
        found = _sdk_error(exc)
        if found is None:
            raise
        raise to_protocol_error(*found, stream) from exc

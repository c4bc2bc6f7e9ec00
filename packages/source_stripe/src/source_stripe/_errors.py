"""Stripe's errors translated into the protocol's levels, in one place (`map_stripe_errors`).

    stripe.AuthenticationError (401)                   -> AuthError        global: bad, expired or revoked key
    stripe.PermissionError (403), "not set up to use",
      "only available in testmode", "not enabled",
      404 unrecognized URL                             -> StreamSkipped    the stream is skipped with the reason
    other stripe.InvalidRequestError (4xx)             -> StreamError      this stream stops, the others go on
    stripe.RateLimitError, APIError (5xx), APIConnectionError after retries -> TransientError
Messages never contain the API key: Stripe's own text is reduced to its masked form or left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from sync_protocol import AuthError, StreamError, TransientError

UNAVAILABLE_PATTERNS = (
    "only available in testmode",
    "only available in live mode",
    "not set up to use",
    "is not enabled",
    "not enabled for your account",
    "unrecognized request url",
    "does not have access",
    "not available",
)
_KEYLIKE = re.compile(r"\b(sk|rk|pk)_(live|test)_[A-Za-z0-9*]+")


class StreamSkipped(StreamError):
    """The account cannot use this endpoint; the stream is reported `skipped`, not errored."""


def clean(message: str) -> str:
    """Stripe's message with anything shaped like a key removed."""
    return _KEYLIKE.sub("[key]", message)


def is_unavailable(error: stripe.StripeError) -> bool:
    """Whether `error` says the endpoint is unavailable to this account rather than that the request was bad."""
    if isinstance(error, stripe.PermissionError):
        return True
    text = (error.user_message or str(error) or "").lower()
    if error.http_status == 404 and "unrecognized request url" in text:
        return True
    return any(p in text for p in UNAVAILABLE_PATTERNS)


@contextmanager
def map_stripe_errors(stream: str | None = None) -> Iterator[None]:
    """Re-raise stripe SDK errors raised inside as protocol errors of the right level (`raise … from`)."""
    try:
        yield
    except stripe.AuthenticationError as exc:
        raise AuthError(
            f"Stripe refused the API key (HTTP {exc.http_status}, {exc.code or 'authentication_error'}): "
            "check that it is valid and not revoked"
        ) from exc
    except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as exc:
        raise TransientError(
            f"Stripe request kept failing after retries: {clean(str(exc.user_message or exc))}", stream=stream
        ) from exc
    except stripe.StripeError as exc:
        text = clean(str(exc.user_message or exc))
        if is_unavailable(exc):
            raise StreamSkipped(f"endpoint not available to this account: {text}", stream=stream) from exc
        raise StreamError(f"Stripe rejected the request (HTTP {exc.http_status}): {text}", stream=stream) from exc

"""Verifying pushed events before they reach a workflow: Stripe's `Stripe-Signature` scheme, by Stripe's SDK."""

from __future__ import annotations

from typing import Any

import orjson
import stripe

from ._errors import WebhookRejectedError

TOLERANCE_S = 300
"""Stripe's default: a signature older than five minutes is refused (replay protection)."""


def verify_stripe_event(payload: bytes, header: str | None, secret: str) -> dict[str, Any]:
    """The event, once its signature verifies against `secret`; `WebhookRejectedError` otherwise."""
    if not header:
        raise WebhookRejectedError("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=TOLERANCE_S)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejectedError(
            f"signature verification failed: {exc.user_message or 'no valid signature'}"
        ) from None
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise WebhookRejectedError("the payload is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookRejectedError("the payload is not an event (an object with an id)")
    return event

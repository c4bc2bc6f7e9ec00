"""Stripe-signed webhooks: signed as Stripe documents it (HMAC-SHA256 over "t.payload"), verified by the SDK."""

from __future__ import annotations

import hashlib
import hmac
import time

import orjson
import pytest
from sync_service import WebhookRejectedError
from sync_service._webhooks import verify_stripe_event

SECRET = "whsec_unit_0123456789abcdef0123456789abcdef"
EVENT = {"id": "evt_123", "object": "event", "type": "customer.updated", "data": {"object": {"id": "cus_1"}}}


def _header(payload: bytes, secret: str = SECRET, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def test_a_good_signature_yields_the_event() -> None:
    payload = orjson.dumps(EVENT)
    assert verify_stripe_event(payload, _header(payload), SECRET) == EVENT


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=1,v1=00"],
)
def test_missing_or_malformed_signatures_are_refused(header: str | None) -> None:
    with pytest.raises(WebhookRejectedError):
        verify_stripe_event(orjson.dumps(EVENT), header, SECRET)


def test_another_secret_a_changed_body_or_an_old_timestamp_are_refused() -> None:
    payload = orjson.dumps(EVENT)
    for payload_sent, header in [
        (payload, _header(payload, secret="whsec_other_000000000000000000000000")),
        (payload.replace(b"cus_1", b"cus_2"), _header(payload)),
        (payload, _header(payload, at=int(time.time()) - 3600)),
    ]:
        with pytest.raises(WebhookRejectedError):
            verify_stripe_event(payload_sent, header, SECRET)


def test_a_signed_non_event_is_refused() -> None:
    payload = b'{"object": "customer"}'
    with pytest.raises(WebhookRejectedError, match="not an event"):
        verify_stripe_event(payload, _header(payload), SECRET)

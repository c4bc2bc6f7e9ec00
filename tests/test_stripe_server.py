"""The local Stripe server is as strict as Stripe: only real event types, and no deleting what Stripe keeps."""

from __future__ import annotations

import typing
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest
import stripe
from sync_testbed.stripe_server import StripeHTTPServer
from sync_testbed.stripe_server._data import UndeletableError
from sync_testbed.stripe_server._event_types import EVENTS_BY_OBJECT

from tests.fixtures.stripe_server import TEST_KEY


def delete(server: StripeHTTPServer, path: str) -> tuple[int, Any]:
    """DELETE `path` as the stripe SDK would; the status and the decoded body, errors included."""
    request = urllib.request.Request(
        server.url + path, method="DELETE", headers={"Authorization": f"Bearer {TEST_KEY}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_every_event_the_fake_emits_is_a_real_stripe_event_type() -> None:
    real = set(typing.get_args(typing.get_type_hints(stripe.Event)["type"]))
    emitted = {name for types in EVENTS_BY_OBJECT.values() for name in types if name is not None}
    assert emitted - real == set()


def test_a_charge_cannot_be_deleted_as_on_stripe(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("charges", 3)
    with pytest.raises(UndeletableError, match="charge"):
        store.delete("ch_0000000001")
    status, body = delete(stripe_api, "/v1/charges/ch_0000000001")
    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (DELETE: /v1/charges/ch_0000000001)")
    assert "ch_0000000001" in store.expected("charges"), "the charge is still there"


def test_a_deleted_customer_is_gone_and_announced(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 3)
    assert delete(stripe_api, "/v1/customers/cus_0000000001")[1] == {
        "id": "cus_0000000001",
        "object": "customer",
        "deleted": True,
    }
    assert "cus_0000000001" not in store.expected("customers")
    events = store.expected("events")
    assert [e["type"] for e in events.values()] == ["customer.deleted"]

"""source-stripe error levels, events (updates/deletes), pushed inputs and cancellation, against the local server."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from source_stripe import CancelledError, StripeConfig, TokenBucket, map_stripe_errors
from source_stripe._errors import StripeResponseError
from source_stripe._http import StripeHttp
from sync_protocol import (
    ErrorMessage,
    LogMessage,
    StreamState,
    StreamStatusMessage,
    SyncState,
    TransientError,
)
from sync_protocol.testing import ConnectorHarness
from sync_testbed.stripe_server import FakeStripe, Store, StripeHTTPServer, running_server

from tests.fixtures.stripe_server import TEST_KEY
from tests.test_source_stripe_backfill import SOURCE, by_stream, catalog, config


def _statuses(result: Any, value: str) -> dict[str, Any]:
    return {
        m.stream_status.stream: m.stream_status
        for m in result.of_type(StreamStatusMessage)
        if m.stream_status.status == value
    }


@pytest.mark.parametrize("kind", ["invalid", "expired"])
def test_bad_or_revoked_key_is_a_global_auth_error_without_the_key(stripe_api: StripeHTTPServer, kind: str) -> None:
    key = "sk_live_SeCrEtKeyThatMustNotLeak1234"
    if kind == "expired":
        stripe_api.api.keys[key] = "expired"
    cfg = {**config(stripe_api), "api_key": key}
    harness = ConnectorHarness(SOURCE)
    result = harness.read(cfg, catalog(["customers"]), expect_exit=1)
    errors = result.of_type(ErrorMessage)
    assert errors[-1].error.level == "global" and errors[-1].error.failure_type == "auth_error"
    status = harness.check(cfg)
    assert status.status == "failed"
    everything = orjson.dumps([m.model_dump(mode="json") for m in result.messages]).decode() + result.stderr
    assert "SeCrEt" not in everything and "SeCrEt" not in (status.message or "")


def test_unavailable_endpoints_are_skipped_and_bad_requests_fail_one_stream(stripe_api: StripeHTTPServer) -> None:
    stripe_api.api.store.generate("customers", 250)
    stripe_api.api.unavailable["issuing/cards"] = "Your account is not set up to use Issuing."
    stripe_api.api.unavailable["tax_rates"] = "This endpoint is only available in testmode."
    cfg = config(stripe_api, stream_params={"charges": {"limit": "1000"}})
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["customers", "issuing_cards", "tax_rates", "charges"]))
    skipped = _statuses(result, "skipped")
    assert set(skipped) == {"issuing_cards", "tax_rates"}
    assert "Issuing" in (skipped["issuing_cards"].reason or "")
    errors = result.of_type(ErrorMessage)
    assert [(e.error.level, e.error.stream) for e in errors] == [("stream", "charges")]
    assert len(by_stream(result.records)["customers"]) == 250
    assert set(_statuses(result, "complete")) == {"customers", "charges"}  # terminal after its error, too
    assert _statuses(result, "complete")["charges"].time_range is None


def test_unknown_url_skips_the_stream(stripe_api: StripeHTTPServer) -> None:
    cfg = {**config(stripe_api), "api_base": stripe_api.url + "/nowhere"}
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["customers"]))
    assert "Unrecognized request URL" in (_statuses(result, "skipped")["customers"].reason or "")


def test_exhausted_retries_are_transient(stripe_api: StripeHTTPServer) -> None:
    stripe_api.api.faults.script = ["503"] * 10
    result = ConnectorHarness(SOURCE).read(config(stripe_api, max_retries=2), catalog(["customers"]), expect_exit=1)
    error = result.of_type(ErrorMessage)[-1].error
    assert error.level == "transient" and error.failure_type == "transient_error" and error.retryable


def _dead_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("where", ["a port where nothing listens", "a host that does not resolve"])
def test_a_wrong_api_base_fails_check_and_read_in_seconds_naming_it(where: str) -> None:
    base = f"http://127.0.0.1:{_dead_port()}" if where.startswith("a port") else "http://no-stripe-here.invalid"
    cfg = {"api_key": TEST_KEY, "api_base": base}  # the default backoff: the retries alone would take > 45 s
    harness = ConnectorHarness(SOURCE)
    started = time.monotonic()
    result = harness.read(cfg, catalog(["customers"]), expect_exit=1)
    took_read = time.monotonic() - started
    error = result.of_type(ErrorMessage)[-1].error
    assert (error.level, error.failure_type) == ("global", "config_error")
    assert f"cannot reach the Stripe API at {base}" in error.message and "api_base" in error.message
    started = time.monotonic()
    status = harness.check(cfg)
    took_check = time.monotonic() - started
    assert status.status == "failed" and f"cannot reach the Stripe API at {base}" in (status.message or "")
    assert took_read < 30 and took_check < 30, (took_read, took_check)


def test_a_server_that_answered_and_then_went_away_is_retried_as_transient(
    stripe_samples: dict[str, dict[str, Any]],
) -> None:
    with running_server(FakeStripe(Store(stripe_samples), keys={TEST_KEY: "ok"})) as server:
        http = StripeHttp(StripeConfig.model_validate(config(server, max_retries=4)), TokenBucket(100.0))
        http.get("/v1/customers", [("limit", "1")])
        http.close()
    with pytest.raises(StripeResponseError) as caught:  # refused now, but it answered: the network, not the config
        http.get("/v1/customers", [("limit", "1")])
    assert caught.value.status == 0 and http.retries == 4
    with pytest.raises(TransientError), map_stripe_errors("customers"):
        raise caught.value


def test_events_bring_updates_deletes_and_creates(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 500)
    cat = catalog(["customers"], mode="incremental")
    first = ConnectorHarness(SOURCE).read(config(stripe_api), cat)
    assert len(first.records) == 500
    time.sleep(1.1)
    for i in range(5):
        store.update(f"cus_{i:010d}", {"name": "first edit"})
        store.update(f"cus_{i:010d}", {"name": "second edit"})  # the event copy is older than the object
    for i in range(10, 13):
        store.delete(f"cus_{i:010d}")
    born = [store.create("customers", {"name": "new"})["id"] for _ in range(2)]
    time.sleep(1.1)
    state = SyncState(streams={"customers": StreamState(data=first.states[-1].source_state.data)})
    second = ConnectorHarness(SOURCE).read(config(stripe_api), cat, state)
    live = {m.record.data["id"]: m.record.data for m in second.records if not m.record.deleted}
    gone = {m.record.data["id"] for m in second.records if m.record.deleted}
    assert gone == {f"cus_{i:010d}" for i in range(10, 13)}
    assert set(live) == {f"cus_{i:010d}" for i in range(5)} | set(born)
    assert all(live[f"cus_{i:010d}"]["name"] == "second edit" for i in range(5))
    assert second.states[-1].source_state.data["events_after"] > first.states[-1].source_state.data["events_after"]


def test_stale_events_cursor_falls_back_to_a_range_reread(stripe_api: StripeHTTPServer) -> None:
    stripe_api.api.store.generate("customers", 120)
    old = int(datetime.now(UTC).timestamp()) - 40 * 86_400
    state = SyncState(
        streams={
            "customers": StreamState(
                data={"v": 1, "range": [0, old], "segments": [], "done": True, "events_after": old}
            )
        }
    )
    result = ConnectorHarness(SOURCE).read(config(stripe_api), catalog(["customers"], mode="incremental"), state)
    assert len(result.records) == 120
    assert any("older than Stripe keeps events" in m.log.message for m in result.of_type(LogMessage))


def test_pushed_events_are_refetched(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 3)
    store.update("cus_0000000001", {"name": "pushed"})
    stale = {"id": "cus_0000000001", "object": "customer", "name": "stale copy"}
    event = {"id": "evt_x", "object": "event", "type": "customer.updated", "created": 1, "data": {"object": stale}}
    line = orjson.dumps({"type": "source_input", "source_input": {"data": event}}) + b"\n"
    cfg = config(stripe_api, start_date="2030-01-01T00:00:00Z")
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["customers"]), inputs=line)
    assert [m.record.data["name"] for m in result.records] == ["pushed"]


def test_cancel_reaches_in_flight_requests(stripe_api: StripeHTTPServer) -> None:
    stripe_api.api.faults.latency_s = 5.0
    cfg = StripeConfig.model_validate(config(stripe_api))
    http = StripeHttp(cfg, TokenBucket(100.0))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            http.get("/v1/customers", [("limit", "1")])
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=call)
    started = time.monotonic()
    worker.start()
    time.sleep(0.3)
    http.cancel()
    worker.join(3)
    assert not worker.is_alive() and time.monotonic() - started < 2.0
    assert isinstance(outcome[0], CancelledError)
    http.close()


def test_budget_is_shared_and_respected(stripe_api: StripeHTTPServer) -> None:
    for path in ("customers", "charges", "refunds"):
        stripe_api.api.store.generate(path, 600)
    stripe_api.api.request_times.clear()
    ConnectorHarness(SOURCE).read(
        config(stripe_api, requests_per_second=20, burst=1), catalog(["customers", "charges", "refunds"])
    )
    times = stripe_api.api.request_times
    assert len(times) >= 18
    assert len(times) / (times[-1] - times[0]) <= 22.0
    assert TEST_KEY  # the fixture key is a test key: default budget would be Stripe's 25/s of test mode
    assert StripeConfig(api_key=TEST_KEY).rate() == 25 and StripeConfig(api_key="sk_live_x").rate() == 100

"""source-stripe's later runs against the strict local server: every change of every stream arrives.

The local server sends only the events Stripe sends (none at all for balance transactions, subscription items,
customer balance transactions, file links, shipping rates, webhook endpoints and tax codes), so each stream's
incremental strategy is exercised as it would be against Stripe.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from sync_protocol import (
    ErrorMessage,
    LogMessage,
    SourceStateMessage,
    StreamState,
    StreamStatusMessage,
    SyncState,
    merge_ranges,
)
from sync_protocol.testing import ConnectorHarness
from sync_testbed.stripe_server import StripeHTTPServer

from tests.test_source_stripe_backfill import SOURCE, catalog, config

NOW_ISH = int(time.time())


def state_after(states: list[SourceStateMessage], before: SyncState | None = None) -> SyncState:
    """The state an engine would hand the next run once everything in `states` was committed."""
    streams: dict[str, StreamState] = dict(before.streams) if before else {}
    for m in states:
        name = m.source_state.stream
        if not name:
            continue
        old = streams.get(name)
        ranges = [*(old.completed_ranges if old else []), *([m.source_state.time_range] or [])]
        streams[name] = StreamState(
            data=m.source_state.data, completed_ranges=merge_ranges(r for r in ranges if r is not None)
        )
    return SyncState(streams=streams)


def rows(result: Any, stream: str) -> dict[str, dict[str, Any]]:
    """Records of one stream by id (tombstones included, marked `_deleted`)."""
    out: dict[str, dict[str, Any]] = {}
    for m in result.records:
        if m.record.stream == stream:
            out[m.record.data["id"]] = {**m.record.data, "_deleted": bool(m.record.deleted)}
    return out


def terminal(result: Any) -> dict[str, str]:
    """The terminal status of each stream."""
    return {
        m.stream_status.stream: m.stream_status.status
        for m in result.of_type(StreamStatusMessage)
        if m.stream_status.status in ("complete", "skipped")
    }


def errors(result: Any) -> dict[str | None, str]:
    return {e.error.stream: e.error.message for e in result.of_type(ErrorMessage)}


def test_streams_without_events_still_bring_every_change(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 40)
    store.generate("subscriptions", 20)
    store.generate("subscription_items", 40)
    store.generate("balance_transactions_of_customers", 80)
    store.generate("shipping_rates", 10)
    store.generate("webhook_endpoints", 5)
    store.generate("tax_codes", 5)
    store.generate("file_links", 10)
    recent = store.create("balance_transactions", {"status": "pending"}, created=NOW_ISH - 2 * 86_400)["id"]
    streams = [
        "balance_transactions",
        "subscription_items",
        "customer_balance_transactions",
        "shipping_rates",
        "webhook_endpoints",
        "tax_codes",
        "file_links",
    ]
    cat = catalog(streams, mode="incremental")
    cfg = config(stripe_api, reread_every_s=0)
    first = ConnectorHarness(SOURCE).read(cfg, cat)
    assert terminal(first) == dict.fromkeys(streams, "complete")
    time.sleep(1.1)
    # None of these changes has an event in Stripe (a subscription's or customer's own event names the parent).
    store.update(recent, {"status": "available"})
    new_txn = store.create("balance_transactions")["id"]
    store.update("shr_0000000003", {"active": False})
    store.update("we_0000000001", {"url": "https://example.com/changed"})
    new_link = store.create("file_links")["id"]
    new_item = store.create("subscription_items", {"subscription": "sub_0000000004"})["id"]
    store.update("sub_0000000004", {"metadata": {"items": "changed"}})
    new_cbt = store.create("balance_transactions_of_customers", {"customer": "cus_0000000007"})["id"]
    store.update("cus_0000000007", {"balance": -500})
    time.sleep(1.1)
    second = ConnectorHarness(SOURCE).read(cfg, cat, state_after(first.states))
    assert terminal(second) == dict.fromkeys(streams, "complete"), errors(second)
    assert rows(second, "balance_transactions")[recent]["status"] == "available"  # within the lookback
    assert new_txn in rows(second, "balance_transactions")
    assert rows(second, "shipping_rates")["shr_0000000003"]["active"] is False
    assert rows(second, "webhook_endpoints")["we_0000000001"]["url"] == "https://example.com/changed"
    assert new_link in rows(second, "file_links")
    assert new_item in rows(second, "subscription_items")
    assert new_cbt in rows(second, "customer_balance_transactions")


def test_events_cursor_starts_where_the_backfill_started(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 1_000)
    cat = catalog(["customers"], mode="incremental")
    first = ConnectorHarness(SOURCE).read(config(stripe_api, segment_objects=100_000), cat)
    cut = next(i for i, m in enumerate(first.states) if len(rows_before(first, m)) >= 300)
    committed = first.states[: cut + 1]
    assert not committed[-1].source_state.data["done"]
    read_already = rows_before(first, committed[-1])
    assert "cus_0000000999" in read_already  # newest first: read by the interrupted run
    time.sleep(1.1)
    store.update("cus_0000000999", {"name": "changed between the runs"})
    time.sleep(1.1)
    second = ConnectorHarness(SOURCE).read(config(stripe_api), cat, state_after(committed))
    assert second.states[-1].source_state.data["done"]
    third = ConnectorHarness(SOURCE).read(config(stripe_api), cat, state_after(second.states, state_after(committed)))
    latest = {**rows(second, "customers"), **rows(third, "customers")}
    assert latest["cus_0000000999"]["name"] == "changed between the runs"


def rows_before(result: Any, state: SourceStateMessage) -> set[str]:
    """Ids of the records the source sent before `state`."""
    out: set[str] = set()
    for m in result.messages:
        if m is state:
            return out
        if m.type == "record":
            out.add(m.record.data["id"])
    raise AssertionError("state not in the result")


def test_a_failed_refetch_stops_only_its_stream_and_the_others_move_on(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 30)
    store.generate("charges", 30)
    cat = catalog(["customers", "charges"], mode="incremental")
    first = ConnectorHarness(SOURCE).read(config(stripe_api), cat)
    time.sleep(1.1)
    store.update("cus_0000000003", {"name": "changed"})
    store.update("ch_0000000004", {"description": "changed"})
    stripe_api.api.refuse_retrieve.add("cus_0000000003")
    time.sleep(1.1)
    before = state_after(first.states)
    second = ConnectorHarness(SOURCE).read(config(stripe_api), cat, before)
    assert rows(second, "charges")["ch_0000000004"]["description"] == "changed"
    assert set(errors(second)) == {"customers"}
    assert terminal(second) == {"customers": "complete", "charges": "complete"}
    after = state_after(second.states, before)
    old = before.streams
    assert after.streams["charges"].data["events_after"] > old["charges"].data["events_after"]
    assert after.streams["customers"].data["events_after"] == old["customers"].data["events_after"]
    stripe_api.api.refuse_retrieve.clear()
    third = ConnectorHarness(SOURCE).read(config(stripe_api), cat, after)
    assert rows(third, "customers")["cus_0000000003"]["name"] == "changed"  # nothing was lost meanwhile


def test_events_unavailable_to_the_key_fail_only_the_streams_that_need_them(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 30)
    store.generate("balance_transactions", 30)
    cat = catalog(["customers", "balance_transactions"], mode="incremental")
    first = ConnectorHarness(SOURCE).read(config(stripe_api), cat)
    time.sleep(1.1)
    store.update("cus_0000000001", {"name": "changed"})
    new_txn = store.create("balance_transactions")["id"]
    stripe_api.api.forbidden.add("events")
    time.sleep(1.1)
    before = state_after(first.states)
    second = ConnectorHarness(SOURCE).read(config(stripe_api), cat, before)
    assert set(errors(second)) == {"customers"} and "/v1/events" in errors(second)["customers"]
    assert new_txn in rows(second, "balance_transactions")
    assert terminal(second) == {"customers": "complete", "balance_transactions": "complete"}
    after = state_after(second.states, before)
    assert after.streams["customers"].data["events_after"] == before.streams["customers"].data["events_after"]


def test_event_refetches_respect_the_streams_filters(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    mine = [store.create("charges", {"customer": "cus_mine"}, created=1_650_000_000 + i)["id"] for i in range(3)]
    other = store.create("charges", {"customer": "cus_other"}, created=1_650_000_100)["id"]
    cfg = config(stripe_api, stream_params={"charges": {"customer": "cus_mine"}})
    cat = catalog(["charges"], mode="incremental")
    first = ConnectorHarness(SOURCE).read(cfg, cat)
    assert set(rows(first, "charges")) == set(mine)
    time.sleep(1.1)
    store.update(other, {"description": "outside the filter"})
    store.update(mine[0], {"description": "inside the filter"})
    time.sleep(1.1)
    second = ConnectorHarness(SOURCE).read(cfg, cat, state_after(first.states))
    assert set(rows(second, "charges")) == {mine[0]}


def test_an_earlier_start_date_reads_the_newly_uncovered_range(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 100, start=1_600_000_000, end=1_700_000_000)
    store.generate("webhook_endpoints", 4)
    cat = catalog(["customers", "webhook_endpoints"], mode="incremental")
    first = ConnectorHarness(SOURCE).read(config(stripe_api, start_date="2022-04-15T05:20:00Z"), cat)
    assert len(rows(first, "customers")) == 50  # the newer half: created from 1,650,000,000 on
    second = ConnectorHarness(SOURCE).read(
        config(stripe_api, start_date="2020-01-01T00:00:00Z"), cat, state_after(first.states)
    )
    older = rows(second, "customers")
    assert set(older) == {f"cus_{i:010d}" for i in range(50)}  # exactly the uncovered part, once
    assert terminal(second)["customers"] == "complete"


def test_lists_are_complete_archived_prices_and_reviews(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("prices", 50)
    store.generate("reviews", 30)
    result = ConnectorHarness(SOURCE).read(config(stripe_api), catalog(["prices", "reviews"]))
    prices = rows(result, "prices")
    assert set(prices) == set(store.expected("prices")) and sum(not p["active"] for p in prices.values()) == 10
    # Stripe lists open reviews only and has no parameter for the closed ones: they arrive through events.
    assert set(rows(result, "reviews")) == {i for i, r in store.expected("reviews").items() if r["open"]}


def test_a_null_created_or_a_broken_object_affects_one_stream_only(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 150)
    store.generate("accounts", 5)
    store.create("accounts", {"created": None})
    broken = store.create("charges")
    store.collections["charges"].overrides[int(broken["id"][3:])] = {"object": "charge", "created": 1}
    streams = ["customers", "accounts", "charges"]
    result = ConnectorHarness(SOURCE).read(config(stripe_api), catalog(streams))
    assert len(rows(result, "customers")) == 150 and len(rows(result, "accounts")) == 6
    assert set(errors(result)) == {"charges"} and "charges" in errors(result)["charges"]
    assert terminal(result) == dict.fromkeys(streams, "complete")


def test_a_key_that_cannot_read_the_account_starts_from_the_default(stripe_api: StripeHTTPServer) -> None:
    stripe_api.api.store.generate("customers", 20)
    stripe_api.api.forbidden.add("account")
    cfg = {k: v for k, v in config(stripe_api).items() if k != "start_date"}
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["customers"]))
    assert len(rows(result, "customers")) == 20 and not errors(result)
    assert any("cannot read the account" in m.log.message for m in result.of_type(LogMessage))


def test_only_not_enabled_answers_skip_a_stream(stripe_api: StripeHTTPServer) -> None:
    api = stripe_api.api
    api.forbidden.add("charges")  # a restricted key without this permission: the user must see an error
    api.unavailable["refunds"] = "This feature is not available right now."
    api.unavailable["issuing/cards"] = "Your account is not set up to use Issuing."
    result = ConnectorHarness(SOURCE).read(config(stripe_api), catalog(["charges", "refunds", "issuing_cards"]))
    assert set(errors(result)) == {"charges", "refunds"}
    assert "permission" in errors(result)["charges"]
    assert terminal(result) == {"charges": "complete", "refunds": "complete", "issuing_cards": "skipped"}


def test_stripe_version_is_the_schemas_and_the_sdk_is_not_loaded(stripe_api: StripeHTTPServer) -> None:
    import subprocess
    import sys

    from source_stripe._streams import generated

    stripe_api.api.store.generate("customers", 5)
    ConnectorHarness(SOURCE).read(config(stripe_api), catalog(["customers"]))
    assert stripe_api.api.versions == {generated()["api_version"]}
    probe = "import sys, source_stripe._connector; print('stripe' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def test_per_parent_children_are_fetched_concurrently(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 60, start=1_650_000_000, end=1_650_000_060)
    store.generate("payment_methods", 120)
    stripe_api.api.faults.latency_s = 0.02
    cfg = config(stripe_api, endpoint_requests_per_second=2000)
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["payment_methods"]))
    assert set(rows(result, "payment_methods")) == set(store.expected("payment_methods"))
    assert stripe_api.api.max_in_flight >= 4


def test_each_endpoint_has_its_own_budget_and_its_own_429_pause(stripe_api: StripeHTTPServer) -> None:
    import threading

    from source_stripe import StripeConfig, TokenBucket
    from source_stripe._http import StripeHttp

    api = stripe_api.api
    api.store.generate("customers", 10)
    api.store.generate("charges", 10)
    api.faults.retry_after = "2"
    api.faults.script = ["endpoint-rate"]
    cfg = StripeConfig.model_validate(config(stripe_api, backoff_base_s=0.01, endpoint_requests_per_second=1000))
    http = StripeHttp(cfg, TokenBucket(1000.0))
    took: dict[str, float] = {}

    def call(path: str) -> None:
        started = time.monotonic()
        http.get(path, [("limit", "1")])
        took[path] = time.monotonic() - started

    first = threading.Thread(target=call, args=("/v1/customers",))
    first.start()
    time.sleep(0.2)  # the customers endpoint is now paused by Stripe's `endpoint-rate` answer
    call("/v1/charges")
    first.join()
    http.close()
    assert took["/v1/charges"] < 0.5 <= 1.9 <= took["/v1/customers"]


def test_endpoint_budget_paces_each_endpoint(stripe_api: StripeHTTPServer) -> None:
    for path in ("customers", "charges"):
        stripe_api.api.store.generate(path, 1_500)
    stripe_api.api.faults.endpoint_rate = 25  # Stripe's own limit: the source must stay under it
    cfg = config(stripe_api, endpoint_requests_per_second=20, segment_objects=100)
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["customers", "charges"]))
    assert len(rows(result, "customers")) == 1_500 and len(rows(result, "charges")) == 1_500
    assert not [m for m in result.of_type(StreamStatusMessage) if m.stream_status.status == "rate_limited"]
    times = stripe_api.api.request_times
    assert len(times) / (times[-1] - times[0]) > 30  # both endpoints at once, each under its own 20/s


def test_max_concurrent_streams_reads_streams_in_turn(stripe_api: StripeHTTPServer) -> None:
    for path in ("customers", "charges", "refunds"):
        stripe_api.api.store.generate(path, 400)
    stripe_api.api.paths.clear()
    cfg = config(stripe_api, max_concurrent_streams=1, page_size=50)
    result = ConnectorHarness(SOURCE).read(cfg, catalog(["customers", "charges", "refunds"]))
    assert all(len(rows(result, s)) == 400 for s in ("customers", "charges", "refunds"))
    order = [p for p in stripe_api.api.paths if p != "/v1/account"]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches == 2, order  # one stream after the other

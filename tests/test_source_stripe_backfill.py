"""source-stripe against the local Stripe server, over real pipes: exact backfills, faults, resume, boundaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from sync_protocol import (
    ConfiguredCatalog,
    SourceStateMessage,
    StreamState,
    StreamStatusMessage,
    SyncMode,
    SyncState,
    TimeRange,
    decode_message,
    merge_ranges,
)
from sync_protocol.testing import ConnectorHarness, configured_catalog
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.stripe_server import TEST_KEY

SOURCE = [sys.executable, "-m", "source_stripe"]
START = "2015-01-01T00:00:00Z"


def config(server: StripeHTTPServer, **extra: Any) -> dict[str, Any]:
    return {
        "api_key": TEST_KEY,
        "api_base": server.url,
        "requests_per_second": 2000,
        "endpoint_requests_per_second": 2000,
        "start_date": START,
        "backoff_base_s": 0.01,
        "events_lag_s": 0,
        **extra,
    }


def catalog(streams: list[str], mode: str = "full_refresh") -> ConfiguredCatalog:
    base = configured_catalog(ConnectorHarness(SOURCE).discover({"api_key": TEST_KEY}), streams)
    for s in base.streams:
        s.sync_mode = SyncMode(mode)
    return base


def by_stream(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m in records:
        out.setdefault(m.record.stream, []).append(m.record.data)
    return out


def assert_exact(server: StripeHTTPServer, got: dict[str, list[dict[str, Any]]], paths: dict[str, str]) -> None:
    for stream, path in paths.items():
        rows = got.get(stream, [])
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)), f"{stream}: duplicates"
        expected = server.api.store.expected(path)
        assert {r["id"]: r for r in rows} == expected, f"{stream}: differs from the server"


def assert_ranges_tile(states: list[SourceStateMessage], streams: list[str]) -> None:
    for stream in streams:
        spans = [s.source_state.time_range for s in states if s.source_state.stream == stream]
        merged = merge_ranges([r for r in spans if r is not None])
        assert len(merged) == 1, f"{stream}: completed ranges have holes: {merged}"
        assert merged[0].gte is not None and merged[0].gte.isoformat().startswith("2015-01-01")


FIVE = {
    "customers": "customers",
    "charges": "charges",
    "invoices": "invoices",
    "payment_intents": "payment_intents",
    "subscriptions": "subscriptions",
}


def test_backfill_of_100k_objects_equals_the_server(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 30_000)
    store.generate("charges", 30_000, start=1_650_000_000, end=1_650_000_040)  # ~750 objects per second
    store.generate("invoices", 20_000, start=1_600_000_000, end=1_600_500_000)
    store.generate("payment_intents", 15_000)
    store.generate("subscriptions", 10_000)  # every tenth canceled: needs status=all
    result = ConnectorHarness(SOURCE, timeout_s=110).read(config(stripe_api), catalog(list(FIVE)))
    got = by_stream(result.records)
    assert sum(len(v) for v in got.values()) == 105_000
    assert_exact(stripe_api, got, FIVE)
    assert_ranges_tile(result.states, list(FIVE))
    done = [m.stream_status.stream for m in result.of_type(StreamStatusMessage) if m.stream_status.status == "complete"]
    assert sorted(done) == sorted(FIVE)
    assert max(len(orjson.dumps(s.source_state.data)) for s in result.states) < 4000  # state stays small


def test_backfill_under_faults_is_still_exact(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    for path in ("customers", "charges", "invoices", "refunds", "payouts"):
        store.generate(path, 4_000, start=1_650_000_000, end=1_650_000_000 + (40 if path == "charges" else 90_000))
    faults = stripe_api.api.faults
    faults.rate_429, faults.rate_500, faults.rate_reset, faults.retry_after = 0.05, 0.05, 0.03, "0"
    streams = ["customers", "charges", "invoices", "refunds", "payouts"]
    result = ConnectorHarness(SOURCE).read(config(stripe_api, max_retries=12), catalog(streams))
    assert_exact(stripe_api, by_stream(result.records), {s: s for s in streams})
    limited = [m.stream_status for m in result.of_type(StreamStatusMessage) if m.stream_status.status == "rate_limited"]
    assert limited and all(s.retry_at is not None and s.reason == "global-rate" for s in limited)


def _committed_prefix(lines: list[bytes]) -> tuple[list[Any], SyncState, int]:
    """What an engine would have committed: messages up to the last state, and the state it would pass back."""
    messages = [decode_message(line, n) for n, line in enumerate(lines, 1) if line.strip()]
    last = max(i for i, m in enumerate(messages) if isinstance(m, SourceStateMessage))
    streams: dict[str, StreamState] = {}
    for m in messages[: last + 1]:
        if isinstance(m, SourceStateMessage) and m.source_state.stream:
            old = streams.get(m.source_state.stream)
            ranges = [*(old.completed_ranges if old else []), *([m.source_state.time_range] or [])]
            streams[m.source_state.stream] = StreamState(
                data=m.source_state.data, completed_ranges=merge_ranges(r for r in ranges if r is not None)
            )
    segments = sum(len(s.data["segments"]) for s in streams.values())
    return [m for m in messages[: last + 1] if m.type == "record"], SyncState(streams=streams), segments


def test_killed_mid_backfill_resumes_rereading_at_most_a_page_per_segment(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 12_000)
    store.generate("charges", 12_000, start=1_650_000_000, end=1_650_000_030)
    streams = ["customers", "charges"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg, cat = Path(tmp) / "c.json", Path(tmp) / "k.json"
        cfg.write_bytes(orjson.dumps(config(stripe_api, requests_per_second=40)))
        cat.write_text(catalog(streams).model_dump_json())
        proc = subprocess.Popen(
            [*SOURCE, "read", "--config", str(cfg), "--catalog", str(cat)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        lines: list[bytes] = []
        states = 0
        for line in proc.stdout:
            lines.append(line)
            states += line.startswith(b'{"type":"source_state"')
            if states >= 40:
                break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    first, state, segments = _committed_prefix(lines)
    assert 0 < len(first) < 24_000
    second = ConnectorHarness(SOURCE).read(config(stripe_api), catalog(streams), state)
    every = by_stream(first + second.records)
    repeats = sum(n - 1 for rows in every.values() for n in Counter(r["id"] for r in rows).values())
    assert repeats <= 100 * segments, (repeats, segments)
    final = {s: list({r["id"]: r for r in rows}.values()) for s, rows in every.items()}
    assert_exact(stripe_api, final, {s: s for s in streams})


def test_crowded_seconds_with_creates_and_deletes_during_the_backfill(stripe_api: StripeHTTPServer) -> None:
    """Customers, because Stripe can delete them (a charge never disappears)."""
    store = stripe_api.api.store
    store.generate("customers", 6_000, start=1_650_000_000, end=1_650_000_004)  # 1,500 objects per second
    stripe_api.api.faults.latency_s = 0.01
    victims = [f"cus_{i:010d}" for i in range(0, 6_000, 97)]
    stop = threading.Event()

    def churn() -> None:
        for victim in victims:
            if stop.is_set():
                return
            store.delete(victim)
            store.create("customers", {"description": "born during the backfill"})
            time.sleep(0.01)

    worker = threading.Thread(target=churn)
    worker.start()
    cfg = config(stripe_api, segment_objects=300)
    cat = catalog(["customers", "events"], mode="incremental")
    try:
        first = ConnectorHarness(SOURCE).read(cfg, cat)
    finally:
        stop.set()
        worker.join()
    stripe_api.api.faults.latency_s = 0.0
    rows = by_stream(first.records)["customers"]
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicates at crowded boundary seconds"
    generated_alive = {i for i in store.expected("customers") if int(i[4:]) < 6_000}
    assert generated_alive <= set(ids), "gap: an object alive throughout was missed"
    time.sleep(1.1)
    state = SyncState(
        streams={
            s.source_state.stream: StreamState(data=s.source_state.data) for s in first.states if s.source_state.stream
        }
    )
    second = ConnectorHarness(SOURCE).read(cfg, cat, state)
    final: dict[str, dict[str, Any]] = {r["id"]: r for r in rows}
    for m in second.records:
        if m.record.stream == "customers":
            if m.record.deleted:
                final.pop(m.record.data["id"], None)
            else:
                final[m.record.data["id"]] = m.record.data
    assert final == store.expected("customers")


def test_unfiltered_and_per_parent_streams(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("customers", 150)
    store.generate("payment_methods", 300)
    store.generate("tax_ids", 250)
    streams = ["payment_methods", "tax_ids", "customer_tax_ids"]
    result = ConnectorHarness(SOURCE).read(config(stripe_api), catalog(streams))
    got = by_stream(result.records)
    # `GET /v1/tax_ids` lists the account's own IDs only: customers' come from each customer's list
    assert {r["owner"]["type"] for r in got["tax_ids"]} == {"self"}
    assert {r["owner"]["type"] for r in got["customer_tax_ids"]} == {"customer"}
    got["tax_ids"] += got.pop("customer_tax_ids")
    assert_exact(stripe_api, got, {"payment_methods": "payment_methods", "tax_ids": "tax_ids"})
    final = [s for s in result.states if s.source_state.data["done"]]
    assert {s.source_state.stream for s in final} == set(streams)
    assert all(isinstance(s.source_state.time_range, TimeRange) for s in final)

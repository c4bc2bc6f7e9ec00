"""source-stripe against localstripe, an independent stateful fake of Stripe, for the objects it supports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import stripe
from sync_protocol.testing import ConnectorHarness
from sync_testbed import free_port, wait_for_port

from tests.test_source_stripe_backfill import SOURCE, by_stream, catalog

pytest.importorskip("localstripe")
KEY = "sk_test_localstripe"


@pytest.fixture
def localstripe_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.localstripe_launcher", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, "localstripe", timeout_s=60)  # its imports take seconds on a busy machine
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)


def test_reads_what_localstripe_holds(localstripe_url: str) -> None:
    client = stripe.StripeClient(KEY, base_addresses={"api": localstripe_url})
    customers = {client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(130)}
    products = {client.v1.products.create({"name": f"p{i}"}).id for i in range(12)}
    cfg = {
        "api_key": KEY,
        "api_base": localstripe_url,
        "start_date": "2015-01-01T00:00:00Z",
        "requests_per_second": 200,
        "use_created_filter": False,
    }
    harness = ConnectorHarness(SOURCE)
    assert harness.check(cfg).status == "succeeded"
    result = harness.read(cfg, catalog(["customers", "products"]))
    got = {s: {r["id"] for r in rows} for s, rows in by_stream(result.records).items()}
    assert got == {"customers": customers, "products": products}
    assert sum(len(v) for v in by_stream(result.records).values()) == len(result.records)

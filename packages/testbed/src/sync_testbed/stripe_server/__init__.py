"""A local Stripe-compatible HTTP server for the demo, tests and benchmarks.

Run it standalone with `python -m sync_testbed.stripe_server` (`--help` lists its flags).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._app import ApiError, FakeStripe, Faults, StripeHTTPServer
from ._data import FIXTURES, RESOURCES, Collection, Resource, Store, load_samples

__all__ = [
    "FIXTURES",
    "RESOURCES",
    "ApiError",
    "Collection",
    "FakeStripe",
    "Faults",
    "Resource",
    "Store",
    "StripeHTTPServer",
    "load_samples",
    "running_server",
]


@contextmanager
def running_server(api: FakeStripe | None = None, port: int = 0) -> Iterator[StripeHTTPServer]:
    """Serve `api` (a fresh empty account by default) on 127.0.0.1 in a background thread."""
    api = api or FakeStripe(Store(load_samples()))
    server = StripeHTTPServer(api, port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

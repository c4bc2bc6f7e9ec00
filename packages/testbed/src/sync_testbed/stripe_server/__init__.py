"""A local Stripe-compatible HTTP server for the demo, tests and benchmarks.

Run it standalone with `python -m sync_testbed.stripe_server` (`--help` lists its flags).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from .. import _serving
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


def running_server(api: FakeStripe | None = None, port: int = 0) -> AbstractContextManager[StripeHTTPServer]:
    """Serve `api` (a fresh empty account by default) on 127.0.0.1 in a background thread."""
    return _serving.serving(StripeHTTPServer(api or FakeStripe(Store(load_samples())), port))

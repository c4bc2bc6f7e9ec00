"""Blocking wrappers over `Engine` for code that does not run an event loop: each call is one `anyio.run`."""

from __future__ import annotations

from functools import partial

import anyio
from sync_protocol import Catalog, ConnectionStatus, Spec

from ._engine import Engine, OnMessage, _ignore
from ._pipeline import SyncResult


def sync(engine: Engine, on_message: OnMessage = _ignore) -> SyncResult:
    """Run `engine.sync` to completion."""
    return anyio.run(partial(engine.sync, on_message))


def check(engine: Engine, which: str = "source", on_message: OnMessage = _ignore) -> ConnectionStatus:
    """Run `engine.check`."""
    return anyio.run(partial(engine.check, which, on_message))


def discover(engine: Engine, on_message: OnMessage = _ignore) -> Catalog:
    """Run `engine.discover`."""
    return anyio.run(partial(engine.discover, on_message))


def spec(engine: Engine, which: str = "source") -> Spec:
    """Run `engine.spec`."""
    return anyio.run(partial(engine.spec, which))


def setup(engine: Engine, on_message: OnMessage = _ignore) -> None:
    """Run `engine.setup`."""
    anyio.run(partial(engine.setup, on_message))


def teardown(engine: Engine, on_message: OnMessage = _ignore) -> None:
    """Run `engine.teardown`."""
    anyio.run(partial(engine.teardown, on_message))

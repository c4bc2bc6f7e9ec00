"""Blocking wrappers over `Engine` for code that does not run an event loop: each call is one `anyio.run`.

Inside a running event loop (a notebook, an async app) they raise `RuntimeError` saying to `await` the engine's
method instead, rather than anyio's bare "already running" error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

import anyio
from sync_protocol import Catalog, ConnectionStatus, Spec

from ._engine import Engine, OnMessage, _ignore
from ._result import SyncResult

T = TypeVar("T")


def _run(call: Callable[[], Awaitable[T]], name: str) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return anyio.run(call)
    raise RuntimeError(
        f"an event loop is already running here (a notebook?): use `await engine.{name}(...)` instead of "
        f"sync_engine.blocking.{name}"
    )


def sync(engine: Engine, on_message: OnMessage = _ignore, *, full_refresh: bool | Sequence[str] = False) -> SyncResult:
    """Run `engine.sync` to completion."""
    return _run(partial(engine.sync, on_message, full_refresh=full_refresh), "sync")


def check(engine: Engine, which: str = "source", on_message: OnMessage = _ignore) -> ConnectionStatus:
    """Run `engine.check`."""
    return _run(partial(engine.check, which, on_message), "check")


def discover(engine: Engine, on_message: OnMessage = _ignore) -> Catalog:
    """Run `engine.discover`."""
    return _run(partial(engine.discover, on_message), "discover")


def spec(engine: Engine, which: str = "source") -> Spec:
    """Run `engine.spec`."""
    return _run(partial(engine.spec, which), "spec")


def setup(engine: Engine, on_message: OnMessage = _ignore) -> None:
    """Run `engine.setup`."""
    _run(partial(engine.setup, on_message), "setup")


def teardown(engine: Engine, on_message: OnMessage = _ignore) -> None:
    """Run `engine.teardown`."""
    _run(partial(engine.teardown, on_message), "teardown")

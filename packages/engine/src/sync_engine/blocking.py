"""Blocking API: `sync_engine.blocking.sync(engine)` and friends, for scripts without an event loop."""

from ._blocking import check, discover, setup, spec, sync, teardown

__all__ = ["check", "discover", "setup", "spec", "sync", "teardown"]

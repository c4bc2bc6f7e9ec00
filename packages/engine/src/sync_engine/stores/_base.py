"""The plug point for where checkpoints live."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from sync_protocol import SyncState


class StateStore(Protocol):
    """Loads and saves one `SyncState` per key (a pipeline name). `save` must be atomic: old or new, never half."""

    def load(self, key: str) -> SyncState | None:
        """The last saved state under `key`, or None."""
        ...

    def save(self, key: str, state: SyncState) -> None:
        """Replace the state under `key`; durable when it returns."""
        ...

    def lock(self, key: str) -> AbstractContextManager[None]:
        """Hold `key` for one run; raise `StateLockedError` at once when another run (any process) holds it."""
        ...


class ManagedStateStore(StateStore, Protocol):
    """A store an operator can inspect and change (`sync-engine state list | show | reset`)."""

    def keys(self) -> list[str]:
        """The keys with a saved state, sorted."""
        ...

    def delete(self, key: str) -> bool:
        """Remove the state under `key`; False when there was none."""
        ...

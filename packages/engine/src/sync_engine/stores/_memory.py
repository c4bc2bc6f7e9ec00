"""A state store over a plain dict, for library users and tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sync_protocol import SyncState

from .._errors import StateLockedError


class MemoryStateStore:
    """Keeps states as JSON-ready dicts in `data` (a dict the caller may pass in and inspect)."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = data if data is not None else {}
        self._held: set[str] = set()

    def load(self, key: str) -> SyncState | None:
        raw = self.data.get(key)
        return None if raw is None else SyncState.model_validate(raw)

    def save(self, key: str, state: SyncState) -> None:
        self.data[key] = state.model_dump(mode="json", exclude_none=True)

    def keys(self) -> list[str]:
        """The keys with a saved state."""
        return sorted(self.data)

    def delete(self, key: str) -> bool:
        """Remove `key`'s state; False when there was none."""
        return self.data.pop(key, None) is not None

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        if key in self._held:
            raise StateLockedError(f"another run of pipeline {key!r} is in progress in this process")
        self._held.add(key)
        try:
            yield
        finally:
            self._held.discard(key)

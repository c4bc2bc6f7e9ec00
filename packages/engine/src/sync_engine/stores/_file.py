"""The default state store: one JSON file per key, replaced atomically (write temp, fsync, rename, fsync dir)."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError
from sync_protocol import SyncState

from .._errors import StateLockedError, StateStoreError
from .._files import replace_file


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".json"


class FileStateStore:
    """States as `<directory>/<key>.json`; or, given a path ending in `.json`, that single file for every key."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def path_for(self, key: str) -> Path:
        """The file that holds `key`'s state."""
        return self._path if self._path.suffix == ".json" else self._path / _file_name(key)

    def load(self, key: str) -> SyncState | None:
        path = self.path_for(key)
        try:
            return SyncState.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError as exc:
            raise StateStoreError(
                f"checkpoint file {path} is not a valid sync state; move it away to start over"
            ) from exc

    def save(self, key: str, state: SyncState) -> None:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, state.model_dump_json(exclude_none=True).encode())
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def keys(self) -> list[str]:
        """The keys with a saved state (file names without `.json`; the single file's stem in one-file mode)."""
        if self._path.suffix == ".json":
            return [self._path.stem] if self._path.exists() else []
        if not self._path.is_dir():
            return []
        return sorted(p.name[: -len(".json")] for p in self._path.glob("*.json") if not p.name.startswith("."))

    def delete(self, key: str) -> bool:
        """Remove `key`'s state; False when there was none."""
        try:
            self.path_for(key).unlink()
        except FileNotFoundError:
            return False
        return True

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """An exclusive `flock` on `<state file>.lock`, released when the block ends or the process dies."""
        path = self.path_for(key).with_name(self.path_for(key).name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateLockedError(
                    f"another run of pipeline {key!r} is in progress (it holds {path}); wait for it to end"
                ) from None
            yield
        finally:
            os.close(fd)

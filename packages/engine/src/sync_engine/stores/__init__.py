"""Where checkpoints live: a file (default), PostgreSQL, or a dict in memory — all behind `StateStore`."""

from ._base import ManagedStateStore, StateStore
from ._file import FileStateStore
from ._memory import MemoryStateStore
from ._postgres import PostgresStateStore

__all__ = ["FileStateStore", "ManagedStateStore", "MemoryStateStore", "PostgresStateStore", "StateStore"]

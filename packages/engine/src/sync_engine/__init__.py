"""sync_engine: runs syncs between connector executables (DESIGN §4). Async API here; blocking in `.blocking`."""

from ._config import ConnectorSettings, Pipeline, StateSettings, StreamSelection, load_pipeline, validate_pipeline
from ._engine import Engine, create_state_store
from ._errors import (
    CheckpointError,
    CheckpointMismatchError,
    ConnectorCommandError,
    ConnectorFailedError,
    EngineError,
    PipelineConfigError,
    StateLockedError,
    StateStoreError,
)
from ._identity import identity_changes
from ._result import SyncResult
from ._spec_cache import SpecCache, default_spec_cache
from .stores import FileStateStore, MemoryStateStore, PostgresStateStore, StateStore

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "ConnectorCommandError",
    "ConnectorFailedError",
    "ConnectorSettings",
    "Engine",
    "EngineError",
    "FileStateStore",
    "MemoryStateStore",
    "Pipeline",
    "PipelineConfigError",
    "PostgresStateStore",
    "SpecCache",
    "StateLockedError",
    "StateSettings",
    "StateStore",
    "StateStoreError",
    "StreamSelection",
    "SyncResult",
    "create_state_store",
    "default_spec_cache",
    "identity_changes",
    "load_pipeline",
    "validate_pipeline",
]

"""Errors the engine raises.

EngineError
├── PipelineConfigError      the pipeline definition or a connector config is invalid (CLI exit 2)
├── ConnectorCommandError    a connector command cannot be found or started
├── ConnectorFailedError     a connector exited non-zero or broke the wire contract
├── CheckpointError          a destination echoed states out of order, skipped one, or invented one
├── StateStoreError          a stored checkpoint cannot be read back
└── StateLockedError         another run of the same pipeline holds its checkpoint (CLI exit 2)
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of the engine's own errors."""


class PipelineConfigError(EngineError):
    """The pipeline definition, stream selection or a connector config is invalid."""


class ConnectorCommandError(PipelineConfigError):
    """A connector command is empty, missing, or cannot be started."""


class ConnectorFailedError(EngineError):
    """A connector exited with a failure or wrote something the protocol does not allow."""


class CheckpointError(EngineError):
    """The destination's state echoes do not match the states sent to it, in order."""


class StateStoreError(EngineError):
    """A stored checkpoint cannot be read back."""


class StateLockedError(EngineError):
    """Another run of the same pipeline is in progress: two runs must never write one checkpoint."""

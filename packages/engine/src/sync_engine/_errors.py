"""Errors the engine raises. Each carries its wire meaning (`level`, `failure_type`), the culprit (`connector`,
`command`) when a connector was at fault, and, when `Engine.sync` raised it, the verdict its `end` announced.

EngineError                  global, system_error unless a subclass or the connector says otherwise
├── PipelineConfigError      config_error: the pipeline or a connector config is invalid (CLI exit 2)
│   ├── ConnectorCommandError    a connector command cannot be found or started
│   └── CheckpointMismatchError  the checkpoint belongs to a differently configured pipeline
├── ConnectorFailedError     a connector exited non-zero, reported an error, timed out or broke the wire contract
├── CheckpointError          a destination echoed states out of order, skipped one, or invented one
├── StateStoreError          a stored checkpoint cannot be read back
└── StateLockedError         config_error: another run of the same pipeline holds its checkpoint (CLI exit 2)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sync_protocol import Error, ErrorLevel, FailureType

if TYPE_CHECKING:
    from ._result import SyncResult


class EngineError(Exception):
    """Base of the engine's own errors; `sync_engine` raises no other kind from a sync.

    `connector` is `"source"` or `"destination"` and `command` the subcommand (`spec`, `discover`, `setup`, …)
    when a connector was at fault. `result` is set when `Engine.sync` raised it: the run had already emitted
    `start` and `end`, and `result` is what `end` said (status `failed` or `system_error`, by one rule).
    """

    level: ErrorLevel = ErrorLevel.GLOBAL
    failure_type: FailureType = FailureType.SYSTEM_ERROR

    def __init__(
        self,
        message: str,
        *,
        connector: str | None = None,
        command: str | None = None,
        level: ErrorLevel | None = None,
        failure_type: FailureType | None = None,
        stream: str | None = None,
    ) -> None:
        super().__init__(message)
        self.connector = connector
        self.command = command
        if level is not None:
            self.level = level
        if failure_type is not None:
            self.failure_type = failure_type
        self.stream = stream
        self.relayed: Error | None = None
        """The connector's own `error` message that stated this failure, when the caller has received it."""
        self.result: SyncResult | None = None

    @property
    def message(self) -> str:
        """The text (redacted once the engine has reported it)."""
        return str(self.args[0]) if self.args else ""

    def blame(self, connector: str, command: str | None = None) -> None:
        """Name the culprit, unless a more precise one is known already."""
        self.connector = self.connector or connector
        self.command = self.command or command

    def to_error(self) -> Error:
        """The wire `error` this stands for."""
        level = self.level if self.level is not ErrorLevel.STREAM or self.stream else ErrorLevel.GLOBAL
        return Error(level=level, failure_type=self.failure_type, message=self.message, stream=self.stream)


class PipelineConfigError(EngineError):
    """The pipeline definition, stream selection or a connector config is invalid."""

    failure_type = FailureType.CONFIG_ERROR


class ConnectorCommandError(PipelineConfigError):
    """A connector command is empty, missing, or cannot be started."""


class CheckpointMismatchError(PipelineConfigError):
    """The checkpoint was written by a pipeline with other connectors or non-secret configs than this one, and
    `adopt_checkpoint` does not allow the difference: resuming from it could skip data."""


class ConnectorFailedError(EngineError):
    """A connector exited with a failure or wrote something the protocol does not allow.

    When the connector said why (an `error` message), `level` and `failure_type` are its own; otherwise (a crash,
    a timeout, invalid output) they are `global` / `system_error`.
    """


class CheckpointError(EngineError):
    """The destination's state echoes do not match the states sent to it, in order."""


class StateStoreError(EngineError):
    """A stored checkpoint cannot be read back."""


class StateLockedError(EngineError):
    """Another run of the same pipeline is in progress: two runs must never write one checkpoint."""

    failure_type = FailureType.CONFIG_ERROR

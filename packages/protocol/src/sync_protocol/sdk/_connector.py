"""The base class a Python connector implements: a config model plus the commands it supports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from .._catalog import Catalog, ConfiguredCatalog
from .._messages import (
    ConnectionStatus,
    ConnectionStatusValue,
    Message,
    Record,
    RecordMessage,
    SourceInput,
    SourceState,
    SourceStateMessage,
    Spec,
    StateType,
    utc_now,
)
from .._ranges import TimeRange
from .._state import SyncState
from ._raw import RawRecord

ConfigT = TypeVar("ConfigT", bound=BaseModel)

COMMANDS = ("spec", "check", "discover", "read", "write", "setup", "teardown")


class Connector(Generic[ConfigT]):
    """Subclass it, set `config_model`, override the commands the connector supports.

    A command left as is answers with a usage error (exit 2) that names it unsupported; `spec` always works.
    Methods that produce messages are generators: the SDK writes each message as it is yielded.
    """

    config_model: ClassVar[type[BaseModel]]
    """Pydantic model of the config; fields typed `SecretStr` (or marked `secret`) are redacted everywhere."""
    capabilities: ClassVar[dict[str, Any]] = {}
    """Published in `spec`, e.g. {"time_range": True}."""

    def spec(self) -> Spec:
        """The connector's spec; by default the config model's JSON Schema and `capabilities`."""
        return Spec(config=self.config_model.model_json_schema(), capabilities=dict(self.capabilities))

    def check(self, config: ConfigT) -> ConnectionStatus:
        """Try the config against the real system; raising counts as a failed check."""
        return ConnectionStatus(status=ConnectionStatusValue.SUCCEEDED)

    def discover(self, config: ConfigT) -> Catalog:
        """The streams this source offers."""
        raise NotImplementedError

    def read(
        self,
        config: ConfigT,
        catalog: ConfiguredCatalog,
        state: SyncState | None,
        inputs: Iterator[SourceInput],
    ) -> Iterable[Message | RawRecord]:
        """Yield records, states and statuses for the configured streams, resuming from `state`.

        A record may come as a `RawRecord` whose data is already JSON (`RawRecord.from_json`): it is written as is.
        """
        raise NotImplementedError

    def write(self, config: ConfigT, catalog: ConfiguredCatalog, messages: Iterator[Message]) -> Iterable[Message]:
        """Consume `messages`; yield each `source_state` only after everything before it is committed."""
        raise NotImplementedError

    def write_raw(
        self, config: ConfigT, catalog: ConfiguredCatalog, messages: Iterator[Message | RawRecord]
    ) -> Iterable[Message]:
        """Like `write`, but records arrive as `RawRecord`s: their `data` as the original bytes, never parsed.

        Override this instead of `write` when the destination stores records as JSON anyway; the SDK then
        skips parsing and re-encoding every record (most of a fast writer's CPU).
        """
        raise NotImplementedError

    def setup(self, config: ConfigT, catalog: ConfiguredCatalog) -> Iterable[Message]:
        """Create what `write` needs (idempotent); may yield a `control` message with a new config."""
        return ()

    def teardown(self, config: ConfigT) -> Iterable[Message]:
        """Remove what `setup` created."""
        return ()

    @classmethod
    def supports(cls, command: str) -> bool:
        """Whether the subclass implements `command`."""
        if command in ("spec", "check", "setup", "teardown"):
            return True
        if command == "write" and cls.writes_raw():
            return True
        return getattr(cls, command) is not getattr(Connector, command)

    @classmethod
    def writes_raw(cls) -> bool:
        """Whether the subclass implements `write_raw` (it then takes precedence over `write`)."""
        return cls.write_raw is not Connector.write_raw


def record(
    stream: str, data: dict[str, Any], *, deleted: bool = False, emitted_at: datetime | None = None
) -> RecordMessage:
    """A record message, built without re-validating `data` (it is the hot path of every source)."""
    payload = Record.model_construct(stream=stream, data=data, emitted_at=emitted_at or utc_now(), deleted=deleted)
    return RecordMessage.model_construct(type="record", record=payload)


def stream_state(stream: str, data: Any, time_range: TimeRange | None = None) -> SourceStateMessage:
    """A per-stream checkpoint message; `time_range` is the span it completes."""
    return SourceStateMessage(
        source_state=SourceState(state_type=StateType.STREAM, stream=stream, data=data, time_range=time_range)
    )

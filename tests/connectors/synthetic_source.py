"""A configurable synthetic source for tests and benchmarks: deterministic records, pages, time ranges, failures.

Record `i` of stream `s` has id `s-<i>` and `created` = `start + i * seconds_per_record`. Each page of
`page_size` records ends with a checkpoint whose `time_range` is exactly the span that page completed, and
whose data is `{"next": <index of the next record>}`.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, Field, SecretStr
from sync_protocol import (
    AuthError,
    Catalog,
    ConfigError,
    ConfiguredCatalog,
    ConfiguredStream,
    ConnectionStatus,
    ConnectionStatusValue,
    Message,
    SourceInput,
    Stats,
    StatsMessage,
    Stream,
    StreamError,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
    SyncMode,
    SyncState,
    TimeRange,
    TransientError,
    error_message,
)
from sync_protocol.sdk import Connector, main, record, stream_state

FailureKind = Literal[
    "stream_error",
    "global_error",
    "auth_error",
    "transient_error",
    "crash",
    "hang",
    "garbage",
    "raise",
    "exit_clean",
    "transient_then_exit_clean",
    "truncate",
    "bad_utf8",
    "naive_emitted_at",
]


class Failure(BaseModel):
    """Misbehave once `after_records` records of `stream` (any stream if None) have been emitted."""

    kind: FailureKind
    stream: str | None = None
    after_records: int = 0
    once_file: str | None = Field(
        default=None, description="Fail only while this file does not exist; create it when failing."
    )


class SyntheticConfig(BaseModel):
    streams: dict[str, int] = Field(description="Stream name -> number of records.")
    page_size: int = Field(default=100, ge=1)
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    seconds_per_record: int = Field(default=60, ge=1)
    template: dict[str, Any] = Field(
        default_factory=dict, description="Fields merged into every record over the generated ones (all but `id`)."
    )
    pid_file: str | None = Field(default=None, description="Write the process id here when `read` starts.")
    api_key: SecretStr | None = Field(default=None, description="Unused; proves redaction.")
    failures: list[Failure] = Field(default_factory=list)
    check_fails: bool = False
    page_delay_s: float = 0.0
    never_start: list[str] = Field(default_factory=list, description="Configured streams it silently ignores.")
    discover_fails: Literal["config_error", "auth_error"] | None = Field(
        default=None, description="`discover` reports this error (its message holds `api_key`, to prove redaction)."
    )
    discover_log: str | None = Field(default=None, description="`discover` logs this (a warning) before it answers.")


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "created": {"type": "integer"},
        "name": {"type": "string"},
        "amount": {"type": "integer"},
        "metadata": {"type": "object"},
    },
    "required": ["id", "created"],
}


class SyntheticSource(Connector[SyntheticConfig]):
    config_model: ClassVar[type[BaseModel]] = SyntheticConfig
    capabilities: ClassVar[dict[str, Any]] = {"time_range": True}

    def check(self, config: SyntheticConfig) -> ConnectionStatus:
        if config.check_fails:
            secret = config.api_key.get_secret_value() if config.api_key else ""
            raise ConfigError(f"key {secret} was refused")
        return ConnectionStatus(status=ConnectionStatusValue.SUCCEEDED)

    def discover(self, config: SyntheticConfig) -> Catalog:
        if config.discover_log:
            logging.getLogger("synthetic").warning(config.discover_log)
        if config.discover_fails:
            secret = config.api_key.get_secret_value() if config.api_key else ""
            refused = ConfigError if config.discover_fails == "config_error" else AuthError
            raise refused(f"key {secret} was refused")
        return Catalog(
            streams=[
                Stream(
                    name=name,
                    json_schema=SCHEMA,
                    primary_key=[["id"]],
                    cursor_field=["created"],
                    supported_sync_modes=[SyncMode.FULL_REFRESH, SyncMode.INCREMENTAL],
                )
                for name in config.streams
            ]
        )

    def read(
        self,
        config: SyntheticConfig,
        catalog: ConfiguredCatalog,
        state: SyncState | None,
        inputs: Iterator[SourceInput],
    ) -> Iterable[Message]:
        emitted = 0
        if config.pid_file:
            Path(config.pid_file).write_text(str(os.getpid()))
        for configured in catalog.streams:
            if configured.name not in config.streams:
                raise StreamError(f"unknown stream {configured.name}", stream=configured.name)
            if configured.name in config.never_start:
                continue
            stream_state_data = state.streams.get(configured.name) if state else None
            start_index = (stream_state_data.data or {}).get("next", 0) if stream_state_data else 0
            yield StreamStatusMessage(
                stream_status=StreamStatus(stream=configured.name, status=StreamStatusValue.STARTED)
            )
            try:
                for message in self._read_stream(config, configured, start_index):
                    if message.type == "record":
                        emitted += 1
                        self._maybe_fail(config, configured.name, emitted)
                    yield message
            except StreamError as exc:
                yield error_message(exc)
                continue
            yield StreamStatusMessage(
                stream_status=StreamStatus(stream=configured.name, status=StreamStatusValue.COMPLETE)
            )

    def _read_stream(
        self, config: SyntheticConfig, configured: ConfiguredStream, start_index: int
    ) -> Iterator[Message]:
        name = configured.name
        step = timedelta(seconds=config.seconds_per_record)
        first, end = 0, config.streams[name]
        requested = configured.time_range
        if requested and requested.gte:
            first = max(first, math.ceil((requested.gte - config.start) / step))
        if requested and requested.lt:
            end = min(end, math.ceil((requested.lt - config.start) / step))
        index = max(first, start_index)
        while index < end:
            page_end = min(index + config.page_size, end)
            for i in range(index, page_end):
                created = config.start + i * step
                data = {
                    "created": int(created.timestamp()),
                    "name": f"{name} number {i}",
                    "amount": i * 7 % 1000,
                    "metadata": {"index": i},
                    **config.template,
                    "id": f"{name}-{i}",
                }
                yield record(name, data)
            gte = config.start + index * step
            lt = config.start + page_end * step
            if requested and requested.gte and index == first:
                gte = max(gte, requested.gte)
            if requested and requested.lt and page_end == end:
                lt = requested.lt
            yield StatsMessage(stats=Stats(stream=name, request_count=1))  # one "API request" per page
            yield stream_state(name, {"next": page_end}, TimeRange(gte=gte, lt=lt))
            index = page_end
            if config.page_delay_s:
                sys.stdout.flush()
                time.sleep(config.page_delay_s)

    def _maybe_fail(self, config: SyntheticConfig, stream: str, emitted: int) -> None:
        for failure in config.failures:
            if failure.stream not in (None, stream) or emitted <= failure.after_records:
                continue
            if failure.once_file:
                if Path(failure.once_file).exists():
                    continue
                Path(failure.once_file).touch()
            self._fail(failure, stream)

    def _fail(self, failure: Failure, stream: str) -> None:
        if failure.kind == "stream_error":
            raise StreamError(f"stream {stream} broke on purpose", stream=stream)
        if failure.kind == "global_error":
            raise ConfigError("the source gave up on purpose")
        if failure.kind == "auth_error":
            raise AuthError("the key was refused on purpose")
        if failure.kind == "transient_error":
            raise TransientError("the source hit a temporary failure on purpose")
        if failure.kind == "raise":
            raise RuntimeError("unexpected failure on purpose")
        sys.stdout.flush()
        if failure.kind == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if failure.kind == "hang":
            while True:
                time.sleep(3600)
        if failure.kind == "exit_clean":  # e.g. process.exit() with output still queued: exit 0, streams open
            os._exit(0)
        if failure.kind == "transient_then_exit_clean":
            sys.stdout.buffer.write(
                orjson.dumps(error_message(TransientError("the API answered 503 on purpose")).model_dump(mode="json"))
                + b"\n"
            )
            sys.stdout.flush()
            os._exit(0)
        if failure.kind == "truncate":
            sys.stdout.buffer.write(b'{"type": "record", "record": {"stream": "')
            sys.stdout.flush()
            os._exit(0)
        if failure.kind in ("bad_utf8", "naive_emitted_at"):
            emitted_at = "2024-01-01T00:00:00" if failure.kind == "naive_emitted_at" else "2024-01-01T00:00:00Z"
            name = b"\xff\xfe" if failure.kind == "bad_utf8" else b"ok"
            sys.stdout.buffer.write(
                b'{"type":"record","record":{"stream":"'
                + stream.encode()
                + b'","data":{"id":"x","name":"'
                + name
                + b'"},"emitted_at":"'
                + emitted_at.encode()
                + b'"}}\n'
            )
            sys.stdout.flush()
            time.sleep(0.2)
            os._exit(0)
        if failure.kind == "garbage":
            sys.stdout.buffer.write(b"this is not json\n" + orjson.dumps({"type": 3}) + b"\n")
            sys.stdout.flush()
            time.sleep(0.2)
            os._exit(0)


if __name__ == "__main__":
    main(SyntheticSource(), prog="synthetic-source")

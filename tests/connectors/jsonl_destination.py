"""A test destination: appends records to a JSONL file and echoes each state only after fsync.

Each line of the file is `{"stream": ..., "data": ..., "deleted": ...}`. Faults for engine tests: crash (SIGKILL),
hang, a global error, skipping an echo, or echoing two states in reverse order.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, Field, SecretStr
from sync_protocol import (
    ConfigError,
    ConfiguredCatalog,
    Control,
    ControlMessage,
    ControlType,
    Message,
    RecordMessage,
    SourceStateMessage,
    Spec,
    StreamError,
    TransientError,
    error_message,
)
from sync_protocol.sdk import Connector, main

FaultKind = Literal["crash", "hang", "global_error", "transient_error", "skip_echo", "reorder_echo", "stream_error"]


class Fault(BaseModel):
    kind: FaultKind
    after_records: int = 0
    once_file: str | None = None
    stream: str | None = Field(default=None, description="For stream_error: the stream whose rows it cannot take.")


class JsonlConfig(BaseModel):
    path: str = Field(description="File the records are appended to.")
    fault: Fault | None = None
    commit_delay_s: float = 0.0
    token: SecretStr | None = Field(default=None, description="Unused; proves secrets stay out of output.")
    setup_adds: dict[str, Any] | None = Field(
        default=None, description="`setup` answers with a control message: this config plus these fields."
    )
    created: bool = False


class JsonlDestination(Connector[JsonlConfig]):
    config_model: ClassVar[type[BaseModel]] = JsonlConfig

    def spec(self) -> Spec:
        """With `JSONL_SETUP_IN_WRITE` set, it says its `write` sets up (it needs no setup at all)."""
        spec = super().spec()
        if os.environ.get("JSONL_SETUP_IN_WRITE"):
            spec.capabilities["setup_in_write"] = True
        return spec

    def setup(self, config: JsonlConfig, catalog: ConfiguredCatalog) -> Iterable[Message]:
        with open(config.path + ".setups", "a") as marker:  # tests count the setups a run started
            marker.write("setup\n")
        if config.setup_adds:
            new = {**config.model_dump(mode="json", exclude_none=True), **config.setup_adds}
            if config.token is not None:
                new["token"] = config.token.get_secret_value()
            yield ControlMessage(control=Control(control_type=ControlType.DESTINATION_CONFIG, config=new))

    def write(self, config: JsonlConfig, catalog: ConfiguredCatalog, messages: Iterator[Message]) -> Iterable[Message]:
        fault = config.fault
        once_file = fault.once_file if fault else None
        if once_file:
            if os.path.exists(once_file):
                fault = None
            else:
                open(once_file, "w").close()
        records = 0
        held: SourceStateMessage | None = None
        given_up: set[str] = set()
        with open(config.path, "ab") as out:
            for message in messages:
                stream = _stream_of(message)
                if stream is not None and stream in given_up:
                    continue  # after a stream error: nothing more of that stream is written or echoed
                if isinstance(message, RecordMessage) and fault and fault.kind == "stream_error":
                    if message.record.stream == fault.stream and records >= fault.after_records:
                        given_up.add(message.record.stream)
                        yield error_message(
                            StreamError(f"stream {fault.stream} has a row it cannot take", stream=fault.stream)
                        )
                        continue
                if isinstance(message, RecordMessage):
                    records += 1
                    out.write(_line(message))
                    if fault and fault.kind != "stream_error" and records > fault.after_records:
                        self._fail(fault.kind)
                elif isinstance(message, SourceStateMessage):
                    out.flush()
                    os.fsync(out.fileno())
                    if config.commit_delay_s:
                        time.sleep(config.commit_delay_s)
                    armed = fault is not None and records > fault.after_records
                    if armed and fault and fault.kind == "skip_echo":
                        fault = None
                        continue
                    if armed and fault and fault.kind == "reorder_echo":
                        if held is None:
                            held = message
                            continue
                        yield message
                        yield held
                        held, fault = None, None
                        continue
                    yield message
                else:
                    yield message
            out.flush()
            os.fsync(out.fileno())

    def _fail(self, kind: str) -> None:
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "hang":
            while True:
                time.sleep(3600)
        if kind == "global_error":
            raise ConfigError("the destination refused on purpose")
        if kind == "transient_error":
            raise TransientError("the destination lost its connection on purpose")


def _stream_of(message: Message) -> str | None:
    if isinstance(message, RecordMessage):
        return message.record.stream
    if isinstance(message, SourceStateMessage):
        return message.source_state.stream
    return None


def _line(message: RecordMessage) -> bytes:
    payload: dict[str, Any] = {"stream": message.record.stream, "data": message.record.data}
    if message.record.deleted:
        payload["deleted"] = True
    return orjson.dumps(payload) + b"\n"


if __name__ == "__main__":
    main(JsonlDestination(), prog="jsonl-destination")

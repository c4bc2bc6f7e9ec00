"""The connector entrypoint in process: exit codes, config validation, errors, logging, redaction."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import orjson
import pytest
from pydantic import BaseModel, SecretStr
from sync_protocol import (
    Catalog,
    ConfiguredCatalog,
    Message,
    RecordMessage,
    SourceInput,
    Stream,
    StreamError,
    SyncState,
    TransientError,
)
from sync_protocol.sdk import Connector, record, run, stream_state

SECRET = "sk_live_supersecret123"


class Config(BaseModel):
    api_key: SecretStr
    count: int = 2
    mode: str = "ok"


class Demo(Connector[Config]):
    config_model: ClassVar[type[BaseModel]] = Config

    def discover(self, config: Config) -> Catalog:
        return Catalog(streams=[Stream(name="items", json_schema={"type": "object"})])

    def read(
        self,
        config: Config,
        catalog: ConfiguredCatalog,
        state: SyncState | None,
        inputs: Iterator[SourceInput],
    ) -> Iterable[Message]:
        logging.getLogger("demo").info("using key %s", config.api_key.get_secret_value())
        start = state.streams["items"].data["next"] if state and "items" in state.streams else 0
        for i in range(start, config.count):
            yield record("items", {"id": i})
        yield stream_state("items", {"next": config.count})
        for event in inputs:
            yield record("items", event.data)
        if config.mode == "crash":
            raise ValueError(f"boom with {config.api_key.get_secret_value()}")
        if config.mode == "transient":
            raise TransientError("rate limited", stream="items")
        if config.mode == "stream":
            raise StreamError("items broke", stream="items")


def invoke(argv: list[str], stdin: bytes = b"") -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.BytesIO(), io.StringIO()
    code = run(Demo(), argv, stdin=io.BytesIO(stdin), stdout=out, stderr=err, prog="demo")
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


CATALOG = '{"streams": [{"name": "items", "json_schema": {"type": "object"}}]}'


def config(**extra: Any) -> str:
    return orjson.dumps({"api_key": SECRET, **extra}).decode()


def test_spec_publishes_the_config_schema_with_secret_marked() -> None:
    code, messages, _ = invoke(["spec"])
    assert code == 0
    assert messages[0]["spec"]["config"]["properties"]["api_key"]["writeOnly"] is True


def test_read_resumes_from_state_and_takes_pushed_inputs() -> None:
    state = '{"streams": {"items": {"data": {"next": 1}}}}'
    pushed = b'{"type": "source_input", "source_input": {"data": {"id": "pushed"}}}\n'
    code, messages, _ = invoke(["read", "--config", config(count=3), "--catalog", CATALOG, "--state", state], pushed)
    assert code == 0
    records = [m["record"]["data"]["id"] for m in messages if m["type"] == "record"]
    assert records == [1, 2, "pushed"]


def test_config_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "config.json"
    path.write_text(config(count=1))
    code, messages, _ = invoke(["read", "--config", str(path), "--catalog", CATALOG])
    assert code == 0 and sum(m["type"] == "record" for m in messages) == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["nope"], "invalid choice"),
        (["read", "--config", "{}"], "--catalog"),
        (["check", "--config", "/does/not/exist.json"], "cannot read config file"),
        (["check", "--config", "{not json"], "not valid JSON"),
        (["check", "--config", '{"count": "many"}'], "api_key: Field required"),
        (["write", "--config", config(), "--catalog", CATALOG], "does not support `write`"),
        (["read", "--config", config(), "--catalog", '{"streams": 3}'], "invalid catalog"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], expected: str) -> None:
    code, messages, err = invoke(argv)
    assert code == 2
    assert messages == []
    assert expected in err
    assert err.count("\n") == 1


def test_invalid_config_never_echoes_values() -> None:
    code, _, err = invoke(["check", "--config", orjson.dumps({"api_key": SECRET, "count": SECRET}).decode()])
    assert code == 2 and SECRET not in err


def test_uncaught_exception_becomes_error_message_and_exit_1_redacted() -> None:
    code, messages, err = invoke(["read", "--config", config(mode="crash"), "--catalog", CATALOG])
    assert code == 1
    error = messages[-1]["error"]
    assert error["level"] == "global" and error["failure_type"] == "system_error"
    assert "ValueError" in error["message"] and "Traceback" in error["stack_trace"]
    everything = orjson.dumps(messages).decode() + err
    assert SECRET not in everything
    assert "**********" in error["message"]


def test_logging_becomes_log_messages_redacted() -> None:
    _, messages, _ = invoke(["read", "--config", config(count=0), "--catalog", CATALOG])
    logs = [m["log"] for m in messages if m["type"] == "log"]
    assert logs and logs[0]["level"] == "info" and logs[0]["message"] == "using key **********"


@pytest.mark.parametrize(
    ("mode", "level", "failure_type"),
    [("transient", "transient", "transient_error"), ("stream", "stream", "system_error")],
)
def test_connector_errors_keep_their_level(mode: str, level: str, failure_type: str) -> None:
    code, messages, _ = invoke(["read", "--config", config(mode=mode), "--catalog", CATALOG])
    assert code == 1
    assert messages[-1]["error"]["level"] == level
    assert messages[-1]["error"]["failure_type"] == failure_type
    assert messages[-1]["error"]["stream"] == "items"


class Sink(Connector[Config]):
    config_model: ClassVar[type[BaseModel]] = Config
    seen: ClassVar[list[Message]] = []

    def write(self, config: Config, catalog: ConfiguredCatalog, messages: Iterator[Message]) -> Iterable[Message]:
        for message in messages:
            Sink.seen.append(message)
            yield from ()


@pytest.mark.parametrize(
    "line",
    [
        b'{"type":"record","record":{"stream":"s","data":{"id":1},"emitted_at":"2024-01-01T00:00:00+02:00"}}',
        b'{"type": "record", "record": {"stream": "s", "data": {"id": 1}, "emitted_at": "2024-01-01T00:00:00Z"}}',
    ],
)
def test_write_input_records_are_typed_either_way(line: bytes) -> None:
    Sink.seen.clear()
    code = run(
        Sink(),
        ["write", "--config", config(), "--catalog", CATALOG],
        stdin=io.BytesIO(line + b"\n"),
        stdout=io.BytesIO(),
        stderr=io.StringIO(),
    )
    assert code == 0
    [message] = Sink.seen
    assert isinstance(message, RecordMessage)
    assert message.record.data == {"id": 1} and message.record.emitted_at.utcoffset() is not None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"type":"record","record":{"stream":"s","data":{},"emitted_at":"2024-01-01T00:00:00"}}', "timezone"),
        (b'{"type":"record","record":{"stream":"s","data":[],"emitted_at":"2024-01-01T00:00:00Z"}}', "data"),
        (b'{"type":"record","record":{"stream":"s","data":{},"emitted_at":"yesterday"}}', "emitted_at"),
    ],
)
def test_write_input_bad_records_fail_with_the_problem_named(line: bytes, problem: str) -> None:
    out = io.BytesIO()
    code = run(
        Sink(),
        ["write", "--config", config(), "--catalog", CATALOG],
        stdin=io.BytesIO(line + b"\n"),
        stdout=out,
        stderr=io.StringIO(),
    )
    assert code == 1
    error = orjson.loads(out.getvalue().splitlines()[-1])["error"]
    assert "line 1" in error["message"] and problem in error["message"]

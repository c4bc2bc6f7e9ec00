"""Secrets are found wherever the config schema marks them and scrubbed from free text only."""

from __future__ import annotations

import io

import orjson
from pydantic import BaseModel, SecretStr
from sync_protocol import (
    Control,
    ControlMessage,
    ControlType,
    Log,
    LogLevel,
    LogMessage,
    SourceState,
    SourceStateMessage,
    TimeRange,
)
from sync_protocol.sdk import MessageWriter, Redactor, find_secrets


class Nested(BaseModel):
    token: SecretStr


class Config(BaseModel):
    api_key: SecretStr
    headers: dict[str, SecretStr] = {}
    pair: tuple[SecretStr, str] | None = None
    nested: list[Nested] = []
    plain: str = "visible"


def test_secrets_in_models_dicts_tuples_and_lists_are_found() -> None:
    config = {
        "api_key": "sk_live_aaaaaa",
        "headers": {"Authorization": "Bearer bbbbbbbb"},
        "pair": ["cccccccc", "not-secret"],
        "nested": [{"token": "dddddddd"}],
        "plain": "visible",
    }
    found = set(find_secrets(Config.model_json_schema(), config))
    assert found == {"sk_live_aaaaaa", "Bearer bbbbbbbb", "cccccccc", "dddddddd"}


def written(redactor: Redactor, *messages: object) -> list[dict[str, object]]:
    out = io.BytesIO()
    writer = MessageWriter(out, redactor)
    for message in messages:
        writer.write(message)  # type: ignore[arg-type]
    writer.flush()
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_free_text_is_redacted_but_states_and_control_configs_stay_exact() -> None:
    redactor = Redactor(["2024-01-01", "sk_live_aaaaaa"])
    state = SourceStateMessage(
        source_state=SourceState(
            stream="s", data={"cursor": "2024-01-01"}, time_range=TimeRange(gte="2024-01-01T00:00:00Z")
        )
    )
    control = ControlMessage(
        control=Control(control_type=ControlType.DESTINATION_CONFIG, config={"api_key": "sk_live_aaaaaa"})
    )
    log = LogMessage(log=Log(level=LogLevel.INFO, message="key sk_live_aaaaaa at 2024-01-01"))
    state_out, control_out, log_out = written(redactor, state, control, log)
    assert state_out["source_state"]["data"] == {"cursor": "2024-01-01"}  # type: ignore[index]
    assert control_out["control"]["config"] == {"api_key": "sk_live_aaaaaa"}  # type: ignore[index]
    assert log_out["log"]["message"] == "key ********** at **********"  # type: ignore[index]


def test_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor(["abc", "12345"]).text("abc 12345") == "abc 12345"

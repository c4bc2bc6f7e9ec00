"""A connector written in POSIX shell, driven through every command by the SDK's harness."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest
from sync_protocol import ConnectionStatusValue, RecordMessage
from sync_protocol.testing import ConnectorHarness, configured_catalog

SHELL_CONNECTOR = Path(__file__).resolve().parents[3] / "tests" / "connectors" / "shell_connector.sh"


def test_shell_connector_speaks_the_protocol(tmp_path: Path) -> None:
    harness = ConnectorHarness([str(SHELL_CONNECTOR)])
    assert "count" in harness.spec().config["properties"]
    assert harness.check({"count": 4}).status is ConnectionStatusValue.SUCCEEDED
    catalog = configured_catalog(harness.discover({"count": 4}))
    assert [s.name for s in catalog.streams] == ["numbers"]

    read = harness.read({"count": 4}, catalog)
    assert [r.record.data["n"] for r in read.records] == [0, 1, 2, 3]
    assert read.states[0].source_state.data == {"next": 4}

    out = tmp_path / "out.jsonl"
    written = harness.write({"path": str(out)}, catalog, read.messages)
    assert [s.source_state.data for s in written.states] == [{"next": 4}]
    assert not written.records, "a destination does not echo records"
    stored = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [RecordMessage.model_validate(line).record.data["id"] for line in stored] == [
        "n0",
        "n1",
        "n2",
        "n3",
    ]


def test_shell_connector_usage_error_is_exit_2() -> None:
    result = ConnectorHarness([str(SHELL_CONNECTOR)]).invoke("frobnicate", expect_exit=2)
    assert "unsupported command" in result.stderr


@pytest.mark.parametrize("command", ["check", "discover", "read"])
def test_unreadable_config_is_exit_2(command: str) -> None:
    done = subprocess.run(
        [str(SHELL_CONNECTOR), command, "--config", "/nonexistent/config.json"],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode().strip().startswith("error: cannot read config file")

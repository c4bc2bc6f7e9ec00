"""Connectors broken on purpose (tests/connectors/broken/) each fail conformance with a precise message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sync_engine.conformance import ConformanceReport, Outcome, run_conformance

from tests.fixtures.connectors import python_connector

KEY = "sk_live_broken_secret_0123456789"


def conformance(variant: str, tmp_path: Path, role: str) -> ConformanceReport:
    path = tmp_path / "stored.jsonl"

    def readback() -> list[tuple[str, dict[str, Any]]]:
        if not path.exists():
            return []
        return [(r["stream"], r["data"]) for r in map(orjson.loads, path.read_bytes().splitlines())]

    return run_conformance(
        python_connector(f"broken/{variant}.py"),
        {"api_key": KEY, "path": str(path)},
        role=role,  # type: ignore[arg-type]
        readback=readback,
        skip={"destination.overwrite_needs_complete"},  # the minimal destination has no overwrite
        timeout_s=30,
    )


def test_the_minimal_connector_passes_as_source_and_destination(tmp_path: Path) -> None:
    report = conformance("correct", tmp_path, "both")
    assert report.ok, report.to_text()
    assert report.result("destination.durable_before_echo").outcome is Outcome.PASSED


@pytest.mark.parametrize(
    ("variant", "role", "check", "words"),
    [
        ("wrong_envelope", "source", "source.read_valid", "invalid record message (record: Field required)"),
        (
            "early_echo",
            "destination",
            "destination.durable_before_echo",
            "state echoed before its records were durable",
        ),
        ("no_terminal", "source", "source.terminal_status", "missing terminal status: stream 'items'"),
        ("leaks_secret", "source", "secrets.never_printed", "a secret from the config appears in stdout of `"),
        ("lost_output", "source", "source.output_complete", "output lost at exit: the last line is cut off"),
    ],
)
def test_a_broken_variant_fails_its_check_with_a_precise_message(
    tmp_path: Path, variant: str, role: str, check: str, words: str
) -> None:
    report = conformance(variant, tmp_path, role)
    result = report.result(check)
    assert result.outcome is Outcome.FAILED, report.to_text()
    assert words in result.message, report.to_text()
    text = report.to_text()
    assert KEY not in text and KEY.encode() not in report.to_ndjson() + report.to_junit(), "the report leaks"
    if variant in ("wrong_envelope", "lost_output", "leaks_secret"):
        assert result.line, "the offending line is shown"

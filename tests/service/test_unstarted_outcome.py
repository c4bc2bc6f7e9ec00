"""A sync that fails before its run begins is judged by the one rule, not as infrastructure by default: a key
refused at discover parks the pipeline as the user's `error`; a destination whose setup crashes is ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_engine import Engine, EngineError
from sync_engine.blocking import sync
from sync_service._activities import outcome_of_failure

from tests.engine.harness import pipeline
from tests.engine.test_unstarted import STREAMS, misbehaving


def outcome_status(tmp_path: Path, source: dict[str, str], misbehave: str | None = None) -> str:
    """The service's outcome of a synthetic → JSONL sync that raised; `misbehave` fails a destination command."""
    p = pipeline(tmp_path, {"streams": STREAMS, **source})
    if misbehave:
        p.destination.command, p.destination.env = misbehaving("jsonl_destination.py"), {"MISBEHAVE": misbehave}
    with pytest.raises(EngineError) as caught:
        sync(Engine(p))
    return outcome_of_failure(caught.value, str(caught.value)).status


def test_a_key_refused_at_discover_is_the_users_error(tmp_path: Path) -> None:
    assert outcome_status(tmp_path, source={"discover_fails": "auth_error"}) == "error"


def test_a_destination_whose_setup_crashes_is_a_system_error(tmp_path: Path) -> None:
    assert outcome_status(tmp_path, {}, misbehave="setup:killed") == "system_error"

"""Helpers for engine tests: a pipeline of the test connectors, and reading what the JSONL destination holds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from sync_engine import Engine, Pipeline, SyncResult, validate_pipeline
from sync_engine.blocking import sync
from sync_protocol import Message

from tests.fixtures.connectors import python_connector


def pipeline(
    tmp_path: Path, source: dict[str, Any], destination: dict[str, Any] | None = None, **extra: Any
) -> Pipeline:
    """Synthetic source → JSONL destination at tmp_path/out.jsonl, state in tmp_path/state/."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return validate_pipeline(
        {
            "name": "default",
            "source": {"command": python_connector("synthetic_source.py"), "config": source},
            "destination": {
                "command": python_connector("jsonl_destination.py"),
                "config": {"path": str(tmp_path / "out.jsonl"), **(destination or {})},
            },
            "state": {"store": "file", "path": str(tmp_path / "state")},
            "retry_backoff_s": 0.05,
            "grace_s": 2.0,
            **extra,
        }
    )


def run_sync(p: Pipeline) -> tuple[SyncResult, list[Message]]:
    """Run the pipeline in process; return its result and every message it emitted."""
    messages: list[Message] = []
    return sync(Engine(p), messages.append), messages


def stored(tmp_path: Path) -> list[dict[str, Any]]:
    """Every line the JSONL destination wrote, in order."""
    path = tmp_path / "out.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def ids_by_stream(tmp_path: Path) -> dict[str, list[str]]:
    """Record ids per stream in write order (duplicates kept)."""
    out: dict[str, list[str]] = {}
    for row in stored(tmp_path):
        out.setdefault(row["stream"], []).append(row["data"]["id"])
    return out


def expected_ids(streams: dict[str, int]) -> dict[str, set[str]]:
    return {name: {f"{name}-{i}" for i in range(count)} for name, count in streams.items()}


def duplicates(ids: list[str]) -> int:
    return sum(c - 1 for c in Counter(ids).values())

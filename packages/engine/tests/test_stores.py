"""State stores: round trips, atomic replacement, and one interface for all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sync_engine import FileStateStore, MemoryStateStore, StateStore
from sync_protocol import StreamState, SyncState


def sample(n: int) -> SyncState:
    return SyncState(run_id="r", streams={"a": StreamState(data={"next": n})})


@pytest.mark.parametrize("kind", ["file-dir", "file-single", "memory"])
def test_round_trip(tmp_path: Path, kind: str) -> None:
    store: StateStore = (
        FileStateStore(tmp_path / "states") if kind == "file-dir"
        else FileStateStore(tmp_path / "one.json") if kind == "file-single"
        else MemoryStateStore()
    )  # fmt: skip
    assert store.load("p") is None
    store.save("p", sample(1))
    store.save("p", sample(2))
    assert store.load("p") == sample(2)


def test_file_store_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.save("weird/key name", sample(1))
    assert [p.name for p in tmp_path.iterdir()] == ["weird_key_name.json"]
    inode = os.stat(tmp_path / "weird_key_name.json").st_ino
    store.save("weird/key name", sample(2))
    assert os.stat(tmp_path / "weird_key_name.json").st_ino != inode, "written to a new file, then renamed"


def test_memory_store_exposes_plain_json(tmp_path: Path) -> None:
    backing: dict[str, object] = {}
    MemoryStateStore(backing).save("p", sample(3))
    assert backing == {
        "p": {
            "run_id": "r",
            "streams": {"a": {"data": {"next": 3}, "completed_ranges": []}},
            "finished": False,
            "run_ranges": {},
            "failed_attempts": 0,
        }
    }

"""Resetting and describing checkpoints, and the stores' list/delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_engine import FileStateStore, MemoryStateStore
from sync_engine._errors import PipelineConfigError
from sync_engine._state_ops import describe_state, without_streams
from sync_protocol import RunProgress, StreamProgress, StreamState, SyncState, TimeRange


def _state() -> SyncState:
    day = TimeRange.model_validate({"gte": "2024-01-01T00:00:00Z", "lt": "2024-01-02T00:00:00Z"})
    return SyncState(
        run_id="r1",
        streams={"customers": StreamState(data={"c": 1}, completed_ranges=[day]), "charges": StreamState(data=2)},
        run_ranges={"customers": day, "charges": day},
        progress=RunProgress(
            record_count=7, streams={"customers": StreamProgress(record_count=5), "charges": StreamProgress()}
        ),
        global_state={"g": 1},
    )


def test_resetting_a_stream_forgets_only_it() -> None:
    after = without_streams(_state(), ["charges"])
    assert set(after.streams) == {"customers"} and set(after.run_ranges) == {"customers"}
    assert after.progress is not None and set(after.progress.streams) == {"customers"}
    assert after.global_state == {"g": 1} and after.streams["customers"].data == {"c": 1}


def test_an_unknown_stream_gets_a_hint() -> None:
    with pytest.raises(PipelineConfigError, match=r"no stream 'chargs' \(did you mean 'charges'\?\)"):
        without_streams(_state(), ["chargs"])


def test_describe_names_streams_and_ranges() -> None:
    text = "\n".join(describe_state("nightly", _state()))
    assert "checkpoint nightly: run r1, unfinished, 7 records so far" in text
    assert "customers: not_started, 5 records, [2024-01-01T00:00:00+00:00, 2024-01-02T00:00:00+00:00)" in text
    assert "charges: not_started, 0 records, nothing committed" in text


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_stores_list_and_delete(kind: str, tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "states") if kind == "file" else MemoryStateStore()
    assert store.keys() == []
    store.save("b", _state())
    store.save("a", _state())
    with store.lock("a"):
        pass
    assert store.keys() == ["a", "b"]
    assert store.delete("a") is True and store.delete("a") is False
    assert store.keys() == ["b"] and store.load("a") is None

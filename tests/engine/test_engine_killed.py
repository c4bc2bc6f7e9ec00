"""kill -9 of the engine itself at random points, then a final run: nothing committed lost, re-delivery bounded."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from sync_engine import FileStateStore

from .harness import duplicates, expected_ids, ids_by_stream, pipeline

PAGE = 25


def test_engine_killed_at_random_points_then_resumed(tmp_path: Path) -> None:
    streams = {"a": 1500, "b": 1500}
    p = pipeline(tmp_path, {"streams": streams, "page_size": PAGE, "page_delay_s": 0.05}, checkpoint_interval_s=0.0)
    pipeline_file = tmp_path / "pipeline.json"
    pipeline_file.write_bytes(orjson.dumps(p.model_dump(mode="json")))
    command = [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(pipeline_file), "--no-progress"]
    rng = random.Random(7)
    store = FileStateStore(tmp_path / "state")
    for _ in range(3):
        before = max(_committed_records(store), 0)
        engine = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while _committed_records(store) <= before and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until this run is syncing (a checkpoint with data), then kill at a random point
        time.sleep(rng.uniform(0.0, 1.0))
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        time.sleep(0.3)  # orphaned connectors see EOF / EPIPE and exit
    saved = store.load("default")
    assert saved is not None and not saved.finished, "the killed runs left a resumable checkpoint"
    run_id = saved.run_id

    done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    final = store.load("default")
    assert final is not None and final.finished and final.run_id == run_id
    assert final.progress is not None and final.progress.attempts >= 4, "progress is cumulative over the attempts"

    got = ids_by_stream(tmp_path)
    assert {k: set(v) for k, v in got.items()} == expected_ids(streams), "nothing committed was lost"
    # Re-delivery per kill is bounded by what the destination committed after the last persisted checkpoint:
    # the checkpoint is written on every tick (0.2 s), so at most a few pages per stream per kill.
    assert duplicates(got["a"]) + duplicates(got["b"]) <= 3 * 2 * 8 * PAGE


def _committed_records(store: FileStateStore) -> int:
    saved = store.load("default")
    return saved.progress.record_count if saved is not None and saved.progress is not None else -1

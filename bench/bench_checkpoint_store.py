"""Cost of persisting one checkpoint: `FileStateStore.save` (write, fsync, rename, fsync dir) on a realistic state.

The state has 40 streams, each with a Stripe-source-sized cursor and 20 completed ranges, plus progress.
Run: uv run python bench/bench_checkpoint_store.py [--saves 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync_engine import FileStateStore
from sync_protocol import RunProgress, StreamProgress, StreamState, SyncState, TimeRange


def realistic_state() -> SyncState:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ranges = [TimeRange(gte=t0 + timedelta(days=2 * i), lt=t0 + timedelta(days=2 * i + 1)) for i in range(20)]
    cursor = {"v": 1, "range": [1, 2], "segments": [[1, 2, "cus_0000001900", 1695000000]] * 8, "done": False}
    streams = {f"stream_{i}": StreamState(data=cursor, completed_ranges=ranges) for i in range(40)}
    progress = RunProgress(run_id="r", streams={name: StreamProgress(completed_ranges=ranges) for name in streams})
    return SyncState(run_id="r", streams=streams, progress=progress)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=200)
    args = parser.parse_args()
    state = realistic_state()
    size = len(state.model_dump_json(exclude_none=True))
    with tempfile.TemporaryDirectory() as tmp:
        store = FileStateStore(Path(tmp))
        timings = []
        for _ in range(args.saves):
            started = time.perf_counter()
            store.save("bench", state)
            timings.append(time.perf_counter() - started)
    print(
        f"checkpoint of {size / 1024:.0f} KiB: median {statistics.median(timings) * 1000:.2f} ms, "
        f"p95 {sorted(timings)[int(0.95 * len(timings))] * 1000:.2f} ms per save"
    )


if __name__ == "__main__":
    main()

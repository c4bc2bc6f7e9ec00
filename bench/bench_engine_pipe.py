"""Engine overhead: (a) source | destination over a raw pipe vs (b) the same two through `sync-engine sync`.

The source writes Stripe-shaped record lines (customer, charge, invoice from fixtures3.json) with a state every
1,000 records; the destination parses every line with orjson and echoes states. Also samples the engine's RSS.

Run: uv run python bench/bench_engine_pipe.py [--records 500000] [--rss-records 1000000]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
SOURCE = [sys.executable, str(HERE / "connectors" / "bench_source.py")]
DESTINATION = [sys.executable, str(HERE / "connectors" / "bench_destination.py")]


def raw_pipe(records: int, pipe_bytes: int | None) -> float:
    """Records/s for source | destination with nothing between them (pipe grown to `pipe_bytes` if given)."""
    config = orjson.dumps({"records": records}).decode()
    read_end, write_end = os.pipe()
    if pipe_bytes:
        fcntl.fcntl(write_end, 1031, pipe_bytes)  # F_SETPIPE_SZ, as the engine does for its pipes
    started = time.perf_counter()
    source = subprocess.Popen([*SOURCE, "read", "--config", config], stdout=write_end)
    os.close(write_end)
    destination = subprocess.run([*DESTINATION, "write"], stdin=read_end, capture_output=True, check=True)
    os.close(read_end)
    assert source.wait() == 0
    elapsed = time.perf_counter() - started
    assert f"records={records}".encode() in destination.stderr
    return records / elapsed


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def through_engine(records: int, workdir: Path) -> tuple[float, list[int]]:
    """Records/s of the sync phase (from the engine's own progress) and RSS samples of the engine process."""
    pipeline = {
        "source": {"command": SOURCE, "config": {"records": records}},
        "destination": {"command": DESTINATION, "config": {}},
        "state": {"store": "file", "path": str(workdir / "state")},
        "name": f"bench-{records}",
    }
    path = workdir / f"pipeline-{records}.json"
    path.write_bytes(orjson.dumps(pipeline))
    messages = workdir / f"messages-{records}.ndjson"
    with messages.open("wb") as out:
        engine = subprocess.Popen(
            [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(path), "--no-progress"], stdout=out
        )
        samples: list[int] = []
        while engine.poll() is None:
            samples.append(_rss_kib(engine.pid))
            time.sleep(0.25)
    output = messages.read_bytes()
    end = orjson.loads(output.splitlines()[-1])["end"]
    assert end["status"] == "succeeded", end
    progress = end["request_progress"]
    assert progress["record_count"] == records
    return progress["records_per_s"], [s for s in samples if s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the machine's speed drifts)")
    parser.add_argument("--rss-records", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rounds = []
        for _ in range(args.rounds):
            small, big = raw_pipe(args.records, None), raw_pipe(args.records, 1 << 20)
            rounds.append((small, big, through_engine(args.records, workdir)[0]))
        small, big, engine = (statistics.median(column) for column in zip(*rounds, strict=True))
        ratio = statistics.median(e / b for _, b, e in rounds)
        print(f"{args.records:,} records, median of {args.rounds} interleaved rounds")
        print(f"(a) raw pipe, 64 KiB    {small:>10,.0f} records/s")
        print(f"(a) raw pipe, 1 MiB     {big:>10,.0f} records/s")
        print(
            f"(b) through engine      {engine:>10,.0f} records/s  ({100 * ratio:.0f}% of the 1 MiB raw pipe, "
            f"{100 * statistics.median(e / s for s, _, e in rounds):.0f}% of the 64 KiB one)"
        )
        if args.rss_records:
            _, samples = through_engine(args.rss_records, workdir)
            quarter = samples[len(samples) // 4] / 1024
            print(
                f"engine RSS over {args.rss_records:,} records: at 25% {quarter:.0f} MiB, "
                f"max {max(samples) / 1024:.0f} MiB, at end {samples[-1] / 1024:.0f} MiB ({len(samples)} samples)"
            )


if __name__ == "__main__":
    main()

"""Engine overhead: (a) source | destination over a raw pipe vs (b) the same two through `sync-engine sync`.

The source writes Stripe-shaped record lines (customer, charge, invoice from fixtures3.json) with a state every
1,000 records; the destination parses every line with orjson and echoes states. Also samples the engine's RSS.

First, the engine's own CPU per record (from /proc when it exits, minus a sync of no records in the same round):
at full speed, and paced like source-stripe at a request budget (the source writes through the SDK's writer, a
page of 100 records, a `stats` and a `source_state` per request), with the engine's read and write system calls
per state. `--compare DIR` runs the same syncs with the python in DIR (e.g. an older checkout's .venv/bin) too.

Run: uv run python bench/bench_engine_pipe.py [--records 500000] [--rss-records 1000000] [--cost-records 50000]
     [--pages-per-s 100] [--compare DIR] [--only-cost]
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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class EngineRun:
    """One `sync-engine sync`: its own figures, what the engine process itself used and what its connectors used."""

    records_per_s: float
    cpu_s: float
    connectors_cpu_s: float
    reads: int
    writes: int
    rss_kib: list[int]


def _exited_usage(pid: int) -> tuple[float, float, int, int]:
    """CPU seconds of an exited, not yet reaped process and of its reaped children, and its read/write syscalls."""
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    own, children = (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return own, children, int(io["syscr"]), int(io["syscw"])


def through_engine(
    records: int, workdir: Path, source: dict[str, object] | None = None, python: str = sys.executable
) -> EngineRun:
    """A sync of `records` (source config beside it: `source`) into the parsing destination, with the engine's
    own figures from its progress and, from /proc, its CPU and syscalls. `python` runs the engine and both
    connectors (another installation's interpreter compares it with this one)."""
    pipeline = {
        "source": {"command": [python, *SOURCE[1:]], "config": {"records": records, **(source or {})}},
        "destination": {"command": [python, *DESTINATION[1:]], "config": {}},
        "state": {"store": "file", "path": tempfile.mkdtemp(dir=workdir)},  # a fresh checkpoint each time
    }
    path = workdir / "pipeline.json"
    path.write_bytes(orjson.dumps(pipeline))
    messages = workdir / "messages.ndjson"
    with messages.open("wb") as out:
        engine = subprocess.Popen(
            [python, "-m", "sync_engine", "sync", "--pipeline", str(path), "--no-progress"],
            stdout=out,
        )
        samples: list[int] = []
        while not _exited(engine.pid):
            samples.append(_rss_kib(engine.pid))
            time.sleep(0.25)
        cpu_s, connectors_cpu_s, reads, writes = _exited_usage(engine.pid)
        engine.wait()
    output = messages.read_bytes()
    end = orjson.loads(output.splitlines()[-1])["end"]
    assert end["status"] == "succeeded", end
    progress = end["request_progress"]
    assert progress["record_count"] == records
    return EngineRun(progress["records_per_s"], cpu_s, connectors_cpu_s, reads, writes, [s for s in samples if s])


def _exited(pid: int) -> bool:
    result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return result is not None


def engine_cost(records: int, rounds: int, pages_per_s: float, workdir: Path, compare: Path | None) -> None:
    """Engine CPU per record at full speed and paced like source-stripe at a budget, over a baseline sync of no
    records run in the same rounds (the engine's start-up and the connectors' spec and discover)."""
    setups: dict[str, dict[str, object]] = {
        "full speed, a state every 1,000": {"state_every": 1000},
        f"paced: {pages_per_s:g} pages/s of 100 + stats + state": {"state_every": 100, "pages_per_s": pages_per_s},
    }
    pythons = {"this": sys.executable} | ({"compare": str(compare / "python")} if compare else {})
    figures: dict[tuple[str, str], list[tuple[float, float, float, float]]] = {}
    loads = [os.getloadavg()[0]]
    for _ in range(rounds):
        for name, source in setups.items():
            for label, python in pythons.items():
                base = through_engine(0, workdir, source, python)
                run = through_engine(records, workdir, source, python)
                states = records / int(str(source["state_every"]))
                figures.setdefault((name, label), []).append(
                    (
                        1e6 * (run.cpu_s - base.cpu_s) / records,
                        1e6 * (run.connectors_cpu_s - base.connectors_cpu_s) / records,
                        (run.reads - base.reads) / states,
                        (run.writes - base.writes) / states,
                    )
                )
        loads.append(os.getloadavg()[0])
    print(
        f"engine CPU per record (its own process, minus a sync of no records), {records:,} records, median of "
        f"{rounds} interleaved rounds (min-max); load average {min(loads):.1f}-{max(loads):.1f}"
    )
    for (name, label), runs in figures.items():
        cpu = sorted(f[0] for f in runs)
        connectors, reads, writes = (statistics.median(f[i] for f in runs) for i in (1, 2, 3))
        print(
            f"  {name:<40} {label:<8} {statistics.median(cpu):6.1f} us/record ({cpu[0]:.1f}-{cpu[-1]:.1f}); "
            f"per state: {reads:.1f} reads, {writes:.1f} writes; source + destination {connectors:.1f} us/record"
        )
        if label == "compare":
            ratios = sorted(t[0] / c[0] for t, c in zip(figures[(name, "this")], runs, strict=True))
            print(
                f"  {name:<40} this / compare, per round: median {statistics.median(ratios):.2f} "
                f"({', '.join(f'{r:.2f}' for r in ratios)})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the machine's speed drifts)")
    parser.add_argument("--rss-records", type=int, default=1_000_000)
    parser.add_argument("--cost-records", type=int, default=50_000, help="records per sync for the CPU per record")
    parser.add_argument("--pages-per-s", type=float, default=100, help="paced source: pages per second (a budget)")
    parser.add_argument("--only-cost", action="store_true", help="only the engine's CPU per record")
    parser.add_argument("--compare", type=Path, help="CPU per record also with the python in this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.cost_records:
            engine_cost(args.cost_records, args.rounds, args.pages_per_s, workdir, args.compare)
        if args.only_cost:
            return
        rounds = []
        for _ in range(args.rounds):
            small, big = raw_pipe(args.records, None), raw_pipe(args.records, 1 << 20)
            rounds.append((small, big, through_engine(args.records, workdir).records_per_s))
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
            samples = through_engine(args.rss_records, workdir).rss_kib
            quarter = samples[len(samples) // 4] / 1024
            print(
                f"engine RSS over {args.rss_records:,} records: at 25% {quarter:.0f} MiB, "
                f"max {max(samples) / 1024:.0f} MiB, at end {samples[-1] / 1024:.0f} MiB ({len(samples)} samples)"
            )


if __name__ == "__main__":
    main()

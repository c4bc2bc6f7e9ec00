"""Start-up cost: a 10-record sync (source-stripe on a local Stripe API → destination-postgres) through the CLI,
against the physical limit measured in the same run.

A sync starts the engine and six connector processes one after another on its critical path (spec of each
connector, discover, setup, then read and write side by side). The limits, in the same rounds:
  bare     the same number of bare interpreter start-ups (`python -c pass`, seven of them)
  imports  the engine's own import plus each connector's package import, in seven fresh interpreters
Rounds are interleaved (sync, bare, imports, sync, ...); medians are reported.

Run: uv run python bench/bench_startup.py [--rounds 7]   (uses DATABASE_URL, else starts a throwaway server)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "sk_test_bench_startup"
STARTS = 7


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the local Stripe API did not start")


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def _sequence(commands: list[list[str]]) -> float:
    return sum(_timed(argv) for argv in commands)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sync_testbed.postgres import start_server

    port = _free_port()
    stripe = subprocess.Popen(
        [sys.executable, "-m", "sync_testbed.stripe_server", "--port", str(port), "--scale", "10", "--streams",
         "customers", "--key", KEY],
        cwd=ROOT,
    )  # fmt: skip
    database = None if os.environ.get("DATABASE_URL") else start_server()
    url = os.environ.get("DATABASE_URL") or database.url  # type: ignore[union-attr]
    python = sys.executable
    bare = [[python, "-c", "pass"]] * STARTS
    imports = [[python, "-c", "import sync_engine._cli"]] + [
        [python, "-c", f"import {package}.__main__"] for package in ["source_stripe"] * 3 + ["destination_postgres"] * 3
    ]
    figures: dict[str, list[float]] = {"sync": [], "bare": [], "imports": []}
    try:
        _wait(port)
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            env = {**os.environ, "STRIPE_API_KEY": KEY, "DATABASE_URL": url}
            for index in range(args.rounds + 1):  # round 0 warms the page cache and creates the tables
                sync = [
                    str(BIN / "sync-engine"), "sync", "--stripe-api-key", "--stripe-api-base",
                    f"http://127.0.0.1:{port}", "--postgres-url", "--postgres-schema", "bench_startup",
                    "--streams", "customers", "--state-file", str(Path(tmp) / f"state-{index}"), "--json",
                ]  # fmt: skip
                elapsed = _timed(sync, env)
                if index == 0:
                    continue
                figures["sync"].append(elapsed)
                figures["bare"].append(_sequence(bare))
                figures["imports"].append(_sequence(imports))
    finally:
        stripe.terminate()
        stripe.wait(timeout=10)
        if database is not None:
            database.stop()
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"10-record sync, median of {args.rounds} interleaved rounds (load average {os.getloadavg()[0]:.1f})")
    print(f"  sync-engine sync             {median['sync']:.2f} s")
    print(f"  {STARTS} bare interpreters       {median['bare']:.2f} s  (sync = {median['sync'] / median['bare']:.1f}x)")
    print(
        f"  {STARTS} starts with imports     {median['imports']:.2f} s  "
        f"(sync = {median['sync'] / median['imports']:.2f}x)"
    )
    print(orjson.dumps({k: [round(v, 3) for v in values] for k, values in figures.items()}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

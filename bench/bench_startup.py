"""Start-up cost: a 10-record sync (source-stripe on a local Stripe API → destination-postgres) through the CLI,
against the physical limit measured in the same run.

A sync starts the engine, then the connectors: both specs side by side unless the spec cache holds them (it does
after round 0), discover as soon as the source's config is validated, `setup` unless the destination's `write`
sets up, then read and write side by side. Each round also measures:
  cold      the same sync with `--no-spec-cache` (both specs asked, as on the first run after an install)
  bare      seven bare interpreter start-ups (`python -c pass`: the engine and six connector processes before
            `setup_in_write`, the same floor as earlier figures)
  imports   the engine's own import plus each connector's package import, in seven fresh interpreters
  commands  each connector command alone, as the engine runs it: wall time and CPU (user + system)
  compare   with --compare DIR: the same sync by the `sync-engine` in DIR (e.g. an older checkout's .venv/bin)
  timeline  the warm sync once more, each connector command wrapped to log when it ran (seconds from the engine's
            start; the wrapper's shell adds a few ms per command)
Rounds are interleaved (sync, cold, compare, bare, imports, commands, sync, ...); medians are reported. Every child
runs with bytecode caching on (a private PYTHONPYCACHEPREFIX, warmed by round 0), as an installed toolkit runs:
with PYTHONDONTWRITEBYTECODE set, every start would compile each module it imports again.

Run: uv run python bench/bench_startup.py [--rounds 7] [--compare DIR]   (uses DATABASE_URL, else starts a
throwaway server)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from sync_testbed import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "sk_test_bench_startup"
STARTS = 7
SCHEMA = "bench_startup"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, float, bytes]:
    """(wall s, CPU s of the process and its children, stdout)."""
    cpu, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, env=env, input=stdin)
    return time.perf_counter() - started, _children_cpu() - cpu, done.stdout


TIMED = """#!/bin/bash
# timed LOG NAME EXECUTABLE COMMAND ...: runs the connector, appends "NAME COMMAND START END" (epoch s) to LOG
log=$1 name=$2; shift 2
start=$(date +%s.%N); "$@"; code=$?
echo "$name $2 $start $(date +%s.%N)" >> "$log"
exit $code
"""


def _timeline(sync: list[str], tmp: Path, env: dict[str, str]) -> dict[str, tuple[float, float]]:
    """{"source discover": (start, end), ...} in seconds from the engine's start; "engine" is the whole run."""
    wrapper, log = tmp / "timed", tmp / "timeline.log"
    if not wrapper.exists():  # written once: a new wrapper would be a new connector to the spec cache
        wrapper.write_text(TIMED)
        wrapper.chmod(0o755)
    log.unlink(missing_ok=True)
    wrapped = [
        "--source", f"{wrapper} {log} source {BIN / 'source-stripe'}",
        "--destination", f"{wrapper} {log} destination {BIN / 'destination-postgres'}",
    ]  # fmt: skip
    started = time.time()
    subprocess.run([*sync, *wrapped], check=True, capture_output=True, env=env)
    spans = {"engine": (0.0, time.time() - started)}
    for line in log.read_text().splitlines():
        name, command, start, end = line.split()
        spans[f"{name} {command}"] = (float(start) - started, float(end) - started)
    return spans


def _sequence(commands: list[list[str]], env: dict[str, str]) -> float:
    return sum(_timed(argv, env)[0] for argv in commands)


def _catalog(discovered: bytes) -> str:
    """The configured catalog of the customers stream, as the engine passes it."""
    catalog = orjson.loads(discovered.splitlines()[-1])["catalog"]
    stream = next(s for s in catalog["streams"] if s["name"] == "customers")
    selected = {"name": "customers", "json_schema": stream["json_schema"], "primary_key": [["id"]]}
    return orjson.dumps({"streams": [selected]}).decode()


def _commands(env: dict[str, str], source: str, destination: str) -> dict[str, tuple[float, float]]:
    """Each connector command alone: {"source-stripe spec": (wall, cpu), ...}."""
    figures: dict[str, tuple[float, float]] = {}
    src, dst = str(BIN / "source-stripe"), str(BIN / "destination-postgres")

    def run(name: str, argv: list[str], stdin: bytes | None = None) -> bytes:
        wall, cpu, out = _timed(argv, env, stdin)
        figures[name] = (wall, cpu)
        return out

    run("source-stripe spec", [src, "spec"])
    catalog = _catalog(run("source-stripe discover", [src, "discover", "--config", source]))
    records = run("source-stripe read", [src, "read", "--config", source, "--catalog", catalog])
    run("destination-postgres spec", [dst, "spec"])
    run("destination-postgres setup", [dst, "setup", "--config", destination, "--catalog", catalog])
    run("destination-postgres write", [dst, "write", "--config", destination, "--catalog", catalog], records)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--compare", type=Path, help="a directory holding another installation's sync-engine")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from sync_testbed.postgres import start_server

    port = free_port()
    stripe = subprocess.Popen(
        [sys.executable, "-m", "sync_testbed.stripe_server", "--port", str(port), "--scale", "10", "--streams",
         "customers", "--key", KEY],
        cwd=ROOT,
    )  # fmt: skip
    database = None if os.environ.get("DATABASE_URL") else start_server()
    url = os.environ.get("DATABASE_URL") or database.url  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    python = sys.executable
    bare = [[python, "-c", "pass"]] * STARTS
    imports = [[python, "-c", "import sync_engine._cli"]] + [
        [python, "-c", f"import {package}.__main__"] for package in ["source_stripe"] * 3 + ["destination_postgres"] * 3
    ]
    engines: dict[str, tuple[Path, list[str]]] = {"sync": (BIN, []), "cold": (BIN, ["--no-spec-cache"])}
    engines |= {"compare": (args.compare, [])} if args.compare else {}
    figures: dict[str, list[float]] = {name: [] for name in engines} | {f"{n} cpu": [] for n in engines}
    figures |= {"bare": [], "imports": []}
    commands: dict[str, list[tuple[float, float]]] = {}
    timeline: dict[str, list[tuple[float, float]]] = {}
    try:
        wait_for_port(port, "the local Stripe API")
        with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env |= {"STRIPE_API_KEY": KEY, "DATABASE_URL": url, "PYTHONPYCACHEPREFIX": str(Path(tmp) / "pycache")}
            env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # the spec cache, warmed by round 0
            source = orjson.dumps({"api_key": KEY, "api_base": base}).decode()
            destination = orjson.dumps({"url": url, "schema": SCHEMA}).decode()
            for index in range(args.rounds + 1):  # round 0 warms the bytecode and page caches, creates the tables
                for name, (bin_dir, extra) in engines.items():
                    sync = [
                        str(bin_dir / "sync-engine"), "sync", "--stripe-api-key", "--stripe-api-base", base,
                        "--postgres-url", "--postgres-schema", SCHEMA, "--streams", "customers",
                        "--state-file", str(Path(tmp) / f"state-{name}-{index}"), "--json", *extra,
                    ]  # fmt: skip
                    wall, cpu, _ = _timed(sync, env)
                    if index:
                        figures[name].append(wall)
                        figures[f"{name} cpu"].append(cpu)
                    if name == "sync":
                        sync[sync.index("--state-file") + 1] += "-timeline"
                        spans = _timeline(sync, Path(tmp), env)
                        for step, span in spans.items() if index else ():
                            timeline.setdefault(step, []).append(span)
                bare_s, imports_s = _sequence(bare, env), _sequence(imports, env)
                measured = _commands(env, source, destination)
                if index:
                    figures["bare"].append(bare_s)
                    figures["imports"].append(imports_s)
                    for command, pair in measured.items():
                        commands.setdefault(command, []).append(pair)
    finally:
        stripe.terminate()
        stripe.wait(timeout=10)
        if database is not None:
            database.stop()
    median = {name: statistics.median(values) for name, values in figures.items()}
    print(f"10-record sync, median of {args.rounds} interleaved rounds (load average {os.getloadavg()[0]:.1f})")
    for name in engines:
        print(
            f"  sync-engine sync ({name:7s})  {median[name]:.2f} s  (CPU {median[f'{name} cpu']:.2f} s; "
            f"{median[name] / median['bare']:.1f}x bare, {median[name] / median['imports']:.2f}x imports)"
        )
    print(f"  {STARTS} bare interpreters       {median['bare']:.2f} s")
    print(f"  {STARTS} starts with imports     {median['imports']:.2f} s")
    print("  each connector command alone: wall / CPU")
    for command, pairs in commands.items():
        wall, cpu = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        print(f"    {command:28s} {wall:.2f} s / {cpu:.2f} s")
    print("  the warm sync as a timeline, s from the engine's start (median start -> median end)")
    for step, spans in timeline.items():
        start, end = statistics.median(p[0] for p in spans), statistics.median(p[1] for p in spans)
        print(f"    {step:28s} {start:.2f} -> {end:.2f}")
    print(orjson.dumps({k: [round(v, 3) for v in values] for k, values in figures.items()}).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

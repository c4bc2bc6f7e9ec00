"""End to end: Stripe → Postgres objects/s through `sync-engine sync` as a share of the Stripe request budget.

The local fake Stripe API (sync_testbed.stripe_server) runs as its own process with `--latency` added to every request
and `--objects` split over customers and charges; each sync is the real CLI (`sync-engine sync`) spawning
`source-stripe read` and `destination-postgres write`, into a fresh schema with a fresh checkpoint. The source's
account budget is the figure under test (`--budgets`), its per-endpoint budget is raised to the same value so the
account budget is the binding one (Stripe's default 25 req/s per endpoint would cap two streams at 50 req/s).

A budget of B req/s at 100 objects a page moves at most B * 100 objects/s: the share of the budget is
objects/s ÷ (B * 100), over the data phase (the engine's `start` message to its `end`; `start` precedes the
source's discover and the connectors' start, so that is inside; the whole CLI wall time is printed too). The
Postgres leg alone, in the same rounds: the very records and states the source emitted, read once into a file
beforehand (untimed), piped into `destination-postgres write`.

CPU per process is read from /proc while each sync runs: the engine, its source and destination, the fake server
(it shares the cores with everything else; a real Stripe would not) and PostgreSQL's backends. Rounds are
interleaved (each budget, then the Postgres leg); medians are reported with the load average.

What separates the causes: the fake server logs each request's arrival, so each sync reports its requests per second
over time, split into ramp, steady state (between 10% and 90% of its requests) and tail; and each budget also runs
into an echo-only destination (bench/connectors/bench_destination.py: states echoed, nothing parsed or stored), so
PostgreSQL's and the destination's CPU are out of the way. A sync that keeps the budget into the echo destination
but not into Postgres is held back by contention for the cores.

    uv run python bench/bench_end_to_end.py --objects 200000 --rounds 3     (DATABASE_URL, else a throwaway server)
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from sync_testbed import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_postgres_load import count_rows, drop_schema, run_writer, server_cpu_s  # noqa: E402

KEY = "sk_test_bench_e2e"
STREAMS = ("customers", "charges")
PAGE = 100
WARM_UNTIL = "2020-09-15T00:00:00Z"  # the generated objects start at 2020-09-13 (the server's default)
TICKS = os.sysconf("SC_CLK_TCK")
LEG_TYPES = (b'{"type":"record"', b'{"type":"source_state"', b'{"type":"stream_status"')
ECHO_DESTINATION = ROOT / "bench" / "connectors" / "bench_destination.py"
DESTINATIONS = ("postgres", "echo")
STEADY = (0.1, 0.9)
"""The steady state: between the moments 10% and 90% of the requests (or committed objects) were reached."""


def cpu_s(pid: int) -> float:
    """utime + stime of a live process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def role(pid: int) -> str | None:
    """Which connector a child of the engine is, from its command line (only the long-lived read and write)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    text = b" ".join(argv)
    if b" read " in text + b" ":
        return "source"
    if b" write " in text + b" ":
        return "destination"
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def pipeline(
    tmp: Path, api: str, url: str, schema: str, budget: float, until: str | None = None, destination: str = "postgres"
) -> Path:
    """A pipeline file for one sync at `budget` req/s, into `schema` (or into the echo-only destination), with a
    checkpoint of its own."""
    source = {
        "api_key": KEY,
        "api_base": api,
        "requests_per_second": budget,
        "endpoint_requests_per_second": budget,
        "start_date": "2015-01-01T00:00:00Z",
    }
    spec = {
        "name": schema,
        "source": {"command": f"{sys.executable} -m source_stripe", "config": source},
        "destination": (
            {"command": f"{sys.executable} -m destination_postgres", "config": {"url": url, "schema": schema}}
            if destination == "postgres"
            else {"command": f"{sys.executable} {ECHO_DESTINATION}", "config": {"echo_only": True}}
        ),
        "streams": [{"name": s, **({"time_range": {"lt": until}} if until else {})} for s in STREAMS],
        "state": {"store": "file", "path": str(tmp / f"state-{schema}")},
    }
    path = tmp / f"{schema}.json"
    path.write_bytes(orjson.dumps(spec))
    return path


def sync(path: Path, server_pid: int, url: str) -> dict[str, Any]:
    """One `sync-engine sync`; wall and data-phase seconds, the `end` message, CPU seconds per process."""
    server0, pg0 = cpu_s(server_pid), server_cpu_s(url)
    argv = [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(path), "--json", "--no-progress"]
    started = time.monotonic()
    engine = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert engine.stdout is not None
    seen: dict[int, tuple[str, float]] = {}  # pid → (role, last CPU seconds read)
    engine_cpu = 0.0
    start_at = end_at = 0.0
    end: dict[str, Any] = {}
    configured: dict[str, Any] = {}
    committed: list[tuple[float, int]] = []  # (when, records committed) from the engine's progress messages
    os.set_blocking(engine.stdout.fileno(), False)
    buffer = b""
    while True:
        chunk = engine.stdout.read()
        if chunk:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b'{"type":"start"'):
                    start_at = time.monotonic()
                elif line.startswith(b'{"type":"progress"'):
                    committed.append((time.monotonic(), orjson.loads(line)["progress"]["record_count"]))
                elif line.startswith(b'{"type":"end"'):
                    end_at, end = time.monotonic(), orjson.loads(line)["end"]
                elif line.startswith(b'{"type":"configured_catalog"'):
                    configured = orjson.loads(line)["configured_catalog"]
        if engine.poll() is not None and not chunk:
            break
        engine_cpu = max(engine_cpu, cpu_s(engine.pid))
        for child in children(engine.pid):
            kind = seen[child][0] if child in seen else role(child)
            if kind:
                seen[child] = (kind, max(cpu_s(child), seen.get(child, (kind, 0.0))[1]))
        time.sleep(0.1)
    wall = time.monotonic() - started
    stderr = engine.stderr.read().decode(errors="replace") if engine.stderr else ""
    if engine.returncode != 0 or not end:
        raise SystemExit(f"sync failed ({engine.returncode}): {stderr[-2000:]}")
    cpu = {"engine": engine_cpu, "source": 0.0, "destination": 0.0}
    for kind, seconds in seen.values():
        cpu[kind] += seconds
    cpu["server"] = cpu_s(server_pid) - server0
    cpu["postgres"] = server_cpu_s(url) - pg0
    committed.append((end_at, end["request_progress"]["record_count"]))
    return {
        "wall": wall,
        "data": end_at - start_at,
        "start_at": start_at,
        "end_at": end_at,
        "end": end,
        "cpu": cpu,
        "catalog": configured,
        "committed": committed,
    }


def capture(tmp: Path, api: str, catalog: dict[str, Any], out: Path) -> int:
    """The source's own output for the whole range, read once (untimed) with a large budget; records in it."""
    config = {
        "api_key": KEY,
        "api_base": api,
        "requests_per_second": 1000,
        "endpoint_requests_per_second": 1000,
        "start_date": "2015-01-01T00:00:00Z",
    }
    (tmp / "capture-config.json").write_bytes(orjson.dumps(config))
    (tmp / "capture-catalog.json").write_bytes(orjson.dumps(catalog))
    argv = [sys.executable, "-m", "source_stripe", "read", "--config", str(tmp / "capture-config.json")]
    raw = tmp / "capture.ndjson"
    with raw.open("wb") as sink:
        subprocess.run([*argv, "--catalog", str(tmp / "capture-catalog.json")], stdout=sink, check=True, cwd=ROOT)
    records = 0
    with raw.open("rb") as lines, out.open("wb") as kept:  # line by line: 200k records are ~600 MB
        for line in lines:
            if line.startswith(LEG_TYPES):
                kept.write(line)
                records += line.startswith(LEG_TYPES[0])
    raw.unlink()
    return records


def leg(tmp: Path, url: str, catalog: dict[str, Any], records: Path, schema: str) -> dict[str, Any]:
    """The Postgres leg alone: the captured records piped from the file into `destination-postgres write`."""
    pg0 = server_cpu_s(url)
    run = run_writer({"url": url, "schema": schema}, catalog, records, tmp)
    return {"wall": run.seconds, "cpu": {"destination": run.cpu_s, "postgres": server_cpu_s(url) - pg0}}


def request_times(log: Path, start: float, end: float) -> list[float]:
    """Arrival times of the requests the fake server logged between `start` and `end`, sorted."""
    return sorted(t for t in map(float, log.read_text().split()) if start <= t <= end)


def timeline(run: dict[str, Any], times: list[float], budget: float) -> dict[str, Any]:
    """The requests issued over the data phase: the ramp to the steady state, the steady state, the tail.

    The steady state lies between the requests at `STEADY` (10% and 90% of them); the ideal ramp and tail are
    what those shares of the requests take at the full budget. Committed objects/s in the same sense come from the
    engine's progress messages (every ~2 s): between the first that reports ≥ 10% and the last that reports ≤ 90%.
    """
    start, end = run["start_at"], run["end_at"]
    n = len(times)
    if n < 10:
        return {"requests": n}
    first, last = int(STEADY[0] * n), int(STEADY[1] * n) - 1
    per_second = [0] * (int(end - start) + 1)
    for t in times:
        per_second[int(t - start)] += 1
    total = run["committed"][-1][1]
    low = [(t, c) for t, c in run["committed"] if c >= STEADY[0] * total]
    high = [(t, c) for t, c in run["committed"] if c <= STEADY[1] * total]
    (t0, c0), (t1, c1) = low[0], high[-1] if high else low[0]
    return {
        "requests": n,
        "requests_per_s": n / (end - start),
        "steady_requests_per_s": (last - first) / (times[last] - times[first]),
        "steady_objects_per_s": (c1 - c0) / (t1 - t0) if t1 > t0 else float("nan"),
        "first_request_s": times[0] - start,
        "ramp_s": times[first] - start,
        "ideal_ramp_s": first / budget,
        "tail_s": end - times[last],
        "ideal_tail_s": (n - last) / budget,
        "after_last_request_s": end - times[-1],
        "per_second": per_second,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--objects", type=int, default=200_000, help="objects in all, split over customers, charges")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake server adds to each request")
    parser.add_argument("--budgets", default="50,100", help="account budgets to run, req/s")
    parser.add_argument(
        "--destinations", default=",".join(DESTINATIONS), help="postgres and/or echo (states echoed, nothing stored)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    destinations = [d for d in args.destinations.split(",") if d]
    assert set(destinations) <= set(DESTINATIONS), f"--destinations: one of {DESTINATIONS}"
    from sync_testbed.postgres import start_server

    database = None if args.url else start_server()
    url = args.url or database.url  # type: ignore[union-attr]
    port = free_port()
    per_stream = args.objects // len(STREAMS)
    total = per_stream * len(STREAMS)
    api = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict[str, Any]]] = {label(b, d): [] for b in budgets for d in destinations}
    results["leg"] = []
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        log = tmp / "requests.log"
        server = subprocess.Popen(
            [sys.executable, "-m", "sync_testbed.stripe_server", "--port", str(port), "--scale", str(per_stream),
             "--streams", ",".join(STREAMS), "--key", KEY, "--latency", str(args.latency), "--request-log", str(log)],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_port(port, "the local Stripe API")
            # a warm-up sync of the first days gives the configured catalog the engine hands the destination
            warm = sync(pipeline(tmp, api, url, "e2e_warm", 1000.0, until=WARM_UNTIL), server.pid, url)
            drop_schema(url, "e2e_warm")
            catalog = {
                "streams": [{k: v for k, v in s.items() if k != "time_range"} for s in warm["catalog"]["streams"]]
            }
            records = tmp / "records.ndjson"
            captured = capture(tmp, api, catalog, records)
            assert captured == total, f"the capture read {captured} records, not {total}"
            for round_ in range(args.rounds):
                for budget in budgets:
                    for destination in destinations:
                        schema = f"e2e_{round_}_{budget:g}_{destination}"
                        path = pipeline(tmp, api, url, schema, budget, destination=destination)
                        run = sync(path, server.pid, url)
                        if destination == "postgres":
                            assert count_rows(url, schema, list(STREAMS)) == total, f"{schema}: rows missing"
                            drop_schema(url, schema)
                        committed = run["end"]["request_progress"]["record_count"]
                        assert committed == total, f"{schema}: {committed} records committed, not {total}"
                        run["budget"], run["share"] = budget, total / run["data"] / (budget * PAGE)
                        run["timeline"] = timeline(run, request_times(log, run["start_at"], run["end_at"]), budget)
                        results[label(budget, destination)].append(run)
                        report(f"round {round_ + 1} {label(budget, destination)}", total, run, budget)
                schema = f"e2e_{round_}_leg"
                run = leg(tmp, url, catalog, records, schema)
                assert count_rows(url, schema, list(STREAMS)) == total, f"{schema}: rows missing"
                drop_schema(url, schema)
                run["data"] = run["wall"]
                results["leg"].append(run)
                report(f"round {round_ + 1} Postgres leg alone", total, run, None)
        finally:
            server.terminate()
            server.wait(timeout=10)
            if database is not None:
                database.stop()
    summarize(results, total, args)
    return 0


def label(budget: float, destination: str) -> str:
    """The name of one configuration in the report."""
    return f"budget {budget:g} req/s" + ("" if destination == "postgres" else ", echo destination")


def summarize(results: dict[str, list[dict[str, Any]]], total: int, args: argparse.Namespace) -> None:
    """Medians over the rounds, one paragraph per configuration."""
    print(
        f"{total:,} objects ({', '.join(STREAMS)}), {args.latency * 1000:.0f} ms added latency, median of "
        f"{args.rounds} interleaved rounds, load average {os.getloadavg()[0]:.1f} at the end"
    )
    leg_rate = statistics.median(total / r["data"] for r in results["leg"])
    for name, runs in results.items():
        rate = statistics.median(total / r["data"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        cpu = {k: statistics.median(r["cpu"][k] for r in runs) for k in runs[0]["cpu"]}
        cpus = ", ".join(f"{k} {v:.1f} s ({1e6 * v / total:.0f} µs/object)" for k, v in cpu.items())
        if name == "leg":
            print(f"  Postgres leg alone: {rate:,.0f} objects/s ({wall:.1f} s); CPU: {cpus}")
            continue
        budget = runs[0]["budget"]
        share = statistics.median(r["share"] for r in runs)
        shares = ", ".join(f"{100 * r['share']:.0f}%" for r in runs)
        # the cores the sync would keep busy at the budget's full rate, at the CPU per object measured
        ours = sum(v for k, v in cpu.items() if k != "server") / total
        print(
            f"  {name}: {rate:,.0f} objects/s = {100 * share:.0f}% of the budget "
            f"({budget * PAGE:,.0f}/s; rounds {shares}), "
            f"{100 * rate / leg_rate:.0f}% of the Postgres leg alone; CLI wall {wall:.1f} s; CPU: {cpus}; "
            f"at the full budget the sync needs {ours * budget * PAGE:.2f} cores, "
            f"{(ours + cpu['server'] / total) * budget * PAGE:.2f} with the fake server, of {os.cpu_count()}"
        )
        lines = [r["timeline"] for r in runs if "ramp_s" in r["timeline"]]
        if lines:
            med = {k: median_known(t[k] for t in lines) for k in lines[0] if k != "per_second"}
            print(
                f"    steady state: {med['steady_objects_per_s']:,.0f} objects/s committed = "
                f"{100 * med['steady_objects_per_s'] / (budget * PAGE):.0f}% of the budget (nan: too short to tell), "
                f"{med['steady_requests_per_s']:.0f} req/s issued = {100 * med['steady_requests_per_s'] / budget:.0f}%;"
                f" whole run {med['requests_per_s']:.0f} req/s; ramp {med['ramp_s']:.1f} s to 10% of the requests "
                f"(first after {med['first_request_s']:.1f} s; {med['ideal_ramp_s']:.1f} s at the full budget), "
                f"tail {med['tail_s']:.1f} s after 90% ({med['ideal_tail_s']:.1f} s), "
                f"end {med['after_last_request_s']:.1f} s after the last request"
            )


def median_known(values: Iterable[float]) -> float:
    """The median of the values that are numbers (a run too short for two progress messages has no steady rate)."""
    known = [v for v in values if not math.isnan(v)]
    return statistics.median(known) if known else float("nan")


def report(label: str, total: int, run: dict[str, Any], budget: float | None) -> None:
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in run["cpu"].items())
    share = ""
    if budget is not None:
        requests = run["end"]["request_progress"]["request_count"]
        share = f" = {100 * run['share']:.0f}% of the budget, {requests} requests = {requests / run['data']:.0f} req/s"
    print(
        f"{label}: {total / run['data']:,.0f} objects/s{share} (data {run['data']:.1f} s, wall {run['wall']:.1f} s);"
        f" CPU s: {cpu}; load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    line = run.get("timeline", {})
    if "ramp_s" in line:
        steady = line["steady_objects_per_s"] / (budget or 1) / PAGE
        print(
            f"    steady {line['steady_objects_per_s']:,.0f} objects/s ({100 * steady:.0f}%), "
            f"{line['steady_requests_per_s']:.0f} req/s; ramp {line['ramp_s']:.1f} s, tail {line['tail_s']:.1f} s, "
            f"end +{line['after_last_request_s']:.1f} s; req/s per second: {' '.join(map(str, line['per_second']))}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())

"""Service scale benchmark: two workers share N small Stripe → PostgreSQL pipelines on a Temporal dev server.

One run measures, on the same data and machine:
- bare: N `sync-engine sync` processes (the physical limit of this work here), `2 x --activities` at a time;
- service: N pipelines created through the HTTP API, from the first POST until every one is `ready`, on two
  `sync-service worker` processes with `--activities` sync activities each (same parallelism);
- the overhead ratio service / bare of those wall times, and per sync (median activity vs median bare run);
- pipelines per worker (from the run history), and the webhook → row latency: one Stripe object per pipeline is
  changed, its signed event POSTed to the API, and the time until the change is in that pipeline's table.
Rounds interleave bare and service runs; figures are medians over rounds.

    uv run python bench/bench_service.py --pipelines 100 --customers 50 --activities 4 --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql
from sync_service import TimingDefaults
from sync_testbed.postgres import start_server
from sync_testbed.stripe_server import FakeStripe, Store, StripeHTTPServer, load_samples, running_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.stripe_server import TEST_KEY  # (the repository root is not on sys.path)
from tests.fixtures.temporal import DevServer
from tests.service.harness import Service, wait_for
from tests.service.pipelines import last_event, stripe_pipeline

SYNC_ENGINE = str(Path(sys.executable).parent / "sync-engine")


def bare_round(stripe: StripeHTTPServer, url: str, count: int, parallel: int, tag: str) -> tuple[float, list[float]]:
    """N `sync-engine sync` runs, `parallel` at a time; returns (wall seconds, each run's seconds)."""
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))

    def one(i: int) -> float:
        body = stripe_pipeline(stripe, url, f"bare_{tag}_{i}", ["customers"])
        pipeline = {
            "name": f"bare-{tag}-{i}",
            "source": body["source"],
            "destination": body["destination"],
            "streams": body["streams"],
            "state": {"store": "file", "path": str(work / "state")},
        }
        path = work / f"p{i}.json"
        path.write_bytes(orjson.dumps(pipeline))
        started = time.monotonic()
        done = subprocess.run(
            [SYNC_ENGINE, "sync", "--pipeline", str(path), "--no-progress"], capture_output=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"bare sync {i} failed: {done.stderr.decode()[-500:]}")
        return time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        durations = list(pool.map(one, range(count)))
    return time.monotonic() - started, durations


def service_round(
    service: Service, stripe: StripeHTTPServer, url: str, count: int, tag: str
) -> tuple[float, list[str], list[str]]:
    """Create N pipelines and wait until all are ready; returns (wall seconds, pipeline ids, their schemas)."""
    schemas = [f"svc_{tag}_{i}" for i in range(count)]
    started = time.monotonic()
    ids = [service.create(stripe_pipeline(stripe, url, schema, ["customers"], chunk_s=300)) for schema in schemas]

    def all_ready() -> bool:
        statuses = {p.id: p.status for p in service.store.all()}
        bad = [i for i in ids if statuses.get(i) == "error"]
        if bad:
            raise RuntimeError(f"pipeline {bad[0]} parked: {service.store.get(bad[0]).status_reason}")
        return all(statuses.get(i) == "ready" for i in ids)

    wait_for("every pipeline to be ready", all_ready, timeout_s=3600, every_s=0.25)
    return time.monotonic() - started, ids, schemas


def webhook_latencies(
    service: Service, stripe: StripeHTTPServer, url: str, ids: list[str], schemas: list[str], customers: list[int]
) -> list[float]:
    """Change customer k for the k-th pipeline, POST its event (all at once), time until its row shows it."""
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    for i in range(len(ids)):
        stripe.api.store.update(f"cus_{customers[i]:010d}", {"name": f"webhook {i}"})
        event = last_event(stripe)
        sent[i] = time.monotonic()
        status, answer = service.webhook(ids[i], event)
        if status != 202:
            raise RuntimeError(f"webhook refused: {answer}")
    with psycopg.connect(url, autocommit=True) as conn:
        while len(arrived) < len(ids):
            for i, schema in enumerate(schemas):
                if i in arrived:
                    continue
                row = conn.execute(
                    sql.SQL("SELECT name FROM {} WHERE id = %s").format(sql.Identifier(schema, "customers")),
                    (f"cus_{customers[i]:010d}",),
                ).fetchone()
                if row is not None and row[0] == f"webhook {i}":
                    arrived[i] = time.monotonic()
            if time.monotonic() - min(sent.values()) > 600:
                raise RuntimeError(f"only {len(arrived)} of {len(ids)} webhooks arrived within 600 s")
            time.sleep(0.05)
    return [arrived[i] - sent[i] for i in range(len(ids))]


def activity_seconds(service: Service, ids: list[str]) -> tuple[list[float], dict[str, int]]:
    """Backfill activity durations, and pipelines per worker (by the worker that ran their backfill)."""
    durations: list[float] = []
    per_worker: dict[str, set[str]] = {}
    for pipeline_id in ids:
        for run in service.store.runs(pipeline_id):
            if run.purpose == "backfill" and run.ended_at is not None:
                durations.append((run.ended_at - run.started_at).total_seconds())
                per_worker.setdefault(run.worker or "?", set()).add(pipeline_id)
    return durations, {worker: len(p) for worker, p in per_worker.items()}


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=100)
    parser.add_argument("--customers", type=int, default=50, help="objects each pipeline syncs")
    parser.add_argument("--activities", type=int, default=4, help="sync activities per worker at once")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--webhooks", type=int, default=20, help="pipelines that get a webhook (all at once)")
    args = parser.parse_args()
    parallel = 2 * args.activities
    postgres = start_server()
    temporal = DevServer()
    api = FakeStripe(Store(load_samples()), keys={TEST_KEY: "ok"})
    api.store.generate("customers", max(args.customers, args.pipelines))
    results: dict[str, list[Any]] = {k: [] for k in ("bare", "service", "bare_runs", "activities", "latency")}
    per_worker: dict[str, int] = {}
    try:
        with running_server(api) as stripe:
            for r in range(args.rounds):
                wall, runs = bare_round(stripe, postgres.url, args.pipelines, parallel, f"r{r}")
                results["bare"].append(wall)
                results["bare_runs"] += runs
                print(f"round {r}: bare {args.pipelines} syncs in {wall:.1f} s", flush=True)
                service = Service(temporal.target, postgres.url, TimingDefaults())
                try:
                    service.start_workers(2, max_activities=args.activities)
                    wall, ids, schemas = service_round(service, stripe, postgres.url, args.pipelines, f"r{r}")
                    results["service"].append(wall)
                    print(f"round {r}: service {args.pipelines} pipelines ready in {wall:.1f} s", flush=True)
                    durations, per_worker = activity_seconds(service, ids)
                    results["activities"] += durations
                    step = max(1, len(ids) // args.webhooks)
                    sample = list(range(0, len(ids), step))[: args.webhooks]
                    results["latency"] += webhook_latencies(
                        service, stripe, postgres.url, [ids[i] for i in sample], [schemas[i] for i in sample], sample
                    )
                finally:
                    service.close()
    finally:
        temporal.stop()
        postgres.stop()
    bare, svc = statistics.median(results["bare"]), statistics.median(results["service"])
    lat = results["latency"]
    print(f"pipelines: {args.pipelines} x {args.customers} customers; 2 workers x {args.activities} activities")
    print(f"bare sync-engine, {parallel} at a time: {bare:.1f} s wall ({args.pipelines / bare:.2f} syncs/s)")
    print(f"service, create → all ready:        {svc:.1f} s wall ({args.pipelines / svc:.2f} pipelines/s)")
    print(f"overhead ratio service / bare (wall): {svc / bare:.2f}")
    print(
        f"per sync: bare median {statistics.median(results['bare_runs']):.2f} s, "
        f"backfill activity median {statistics.median(results['activities']):.2f} s"
    )
    print(f"pipelines per worker: {sorted(per_worker.values())}")
    print(
        f"webhook → row latency: median {statistics.median(lat):.2f} s, p90 {_q(lat, 0.9):.2f} s, max {max(lat):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

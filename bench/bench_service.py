"""Service scale benchmark: two workers share N small Stripe → PostgreSQL pipelines on a Temporal dev server.

One run measures, on the same data and machine, in interleaved rounds:
- bare: `--bare` `sync-engine sync` processes per round (the physical limit of this work here), `2 x --activities`
  at a time;
- service: N / rounds new pipelines per round, created through the HTTP API and timed until every one is
  `ready`, on the same two `sync-service worker` processes (`--activities` sync activities each: the same
  parallelism), which keep every pipeline of earlier rounds (idle in `ready`) as the next round starts;
- the overhead ratio per round: service seconds per pipeline / bare seconds per sync, and its median;
- pipelines per worker (by the worker that ran each backfill), and per worker per minute of service time;
- webhook → row latency once all N are `ready`: one Stripe object per sampled pipeline is changed, its signed
  event POSTed to the API (all at once), and the time until the change is in that pipeline's table.
The load average is printed with each round: the machine is shared, and its load moves every figure.

    uv run python bench/bench_service.py --pipelines 100 --rounds 5 --bare 8 --customers 20 --activities 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import psycopg
from psycopg import sql
from sync_service import TimingDefaults
from sync_testbed.postgres import start_server
from sync_testbed.stripe_server import FakeStripe, Store, StripeHTTPServer, load_samples, running_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (the repository root is not on sys.path)
from tests.fixtures.stripe_server import TEST_KEY
from tests.fixtures.temporal import DevServer
from tests.service.harness import Service, wait_for
from tests.service.pipelines import last_event, stripe_pipeline

SYNC_ENGINE = str(Path(sys.executable).parent / "sync-engine")


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def bare_round(stripe: StripeHTTPServer, url: str, count: int, parallel: int, tag: str) -> float:
    """`count` `sync-engine sync` runs, `parallel` at a time; returns the wall seconds."""
    work = Path(tempfile.mkdtemp(prefix="bench-bare-"))

    def one(i: int) -> None:
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
        done = subprocess.run(
            [SYNC_ENGINE, "sync", "--pipeline", str(path), "--no-progress"], capture_output=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"bare sync {i} failed: {done.stderr.decode()[-500:]}")

    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(count)))
    return time.monotonic() - started


def service_round(
    service: Service, stripe: StripeHTTPServer, url: str, count: int, tag: str
) -> tuple[float, dict[str, str]]:
    """Create `count` pipelines and wait until all are ready; returns (wall seconds, schema by pipeline id)."""
    started = time.monotonic()
    schemas = {}
    for i in range(count):
        schema = f"svc_{tag}_{i}"
        schemas[service.create(stripe_pipeline(stripe, url, schema, ["customers"], chunk_s=300))] = schema
    ids = list(schemas)

    def all_ready() -> bool:
        statuses = {p.id: p.status for p in service.store.all()}
        bad = [i for i in ids if statuses.get(i) == "error"]
        if bad:
            raise RuntimeError(f"pipeline {bad[0]} parked: {service.store.get(bad[0]).status_reason}")
        return all(statuses.get(i) == "ready" for i in ids)

    wait_for("every pipeline to be ready", all_ready, timeout_s=3600, every_s=0.25)
    return time.monotonic() - started, schemas


def webhook_latencies(
    service: Service, stripe: StripeHTTPServer, url: str, ids: list[str], schemas: list[str]
) -> list[float]:
    """Change customer k for the k-th pipeline, POST its event (all at once), time until its row shows it."""
    sent: dict[int, float] = {}
    arrived: dict[int, float] = {}
    for k, pipeline_id in enumerate(ids):
        stripe.api.store.update(f"cus_{k:010d}", {"name": f"webhook {k}"})
        event = last_event(stripe)
        sent[k] = time.monotonic()
        status, answer = service.webhook(pipeline_id, event)
        if status != 202:
            raise RuntimeError(f"webhook refused: {answer}")
    with psycopg.connect(url, autocommit=True) as conn:
        while len(arrived) < len(ids):
            for k, schema in enumerate(schemas):
                if k in arrived:
                    continue
                row = conn.execute(
                    sql.SQL("SELECT name FROM {} WHERE id = %s").format(sql.Identifier(schema, "customers")),
                    (f"cus_{k:010d}",),
                ).fetchone()
                if row is not None and row[0] == f"webhook {k}":
                    arrived[k] = time.monotonic()
            if time.monotonic() - min(sent.values()) > 600:
                raise RuntimeError(f"only {len(arrived)} of {len(ids)} webhooks arrived within 600 s")
            time.sleep(0.05)
    return [arrived[k] - sent[k] for k in range(len(ids))]


def per_worker(service: Service, ids: list[str]) -> dict[str, int]:
    """Pipelines by the worker that ran their (last) backfill attempt."""
    counts: dict[str, int] = {}
    for pipeline_id in ids:
        runs = [r for r in service.store.runs(pipeline_id) if r.purpose == "backfill"]
        worker = runs[-1].worker if runs else None
        counts[worker or "?"] = counts.get(worker or "?", 0) + 1
    return counts


def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=100, help="pipelines the two workers end up sharing")
    parser.add_argument("--rounds", type=int, default=5, help="service batches, each after a bare batch")
    parser.add_argument("--bare", type=int, default=8, help="bare syncs per round")
    parser.add_argument("--customers", type=int, default=20, help="objects each pipeline syncs")
    parser.add_argument("--activities", type=int, default=3, help="sync activities per worker at once")
    parser.add_argument("--webhooks", type=int, default=20, help="pipelines that get a webhook (all at once)")
    args = parser.parse_args()
    parallel = 2 * args.activities
    batch = args.pipelines // args.rounds
    started = time.monotonic()
    print(f"load average at start: {load()}", flush=True)
    postgres = start_server()
    temporal = DevServer()
    api = FakeStripe(Store(load_samples()), keys={TEST_KEY: "ok"})
    api.store.generate("customers", max(args.customers, args.webhooks))
    ratios: list[float] = []
    bare_total = svc_total = 0.0
    schemas: dict[str, str] = {}
    try:
        with running_server(api) as stripe:
            service = Service(temporal.target, postgres.url, TimingDefaults())
            try:
                service.start_workers(2, max_activities=args.activities)
                for r in range(args.rounds):
                    bare = bare_round(stripe, postgres.url, args.bare, parallel, f"r{r}")
                    svc, new = service_round(service, stripe, postgres.url, batch, f"r{r}")
                    schemas.update(new)
                    bare_total, svc_total = bare_total + bare, svc_total + svc
                    ratios.append((svc / batch) / (bare / args.bare))
                    print(
                        f"round {r}: bare {args.bare} syncs {bare:.1f} s ({bare / args.bare:.2f} s each); service "
                        f"{batch} pipelines ready {svc:.1f} s ({svc / batch:.2f} s each, {len(schemas)} hosted); "
                        f"ratio {ratios[-1]:.2f}; load {load()}",
                        flush=True,
                    )
                ids = list(schemas)
                workers = per_worker(service, ids)
                sample = ids[:: max(1, len(ids) // args.webhooks)][: args.webhooks]
                lat = webhook_latencies(service, stripe, postgres.url, sample, [schemas[i] for i in sample])
            finally:
                service.close()
    finally:
        temporal.stop()
        postgres.stop()
    minutes = svc_total / 60
    print(f"pipelines: {len(ids)} x {args.customers} customers; 2 workers x {args.activities} activities")
    print(f"bare sync-engine, {parallel} at a time: {bare_total / (args.rounds * args.bare):.2f} s per sync")
    print(f"service, create → ready:          {svc_total / len(ids):.2f} s per pipeline")
    print(f"overhead ratio service / bare per pipeline: median {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})")  # fmt: skip
    print(
        f"pipelines per worker: {sorted(workers.values())}; per worker per minute: "
        f"{', '.join(f'{n / minutes:.1f}' for n in sorted(workers.values()))}"
    )
    print(
        f"webhook → row latency ({len(lat)} at once, {len(ids)} pipelines hosted): median {statistics.median(lat):.2f}"
        f" s, p90 {_q(lat, 0.9):.2f} s, max {max(lat):.2f} s"
    )
    print(f"load average at end: {load()}; total run time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

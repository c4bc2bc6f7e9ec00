"""Stripe backfill benchmark: how much of the request budget `source-stripe read` uses at Stripe-like latency.

Serves the local fake Stripe API (tests/stripe_server, lazily generated objects, `--latency` added to every
request) in this process, so every request it answers is counted, and runs `source-stripe read` as its own
process. The limit of a read is its binding budget: the account's `--rate`, or an endpoint's `--endpoint-rate` (one
per-parent stream sends almost all its requests to one endpoint), whichever the read uses up first. The physical
ceiling is measured in the same round: a plain keep-alive client, no budget, the same concurrency and latency.
Scenarios run in interleaved rounds; the figure is the median of the rounds.

    uv run python bench/bench_stripe_backfill.py --rounds 3

Scenarios: `five` = full backfill of 5 top-level streams; `parents` = `payment_methods` of `--parents` customers
(one child request per customer) with the default per-endpoint budget; `parents-wide` = the same with the
per-endpoint budget raised to the account's, which shows the fan-out itself can fill the account budget;
`sparse` = one stream whose objects all lie in 4,000 seconds of a range that runs on to today (the empty newest
part must not stop the range from being split), endpoint budget raised to the account's.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from sync_testbed.stripe_server import FakeStripe, Store, load_samples, running_server

ROOT = Path(__file__).resolve().parents[1]

FIVE = ["customers", "charges", "invoices", "payment_intents", "refunds"]


def _read(url: str, streams: list[str], config: dict[str, Any], seconds: float) -> tuple[int, float]:
    """Run one read for at most `seconds`; returns (records, seconds until its last state)."""
    with tempfile.TemporaryDirectory() as tmp:
        catalog = {"streams": [{"name": s, "json_schema": {}, "primary_key": [["id"]]} for s in streams]}
        (Path(tmp) / "c.json").write_bytes(orjson.dumps({"api_base": url, **config}))
        (Path(tmp) / "k.json").write_bytes(orjson.dumps(catalog))
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "source_stripe", "read", "--config", f"{tmp}/c.json", "--catalog", f"{tmp}/k.json"],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        records = 0
        last = started
        for line in proc.stdout:
            if line.startswith(b'{"type":"record"'):
                records += 1
            elif line.startswith(b'{"type":"source_state"'):
                last = time.monotonic()
            if time.monotonic() - started > seconds:
                proc.kill()
                break
        proc.wait()
        proc.stdout.close()
    return records, last - started


def _physical(url: str, path: str, threads: int, seconds: float) -> float:
    """Requests/s a plain keep-alive client (orjson-parsing every page, no budget) gets from the server."""
    base = urlsplit(url)
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(base.hostname or "127.0.0.1", base.port or 80)
        while time.monotonic() < stop:
            conn.request("GET", path, headers={"Authorization": "Bearer sk_test_bench"})
            orjson.loads(conn.getresponse().read())
            counts[n] += 1
        conn.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / seconds


def _use(api: FakeStripe, rate: float, endpoint_rate: float) -> tuple[float, float]:
    """Requests/s of the read and the share of its binding budget in use (the busiest of account and endpoints)."""
    times = list(api.request_times)
    window = times[-1] - times[0]
    endpoints = Counter("/".join("*" if p[-1:].isdigit() else p for p in path.split("/")) for path in api.paths)
    busiest = max(endpoints.values()) / window / endpoint_rate
    return (len(times) - 1) / window, max((len(times) - 1) / window / rate, busiest)


def _scenario(name: str, args: argparse.Namespace) -> dict[str, float]:
    """One round of one scenario on a fresh server: requests/s against its limit."""
    store = Store(load_samples())
    if name == "five":
        for path in FIVE:
            store.generate(path, args.objects)
        streams, endpoint_rate, probe = FIVE, args.endpoint_rate, "/v1/customers?limit=100"
    elif name == "sparse":  # one stream, all objects in 4,000 seconds of a range that runs on to today
        store.generate("customers", args.objects, start=1_600_000_000, end=1_600_004_000)
        streams, endpoint_rate, probe = ["customers"], args.rate, "/v1/customers?limit=100"
    else:
        store.generate("customers", args.parents)
        store.generate("payment_methods", 2 * args.parents)
        streams, probe = ["payment_methods"], "/v1/customers/cus_0000000001/payment_methods?limit=100"
        endpoint_rate = args.endpoint_rate if name == "parents" else args.rate
    api = FakeStripe(store, keys={"sk_test_bench": "ok"})
    api.faults.latency_s = args.latency
    config = {
        "api_key": "sk_test_bench",
        "requests_per_second": args.rate,
        "endpoint_requests_per_second": endpoint_rate,
        "max_concurrency": args.concurrency,
        "start_date": "2015-01-01T00:00:00Z",
    }
    with running_server(api) as server:
        physical = _physical(server.url, probe, args.concurrency, 5.0)
        api.request_times.clear()
        api.paths.clear()
        records, elapsed = _read(server.url, streams, config, args.seconds)
        rate, use = _use(api, args.rate, endpoint_rate)
    # The physical ceiling scales the budget down when this machine cannot serve it at this latency.
    ceiling = min(1.0, physical / args.rate)
    return {
        "records": records,
        "requests": len(api.request_times),
        "req_per_s": rate,
        "physical": physical,
        "use": use,
        "use_of_ceiling": use / ceiling,
        "obj_per_s": records / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=40_000, help="objects per stream in `five`")
    parser.add_argument("--parents", type=int, default=10_000, help="customers in `parents`")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=100.0, help="the account's budget, req/s")
    parser.add_argument("--endpoint-rate", type=float, default=25.0, help="each endpoint's budget, req/s")
    parser.add_argument("--concurrency", type=int, default=32, help="the source's max_concurrency (its default)")
    parser.add_argument("--seconds", type=float, default=25.0, help="stop a read after this long")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="five,parents,parents-wide")
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    results: dict[str, list[dict[str, float]]] = {s: [] for s in scenarios}
    for round_ in range(args.rounds):
        for name in scenarios:  # interleaved: machine drift hits every scenario alike
            result = _scenario(name, args)
            results[name].append(result)
            print(
                f"round {round_ + 1} {name:<13} requests={result['requests']:.0f} "
                f"req/s={result['req_per_s']:.1f} budget use={100 * result['use']:.1f}% "
                f"plain client={result['physical']:.0f} req/s objects/s={result['obj_per_s']:,.0f}",
                flush=True,
            )
    print(f"latency={args.latency * 1000:.0f}ms account budget={args.rate:.0f} req/s concurrency={args.concurrency}")
    for name, rounds in results.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        print(
            f"{name:<13} median of {len(rounds)}: {med['req_per_s']:.1f} req/s, binding budget in use "
            f"{100 * med['use']:.1f}% (of min(budget, plain client {med['physical']:.0f} req/s): "
            f"{100 * med['use_of_ceiling']:.1f}%), objects/s={med['obj_per_s']:,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

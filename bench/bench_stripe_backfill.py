"""Stripe backfill benchmark: source-stripe against the local fake Stripe API with added latency.

Starts `python -m tests.stripe_server` in its own process (scale mode, lazily generated objects), runs
`source-stripe read` with a 50 req/s budget, and reports objects/s and the share of the budget in use.
One `source_state` is written per list page, so pages/s is the request rate of the backfill.

    uv run python bench/bench_stripe_backfill.py --objects 60000 --latency 0.05 --rate 50
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
STREAMS = ["customers", "charges", "invoices", "payment_intents", "refunds"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=60_000, help="objects per stream (server scale)")
    parser.add_argument("--streams", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop the read after this long")
    args = parser.parse_args()
    streams = STREAMS[: args.streams]
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.stripe_server",
            "--port",
            str(port),
            "--scale",
            str(args.objects),
            "--streams",
            ",".join(streams),
            "--latency",
            str(args.latency),
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(port)
        with tempfile.TemporaryDirectory() as tmp:
            config = {
                "api_key": "sk_test_fake",
                "api_base": f"http://127.0.0.1:{port}",
                "requests_per_second": args.rate,
                "max_concurrency": args.concurrency,
                "start_date": "2015-01-01T00:00:00Z",
            }
            catalog = {"streams": [{"name": s, "json_schema": {}, "primary_key": [["id"]]} for s in streams]}
            (Path(tmp) / "c.json").write_bytes(orjson.dumps(config))
            (Path(tmp) / "k.json").write_bytes(orjson.dumps(catalog))
            started = time.monotonic()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "source_stripe",
                    "read",
                    "--config",
                    f"{tmp}/c.json",
                    "--catalog",
                    f"{tmp}/k.json",
                ],
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
            )
            assert proc.stdout is not None
            records = pages = 0
            first_page = last = 0.0
            for line in proc.stdout:
                if line.startswith(b'{"type":"record"'):
                    records += 1
                elif line.startswith(b'{"type":"source_state"'):
                    pages += 1
                    last = time.monotonic()
                    first_page = first_page or last
                if time.monotonic() - started > args.seconds:
                    proc.kill()
                    break
            proc.wait()
            proc.stdout.close()
    finally:
        server.terminate()
        server.wait()
    elapsed = last - started
    request_rate = pages / elapsed
    print(
        f"streams={len(streams)} objects/stream={args.objects} latency={args.latency * 1000:.0f}ms "
        f"budget={args.rate:.0f} req/s concurrency={args.concurrency}"
    )
    print(f"records={records} pages={pages} elapsed={elapsed:.1f}s")
    print(
        f"objects/s={records / elapsed:,.0f}  requests/s={request_rate:.1f}  "
        f"budget in use={100 * request_rate / args.rate:.1f}%  objects/request={records / max(pages, 1):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

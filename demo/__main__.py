"""The main job on embedded defaults: a local Stripe API seeded with generated data → PostgreSQL, live progress.

`python -m demo` starts the fake Stripe server from tests/stripe_server (on 127.0.0.1), a throwaway PostgreSQL
(or uses `DATABASE_URL`), runs `sync-engine sync` with source-stripe → destination-postgres, then checks that every
generated object landed in its table and prints the counts. Exit code: the engine's, or 1 if counts differ.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from tests.fixtures.postgres import start_server

STREAMS = ["customers", "charges", "invoices", "payment_intents", "refunds"]
API_KEY = "sk_test_demo_key_not_secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the local Stripe server did not listen on port {port}")


def _count_rows(url: str, schema: str) -> dict[str, int]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()[0]  # type: ignore[index]
            for name in STREAMS
        }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=2000, help="generated objects per stream")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    port = _free_port()
    database = None if os.environ.get("DATABASE_URL") else start_server()  # first: it may fail to start
    url = os.environ.get("DATABASE_URL") or database.url  # type: ignore[union-attr]
    stripe = subprocess.Popen(
        [sys.executable, "-m", "tests.stripe_server", "--port", str(port), "--scale", str(args.objects),
         "--streams", ",".join(STREAMS), "--key", API_KEY],
    )  # fmt: skip
    try:
        _wait_for_port(port)
        with tempfile.TemporaryDirectory(prefix="sync-demo-") as tmp:
            pipeline = {  # secrets by reference: the engine reads them from its environment
                "name": "stripe-to-postgres",
                "source": {
                    "command": "source-stripe",
                    "config": {
                        "api_key": "${STRIPE_API_KEY}",
                        "api_base": f"http://127.0.0.1:{port}",
                        "requests_per_second": 50,
                    },
                },
                "destination": {
                    "command": "destination-postgres",
                    "config": {"url": "${DATABASE_URL}", "schema": "stripe"},
                },
                "streams": [{"name": name} for name in STREAMS],
                "state": {"store": "file", "path": str(Path(tmp) / "state")},
            }
            path = Path(tmp) / "pipeline.json"
            path.write_bytes(orjson.dumps(pipeline, option=orjson.OPT_INDENT_2))
            output = Path(tmp) / "messages.ndjson"
            flag = "--progress" if args.progress else "--no-progress"
            with output.open("wb") as out:
                engine = shutil.which("sync-engine", path=str(Path(sys.executable).parent)) or "sync-engine"
                env = {**os.environ, "STRIPE_API_KEY": API_KEY, "DATABASE_URL": url}
                command = [engine, "sync", "--pipeline", str(path), flag]
                code = subprocess.run(command, stdout=out, env=env).returncode
            lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
            for message in lines:
                if message["type"] == "error":
                    print(f"error: {message['error']['message']}")
            end = lines[-1].get("end", {}) if lines else {}
            progress = end.get("run_progress") or {}
            print(
                f"sync {end.get('status')}: {progress.get('record_count', 0):,} records in "
                f"{progress.get('elapsed_s', 0):.1f} s ({progress.get('records_per_s', 0):,.0f} records/s)"
            )
        counts = _count_rows(url, "stripe")
        for name, count in counts.items():
            print(f"  stripe.{name:<16} {count:>8,} rows")
        if code == 0 and any(count != args.objects for count in counts.values()):
            print(f"expected {args.objects:,} rows in every table")
            return 1
        return code
    finally:
        stripe.terminate()
        stripe.wait(timeout=10)
        if database is not None:
            database.stop()


if __name__ == "__main__":
    sys.exit(main())

"""The main job on embedded defaults: a local Stripe API seeded with generated data → PostgreSQL, live progress.

`python -m demo` starts the fake Stripe server from tests/stripe_server (on 127.0.0.1), a throwaway PostgreSQL
(or uses `DATABASE_URL`), runs `sync-engine sync` with source-stripe → destination-postgres, then checks that every
generated object landed in its table and prints the counts. Exit code: the engine's, or 1 if counts differ.

`python -m demo --destination sheets` writes to Google Sheets instead: the local fake Sheets API of
tests/sheets_server with a generated service account; `setup` creates the spreadsheet and the engine stores its id
in the destination's config file. The counts are read back through the Sheets API.
"""

from __future__ import annotations

import argparse
import os
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


def _wait_for_port(port: int, timeout_s: float = 30.0, what: str = "the local Stripe server") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


def _count_tab_rows(config_path: Path) -> dict[str, int]:
    from destination_google_sheets import SheetsClient, SheetsConfig

    client = SheetsClient(SheetsConfig.model_validate(orjson.loads(config_path.read_bytes())))
    return {name: len(client.values_get(f"'{name}'!A2:A")) for name in STREAMS}


def _start_sheets(tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """The fake Sheets API on a free port, and a destination config file for it (no spreadsheet yet)."""
    port = _free_port()
    key_file = tmp / "service-account.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.sheets_server", "--port", str(port), "--key-file", str(key_file)]
    )
    _wait_for_port(port, what="the local Sheets API")
    deadline = time.monotonic() + 10
    while not key_file.exists() and time.monotonic() < deadline:  # written right after the port opens
        time.sleep(0.02)
    config = {"service_account_json": key_file.read_text(), "api_endpoint": f"http://127.0.0.1:{port}"}
    config_path = tmp / "sheets.json"
    config_path.write_bytes(orjson.dumps({**config, "spreadsheet_title": "Stripe demo"}))
    return server, config_path


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
    parser.add_argument("--destination", choices=["postgres", "sheets"], default="postgres", help="where the data goes")
    args = parser.parse_args()

    port = _free_port()
    stripe = subprocess.Popen(
        [sys.executable, "-m", "tests.stripe_server", "--port", str(port), "--scale", str(args.objects),
         "--streams", ",".join(STREAMS), "--key", API_KEY],
    )  # fmt: skip
    sheets: subprocess.Popen[bytes] | None = None
    database = None
    try:
        with tempfile.TemporaryDirectory(prefix="sync-demo-") as tmp:
            if args.destination == "sheets":
                sheets, sheets_config = _start_sheets(Path(tmp))
                destination: dict[str, object] = {"command": "destination-google-sheets", "config": str(sheets_config)}
            else:
                database = None if os.environ.get("DATABASE_URL") else start_server()
                url = os.environ.get("DATABASE_URL") or database.url  # type: ignore[union-attr]
                destination = {"command": "destination-postgres", "config": {"url": url, "schema": "stripe"}}
            _wait_for_port(port)
            pipeline = {
                "name": f"stripe-to-{args.destination}",
                "source": {
                    "command": "source-stripe",
                    "config": {"api_key": API_KEY, "api_base": f"http://127.0.0.1:{port}", "requests_per_second": 50},
                },
                "destination": destination,
                "streams": [{"name": name} for name in STREAMS],
                "state": {"store": "file", "path": str(Path(tmp) / "state")},
            }
            path = Path(tmp) / "pipeline.json"
            path.write_bytes(orjson.dumps(pipeline, option=orjson.OPT_INDENT_2))
            output = Path(tmp) / "messages.ndjson"
            flag = "--progress" if args.progress else "--no-progress"
            with output.open("wb") as out:
                code = subprocess.run(["sync-engine", "sync", "--pipeline", str(path), flag], stdout=out).returncode
            lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
            for message in lines:
                if message["type"] == "error":
                    print(f"error: {message['error']['message']}")
            end = lines[-1].get("end", {}) if lines else {}
            progress = end.get("request_progress") or {}
            print(
                f"sync {end.get('status')}: {progress.get('record_count', 0):,} records in "
                f"{progress.get('elapsed_s', 0):.1f} s ({progress.get('records_per_s', 0):,.0f} records/s)"
            )
            if sheets is not None:
                counts = _count_tab_rows(sheets_config)
                where = "tab "
            else:
                counts = _count_rows(url, "stripe")
                where = "stripe."
        for name, count in counts.items():
            print(f"  {where}{name:<16} {count:>8,} rows")
        if code == 0 and any(count != args.objects for count in counts.values()):
            print(f"expected {args.objects:,} rows in every {'tab' if sheets else 'table'}")
            return 1
        return code
    finally:
        stripe.terminate()
        stripe.wait(timeout=10)
        if sheets is not None:
            sheets.terminate()
            sheets.wait(timeout=10)
        if database is not None:
            database.stop()


if __name__ == "__main__":
    sys.exit(main())

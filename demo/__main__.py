"""The main job on embedded defaults: a local Stripe API seeded with generated data → PostgreSQL, live progress.

`python -m demo` starts a throwaway PostgreSQL (or uses `DATABASE_URL`) and, meanwhile, the local Stripe API of
`sync_testbed` (on 127.0.0.1), runs `sync-engine sync` with source-stripe → destination-postgres, then checks that
every generated object landed in its table and prints the counts. Exit code: the engine's, or 1 if counts differ.
Secrets reach the engine as environment variables (`STRIPE_API_KEY`, `DATABASE_URL`) that the pipeline file names
as `${VAR}`, never on a command line.

`python -m demo --destination sheets` (with the `sheets` dependency group) writes to Google Sheets instead: the
local fake Sheets API of `sync_testbed` with a generated service account whose key file `GOOGLE_APPLICATION_CREDENTIALS`
names (Google's convention, which the engine's `--google-credentials` shorthand reads); `setup` creates the
spreadsheet and reports its id in a `control` message. The counts are read back through the Sheets API.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import orjson
from sync_testbed import free_port, wait_for_port
from sync_testbed.postgres import LocalServer, PgServer, start_server

STREAMS = ["customers", "charges", "invoices", "payment_intents", "refunds"]
API_KEY = "sk_test_demo_key_not_secret"
SHEETS_COMMAND = "python3 -m uv run --frozen --no-dev --group sheets python -m demo --destination sheets"


@contextmanager
def _serving(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A server process for the duration of the block, terminated after it."""
    process = subprocess.Popen(argv)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _start_database(stack: ExitStack) -> Callable[[], str]:
    """Start a throwaway database in the background (stopped with `stack`) unless `DATABASE_URL` is set.

    Returns a function that waits for the database's URL.
    """
    given = os.environ.get("DATABASE_URL")
    if given:
        return lambda: given
    started = stack.enter_context(ThreadPoolExecutor(1)).submit(start_server)
    stack.callback(_stop_database, started)
    return lambda: started.result().url


def _stop_database(started: Future[LocalServer | PgServer]) -> None:
    """Stop the throwaway database once it has started (a start that failed has nothing to stop)."""
    if started.exception() is None:
        started.result().stop()


def _start_sheets(tmp: Path, stack: ExitStack) -> tuple[Path, str]:
    """The fake Sheets API on a free port: its service account's key file, and its endpoint."""
    port = free_port()
    key_file = tmp / "service-account.json"
    stack.enter_context(
        _serving([sys.executable, "-m", "sync_testbed.sheets_server", "--port", str(port), "--key-file", str(key_file)])
    )
    wait_for_port(port, "the local Sheets API")
    deadline = time.monotonic() + 10
    while not key_file.exists() and time.monotonic() < deadline:  # written right after the port opens
        time.sleep(0.02)
    return key_file, f"http://127.0.0.1:{port}"


def _created_spreadsheet(output: Path) -> str:
    """The id of the spreadsheet `setup` created, from the `control` message in the engine's NDJSON."""
    for line in output.read_bytes().splitlines():
        message = orjson.loads(line)
        if message["type"] == "control":
            return str(message["control"]["config"]["spreadsheet_id"])
    raise RuntimeError("the engine reported no created spreadsheet")


def _count_tab_rows(spreadsheet_id: str, endpoint: str, key_file: Path) -> dict[str, int]:
    from destination_google_sheets import SheetsClient, SheetsConfig

    config = {"service_account_json": key_file.read_text(), "api_endpoint": endpoint, "spreadsheet_id": spreadsheet_id}
    client = SheetsClient(SheetsConfig.model_validate(config))
    return {name: len(client.values_get(f"'{name}'!A2:A")) for name in STREAMS}


def _count_rows(url: str, schema: str) -> dict[str, int]:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name))).fetchone()[0]  # type: ignore[index]
            for name in STREAMS
        }


def _report(output: Path, code: int) -> None:
    """The run's errors and throughput, from the engine's NDJSON."""
    lines = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    for message in lines:
        if message["type"] == "error":
            print(f"error: {message['error']['message']}")
    end = lines[-1].get("end") if lines else None
    if end is None:
        print(f"the engine stopped before it finished a sync (exit code {code}); its stderr above says why")
        return
    progress = end.get("request_progress") or {}
    print(
        f"sync {end.get('status')}: {progress.get('record_count', 0):,} records in "
        f"{progress.get('elapsed_s', 0):.1f} s ({progress.get('records_per_s', 0):,.0f} records/s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=2000, help="generated objects per stream")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--destination", choices=["postgres", "sheets"], default="postgres", help="where the data goes")
    args = parser.parse_args()
    sheets = args.destination == "sheets"
    if sheets and importlib.util.find_spec("destination_google_sheets") is None:
        print(f"the Sheets variant needs the `sheets` dependency group: {SHEETS_COMMAND}", file=sys.stderr)
        return 2

    env = {**os.environ, "STRIPE_API_KEY": API_KEY}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sync-demo-")))
        # first: creating the database is the slow part, the Stripe server starts meanwhile
        database_url = None if sheets else _start_database(stack)
        port = free_port()
        stripe = [sys.executable, "-m", "sync_testbed.stripe_server", "--port", str(port), "--scale",
                  str(args.objects), "--streams", ",".join(STREAMS), "--key", API_KEY]  # fmt: skip
        stack.enter_context(_serving(stripe))
        destination_flags: list[str] = []
        pipeline: dict[str, object] = {}
        if sheets:  # the shorthand a user types: the key file from $GOOGLE_APPLICATION_CREDENTIALS
            key_file, endpoint = _start_sheets(tmp, stack)
            env["GOOGLE_APPLICATION_CREDENTIALS"] = str(key_file)
            destination_flags = ["--google-credentials", "--sheets-api-endpoint", endpoint]
        else:
            assert database_url is not None
            env["DATABASE_URL"] = url = database_url()
            config = {"url": "${DATABASE_URL}", "schema": "stripe"}
            pipeline["destination"] = {"command": "destination-postgres", "config": config}
        wait_for_port(port, "the local Stripe API")
        pipeline |= {
            "name": f"stripe-to-{args.destination}",
            "source": {
                "command": "source-stripe",
                "config": {
                    "api_key": "${STRIPE_API_KEY}",
                    "api_base": f"http://127.0.0.1:{port}",
                    "requests_per_second": 50,
                },
            },
            "streams": [{"name": name} for name in STREAMS],
            "state": {"store": "file", "path": str(tmp / "state")},
        }
        path = tmp / "pipeline.json"
        path.write_bytes(orjson.dumps(pipeline, option=orjson.OPT_INDENT_2))
        output = tmp / "messages.ndjson"
        flag = "--progress" if args.progress else "--no-progress"
        with output.open("wb") as out:
            engine = [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(path), *destination_flags, flag]
            code = subprocess.run(engine, stdout=out, env=env).returncode
        _report(output, code)
        if code != 0:  # nothing to verify: the engine said what went wrong
            return code
        if sheets:
            counts = _count_tab_rows(_created_spreadsheet(output), endpoint, key_file)
        else:
            counts = _count_rows(url, "stripe")
    where = "tab " if sheets else "stripe."
    for name, count in counts.items():
        print(f"  {where}{name:<16} {count:>8,} rows")
    if any(count != args.objects for count in counts.values()):
        print(f"expected {args.objects:,} rows in every {'tab' if sheets else 'table'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

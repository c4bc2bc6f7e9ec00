"""Google Sheets destination against the local fake: requests per 10,000 upserted rows, rows/s at added latency.

Usage: uv run python bench/bench_sheets.py [--rows 20000] [--latency 0.1] [--fixtures PATH/fixtures3.json]

Rows are Stripe-shaped customers and charges (the `customer` and `charge` samples of Stripe's fixtures file, half
each, unique ids), fed to `destination-google-sheets write` as an NDJSON file in which the two streams alternate
in pages of 100 records with a checkpoint per page, as source-stripe emits them. The fake Sheets API runs in this
process (its own threads) and counts every request. Scenarios: a first load into empty tabs (no added latency,
then 100 ms added to every request), a re-run of the same input (must write nothing), and an update run (10% of
the rows changed, 1% deleted). The connector runs with its default budgets (60 writes and 60 reads a minute).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sync_testbed.sheets_server import FakeSheets, running_server

from bench.stripe_shapes import DEFAULT_FIXTURES, load_shapes, make_object  # (the repository root is not on sys.path)

PAGE = 100
WRITER = [sys.executable, "-m", "destination_google_sheets"]
STREAMS = {"customers": "customer", "charges": "charge"}


def catalog(shapes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Both streams upserted by id, every top-level field of the sample a column."""
    return {
        "streams": [
            {
                "name": stream,
                "json_schema": {"type": "object", "properties": {k: {} for k in shapes[shape]}},
                "primary_key": [["id"]],
                "destination_sync_mode": "append_dedup",
            }
            for stream, shape in STREAMS.items()
        ]
    }


def feed(shapes: dict[str, dict[str, Any]], rows: int, *, edits: bool = False) -> bytes:
    """The NDJSON input: pages of 100 per stream in turn, a state after each.

    With `edits`: only every 10th row, changed, and a tombstone for every 100th (+1) row.
    """
    per_stream = rows // len(STREAMS)
    out: list[bytes] = []
    for start in range(0, per_stream, PAGE):
        for stream, shape in STREAMS.items():
            for i in range(start, min(start + PAGE, per_stream)):
                obj = make_object(shapes[shape], i)
                if edits and i % 100 == 1:
                    out.append(_line("record", {"stream": stream, "data": {"id": obj["id"]}, "deleted": True}))
                elif edits and i % 10 == 0:
                    obj["description"] = f"changed {i}"
                    out.append(_line("record", {"stream": stream, "data": obj}))
                elif not edits:
                    out.append(_line("record", {"stream": stream, "data": obj}))
            out.append(_line("source_state", {"state_type": "stream", "stream": stream, "data": {"next": start}}))
    return b"".join(out)


def _line(kind: str, payload: dict[str, Any]) -> bytes:
    if kind == "record":
        payload = {**payload, "emitted_at": "2024-01-01T00:00:00Z"}
    return orjson.dumps({"type": kind, kind: payload}) + b"\n"


def run_writer(tmp: Path, config: dict[str, Any], cat: dict[str, Any], data: bytes) -> float:
    """Seconds `destination-google-sheets write` took over `data` (fails loudly on a non-zero exit)."""
    (tmp / "config.json").write_bytes(orjson.dumps(config))
    (tmp / "catalog.json").write_bytes(orjson.dumps(cat))
    (tmp / "input.ndjson").write_bytes(data)
    argv = [*WRITER, "write", "--config", str(tmp / "config.json"), "--catalog", str(tmp / "catalog.json")]
    started = time.perf_counter()
    with (tmp / "input.ndjson").open("rb") as stdin:
        done = subprocess.run(argv, stdin=stdin, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"writer failed ({done.returncode}): {done.stdout[-2000:]!r} {done.stderr[-2000:]!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows in all (half customers, half charges)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every request")
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args()
    shapes = load_shapes(args.fixtures)
    shapes = {"customer": shapes["customer"], "charge": shapes["charge"]}
    cat = catalog(shapes)
    first = feed(shapes, args.rows)
    updates = feed(shapes, args.rows, edits=True)
    print(f"{args.rows:,} rows, {len(first) / 1e6:.1f} MB of input; {len(updates.splitlines()):,} lines of edits")
    print("| scenario | added latency | elapsed | rows/s | reads | writes | requests per 10,000 rows |")
    print("|---|---|---|---|---|---|---|")
    with running_server(FakeSheets()) as server, tempfile.TemporaryDirectory() as tmp:
        api = server.api
        key = api.auth.service_account(server.token_uri)
        base = {"service_account_json": orjson.dumps(key).decode(), "api_endpoint": server.url}

        def scenario(name: str, sid: str, data: bytes, latency: float, rows: int) -> None:
            api.faults.latency_s = latency
            api.reset_calls()
            elapsed = run_writer(Path(tmp), {**base, "spreadsheet_id": sid}, cat, data)
            reads, writes = api.count(write=False), api.count(write=True)
            per = (reads + writes) * 10_000 / rows
            print(
                f"| {name} | {latency * 1000:.0f} ms | {elapsed:.1f} s | {rows / elapsed:,.0f} | {reads} | {writes} "
                f"| {per:.1f} |"
            )

        fast = api.create_spreadsheet()
        scenario("first load", fast, first, 0.0, args.rows)
        scenario("re-run, same data", fast, first, 0.0, args.rows)
        edited = args.rows // 10 + args.rows // 100
        scenario("10% changed, 1% deleted", fast, updates, 0.0, edited)
        slow = api.create_spreadsheet()
        scenario("first load", slow, first, args.latency, args.rows)
        scenario("re-run, same data", slow, first, args.latency, args.rows)
        for title in STREAMS:
            assert len(api.values(fast, title)) - 1 == args.rows // 2 - args.rows // 200, title
            assert len(api.values(slow, title)) - 1 == args.rows // 2, title
    return 0


if __name__ == "__main__":
    sys.exit(main())

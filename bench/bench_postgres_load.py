"""Postgres loading: raw COPY of Stripe-shaped rows vs `destination-postgres write` on the same server.

Usage: uv run python bench/bench_postgres_load.py --fixtures PATH/fixtures3.json [--records 200000] [--url URL]

Customers and charges are shaped like the `customer` and `charge` samples of Stripe's fixtures file (read at run
time), half each, with unique ids. The writer is fed an NDJSON file in which the two streams alternate in pages
of 100 records with a checkpoint after each page, as a Stripe source reading both streams at once emits them.
The raw baseline COPYs the very same final rows (typed columns + raw jsonb), encoded beforehand, into empty
tables of the same shape, one connection per stream: the physical limit of loading them.
Without --url (or DATABASE_URL) a throwaway server is started as the test fixtures do.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.postgres import start_server  # (the repository root is not on sys.path)

PAGE = 100
WRITER = [sys.executable, "-m", "destination_postgres"]


def infer_schema(sample: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema from one sample object (nulls say nothing about the type: they stay untyped)."""

    def kind(value: Any) -> dict[str, Any]:
        if isinstance(value, bool):
            return {"type": ["boolean", "null"]}
        if isinstance(value, int):
            return {"type": ["integer", "null"]}
        if isinstance(value, float):
            return {"type": ["number", "null"]}
        if isinstance(value, str):
            return {"type": ["string", "null"]}
        if isinstance(value, dict):
            return {"type": ["object", "null"]}
        if isinstance(value, list):
            return {"type": ["array", "null"]}
        return {}

    return {"type": "object", "properties": {k: kind(v) for k, v in sample.items()}}


def make_records(sample: dict[str, Any], prefix: str, count: int) -> list[bytes]:
    """`count` copies of `sample` with unique ids and varying numbers, as encoded `data` objects."""
    out = []
    for i in range(count):
        data = dict(sample)
        data["id"] = f"{prefix}_{i:010d}"
        data["created"] = 1_700_000_000 + i
        for key in ("amount", "amount_captured", "balance"):
            if key in data:
                data[key] = i % 100_000
        out.append(orjson.dumps(data))
    return out


def write_input(path: Path, streams: dict[str, list[bytes]]) -> None:
    """NDJSON for `write`: streams alternating in pages of 100, a checkpoint after each page."""
    with path.open("wb") as out:
        names = list(streams)
        longest = max(len(v) for v in streams.values())
        for start in range(0, longest, PAGE):
            for name in names:
                page = streams[name][start : start + PAGE]
                if not page:
                    continue
                for data in page:
                    out.write(
                        b'{"type":"record","record":{"stream":"%s","data":%s,"emitted_at":"2024-01-01T00:00:00Z"}}\n'
                        % (name.encode(), data)
                    )
                state = {"stream": name, "state_type": "stream", "data": {"after": start + len(page)}}
                out.write(orjson.dumps({"type": "source_state", "source_state": state}) + b"\n")


def copy_text(value: Any, kind: str) -> bytes:
    """One value in COPY text format for a column of `kind` (the baseline's client-side encoding)."""
    if value is None:
        return b"\\N"
    if kind == "jsonb":
        text = orjson.dumps(value)
    elif kind == "boolean":
        return b"t" if value else b"f"
    elif isinstance(value, str):
        text = value.encode()
    else:
        text = orjson.dumps(value)
    return text.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\t", b"\\t")


def encode_raw(records: list[bytes], columns: list[tuple[str, str]]) -> bytes:
    """The final rows (typed columns, then the raw jsonb) as COPY text, for the baseline."""
    lines = []
    for line in records:
        data = orjson.loads(line)
        cells = [copy_text(data.get(name), kind) for name, kind in columns]
        cells.append(copy_text(data, "jsonb"))
        lines.append(b"\t".join(cells))
    return b"\n".join(lines) + b"\n"


def table_columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass"
        " AND attnum > 0 AND NOT attisdropped AND attname NOT LIKE '\\_sync\\_%%' ORDER BY attnum",
        [sql.Identifier(schema, table).as_string(conn)],
    ).fetchall()
    return [(name, kind) for name, kind in rows]


def raw_copy(url: str, schema: str, payloads: dict[str, tuple[list[tuple[str, str]], bytes]]) -> float:
    """COPY every stream's pre-encoded rows into its table over one connection per stream; seconds taken."""

    def load(table: str, columns: list[tuple[str, str]], payload: bytes) -> None:
        with psycopg.connect(url) as conn:
            conn.execute("SET default_toast_compression = lz4")
            names = sql.SQL(", ").join([sql.Identifier(n) for n, _ in columns] + [sql.Identifier("_sync_raw")])
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(schema, table), names)
            with conn.cursor() as cur, cur.copy(statement) as copy:
                view = memoryview(payload)
                for start in range(0, len(view), 1 << 20):
                    copy.write(view[start : start + (1 << 20)])
            conn.commit()

    threads = [threading.Thread(target=load, args=(t, c, p)) for t, (c, p) in payloads.items()]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def run_writer(config: dict[str, Any], catalog: dict[str, Any], input_path: Path, tmp: Path) -> tuple[float, int, int]:
    """Run `destination-postgres write` on the input file; (seconds, echoed states, peak RSS in KiB)."""
    (tmp / "config.json").write_bytes(orjson.dumps(config))
    (tmp / "catalog.json").write_bytes(orjson.dumps(catalog))
    argv = [*WRITER, "write", "--config", str(tmp / "config.json"), "--catalog", str(tmp / "catalog.json")]
    with input_path.open("rb") as stdin:
        started = time.perf_counter()
        out_path, err_path = tmp / "out.ndjson", tmp / "err.txt"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=err)
            peak = 0
            while process.poll() is None:  # VmHWM is the process's own peak (ru_maxrss would include our fork)
                peak = max(peak, _vm_hwm_kib(process.pid))
                time.sleep(0.05)
        seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"writer failed ({process.returncode}): {err_path.read_text()[-2000:]}")
    states = out_path.read_bytes().count(b'"type":"source_state"')
    return seconds, states, peak


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def count_rows(url: str, schema: str, tables: list[str]) -> int:
    with psycopg.connect(url) as conn:
        total = 0
        for table in tables:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
            total += row[0] if row else 0
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", required=True, help="Stripe's fixtures3.json")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()

    resources = orjson.loads(Path(args.fixtures).read_bytes())["resources"]
    samples = {"customers": resources["customer"], "charges": resources["charge"]}
    half = args.records // 2
    streams = {name: make_records(sample, name[:3], half) for name, sample in samples.items()}
    catalog = {
        "streams": [
            {
                "name": name,
                "json_schema": infer_schema(sample),
                "primary_key": [["id"]],
                "destination_sync_mode": "append_dedup",
            }
            for name, sample in samples.items()
        ]
    }
    server = None if args.url else start_server()
    url = args.url or server.url  # type: ignore[union-attr]
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp_name:
            tmp = Path(tmp_name)
            input_path = tmp / "input.ndjson"
            write_input(input_path, streams)
            size_mb = input_path.stat().st_size / 1e6

            # Baseline: tables created by the connector's own setup, then filled by bare COPY.
            base_config = {"url": url, "schema": "bench_raw"}
            (tmp / "c.json").write_bytes(orjson.dumps(base_config))
            (tmp / "k.json").write_bytes(orjson.dumps(catalog))
            subprocess.run(
                [*WRITER, "setup", "--config", str(tmp / "c.json"), "--catalog", str(tmp / "k.json")],
                check=True,
                capture_output=True,
            )
            with psycopg.connect(url) as conn:
                payloads = {}
                for name, records in streams.items():
                    columns = table_columns(conn, "bench_raw", name)
                    payloads[name] = (columns, encode_raw(records, columns))
            raw_s = raw_copy(url, "bench_raw", payloads)
            assert count_rows(url, "bench_raw", list(streams)) == 2 * half
            del payloads

            config = {"url": url, "schema": "bench_writer"}
            write_s, states, rss = run_writer(config, catalog, input_path, tmp)
            assert count_rows(url, "bench_writer", list(streams)) == 2 * half
            again_s, _, _ = run_writer(config, catalog, input_path, tmp)
    finally:
        if server is not None:
            server.stop()

    total = 2 * half
    raw_rate, write_rate = total / raw_s, total / write_s
    print(f"records: {total} ({half} customers + {half} charges), input {size_mb:.0f} MB NDJSON")
    print(f"raw COPY, {len(streams)} connections: {raw_s:6.2f} s  {raw_rate:8.0f} rows/s")
    print(
        f"destination-postgres write:     {write_s:6.2f} s  {write_rate:8.0f} rows/s"
        f"  = {100 * write_rate / raw_rate:.0f}% of raw; {states} states echoed; peak RSS {rss / 1024:.0f} MB"
    )
    print(f"re-run of the same input (no-op upserts): {again_s:6.2f} s  {total / again_s:8.0f} rows/s")


if __name__ == "__main__":
    main()

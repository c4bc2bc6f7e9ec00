"""Postgres loading: `destination-postgres write` against raw COPY of the same rows over as many connections.

Usage: uv run python bench/bench_postgres_load.py [--fixtures PATH/fixtures3.json] [--records 100000]
       [--streams 2,4] [--rounds 5] [--url URL] [--projection]

Records are shaped like Stripe's `customer`, `charge`, `invoice` and `payment_intent` samples (read from the
fixtures file at run time; by default the one the local Stripe server of `sync_testbed` ships), split evenly over
the streams, with unique ids. The writer is fed an NDJSON file in which the streams alternate in pages of 100
records with a checkpoint after each page, as a source reading them at once emits them, `append_dedup` into empty
tables, `parallel_streams` = the number of streams. The raw baseline COPYs the very same final rows (typed columns
+ raw jsonb, encoded beforehand, untimed) into empty tables of the same shape (made by the connector's `setup`),
one connection per stream: the physical limit.

Each round runs raw COPY, the writer, and the writer again on the same input (a no-op re-run), in that order,
each into fresh schemas; the figures are medians over the rounds, the ratio the median of per-round ratios.
The writer runs with its bytecode cached, as an installed package does (one untimed start first), and the row
counts its `stats` messages report are checked: all inserted by the load, nothing changed by the re-run.
Raw COPY is timed from connecting with its rows at hand; the writer from the first byte of input, fed through a
pipe once it has started up (in a sync it starts beside the source, whose first request hides its start-up).
The writer's whole process time, start-up included, is reported beside it.
`--projection` also compares, in process and on the same connections, the two ways of getting typed columns:
PostgreSQL projecting them from the jsonb it parses anyway (what the writer does) against msgspec decoding the
typed fields on the client and COPYing them as columns.
Without --url (or DATABASE_URL) a throwaway server is started (`sync_testbed.postgres`).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson
import psycopg
from psycopg import sql
from sync_protocol.sdk import RawRecord, decode_raw_record
from sync_testbed.postgres import start_server
from sync_testbed.stripe_server import FIXTURES

PAGE = 100
WRITER = [sys.executable, "-m", "destination_postgres"]
SAMPLES = {"customers": "customer", "charges": "charge", "invoices": "invoice", "payment_intents": "payment_intent"}


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
        for key in ("amount", "amount_captured", "balance", "amount_due", "total"):
            if key in data:
                data[key] = i % 100_000
        out.append(orjson.dumps(data))
    return out


def record_line(stream: str, data: bytes) -> bytes:
    return b'{"type":"record","record":{"stream":"%s","data":%s,"emitted_at":"2024-01-01T00:00:00Z"}}\n' % (
        stream.encode(),
        data,
    )


def write_input(path: Path, streams: dict[str, list[bytes]]) -> None:
    """NDJSON for `write`: streams alternating in pages of 100, a checkpoint after each page."""
    with path.open("wb") as out:
        longest = max(len(v) for v in streams.values())
        for start in range(0, longest, PAGE):
            for name, records in streams.items():
                page = records[start : start + PAGE]
                if not page:
                    continue
                out.write(b"".join(record_line(name, data) for data in page))
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


def in_threads(work: Callable[[str], None], names: list[str]) -> float:
    """Run `work(name)` on one thread per name; seconds until all are done."""
    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def raw_copy(url: str, schema: str, payloads: dict[str, tuple[list[tuple[str, str]], bytes]]) -> float:
    """COPY every stream's pre-encoded rows into its table over one connection per stream; seconds taken."""

    def load(table: str) -> None:
        columns, payload = payloads[table]
        with psycopg.connect(url) as conn:
            conn.execute("SET default_toast_compression = lz4")
            names = sql.SQL(", ").join([sql.Identifier(n) for n, _ in columns] + [sql.Identifier("_sync_raw")])
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(schema, table), names)
            with conn.cursor() as cur, cur.copy(statement) as copy:
                view = memoryview(payload)
                for start in range(0, len(view), 1 << 20):
                    copy.write(view[start : start + (1 << 20)])
            conn.commit()

    return in_threads(load, list(payloads))


@dataclass
class WriterRun:
    seconds: float
    """From the first byte of input to the writer's exit (its start-up done before, as beside a source)."""
    whole_s: float
    """From spawning the writer to its exit (start-up included)."""
    states: int
    """States echoed."""
    peak_kib: int
    cpu_s: float
    inserted: int
    """Rows the writer's `stats` messages say it inserted (updated: updated)."""
    updated: int


WRITER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""The writer runs as an installed package does: with its bytecode cached (compiling it is no part of a load)."""


def warm_up_writer() -> None:
    """One untimed start, which caches the writer's bytecode."""
    subprocess.run([*WRITER, "spec"], check=True, capture_output=True, env=WRITER_ENV)


def run_writer(config: dict[str, Any], catalog: dict[str, Any], input_path: Path, tmp: Path, url: str) -> WriterRun:
    """Run `destination-postgres write` on the input file, fed through a pipe once the writer has started up.

    In a sync the destination starts beside the source, so its start-up overlaps the source's first request;
    the load is timed from the first byte of input, as raw COPY is timed with its rows at hand (its client's
    start-up, imports and encoding untimed). The whole process time is reported beside it."""
    (tmp / "config.json").write_bytes(orjson.dumps(config))
    (tmp / "catalog.json").write_bytes(orjson.dumps(catalog))
    argv = [*WRITER, "write", "--config", str(tmp / "config.json"), "--catalog", str(tmp / "catalog.json")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out_path, err_path = tmp / "out.ndjson", tmp / "err.txt"
    read_end, write_end = os.pipe()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        spawned = time.perf_counter()
        process = subprocess.Popen(argv, stdin=read_end, stdout=out, stderr=err, env=WRITER_ENV)
        os.close(read_end)
        _wait_until_ready(url, config["schema"], [s["name"] for s in catalog["streams"]], process)
        peak = [0]
        watcher = threading.Thread(target=_watch_peak, args=(process, peak), daemon=True)
        watcher.start()
        started = time.perf_counter()
        with input_path.open("rb") as data:
            while os.splice(data.fileno(), write_end, 1 << 20):  # file to pipe in the kernel
                pass
        os.close(write_end)
        process.wait()
        ended = time.perf_counter()
        watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"writer failed ({process.returncode}): {err_path.read_text()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    states = inserted = updated = 0
    for line in out_path.read_bytes().splitlines():
        message = orjson.loads(line)
        if message["type"] == "source_state":
            states += 1
        elif message["type"] == "stats":
            inserted += message["stats"].get("inserted_count", 0)
            updated += message["stats"].get("updated_count", 0)
    return WriterRun(ended - started, ended - spawned, states, peak[0], cpu, inserted, updated)


def _wait_until_ready(url: str, schema: str, tables: list[str], process: subprocess.Popen[bytes]) -> None:
    """Until the writer has made its tables and its connection is idle (waiting for input), plus 0.2 s."""
    with psycopg.connect(url, autocommit=True) as conn:
        while process.poll() is None:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = ANY(%s)),"
                " (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'destination-postgres'"
                " AND state = 'idle')",
                [schema, tables],
            ).fetchone()
            if row is not None and row[0] == len(tables) and row[1] > 0:
                time.sleep(0.2)
                return
            time.sleep(0.02)


def _watch_peak(process: subprocess.Popen[bytes], peak: list[int]) -> None:
    """VmHWM is the process's own peak (ru_maxrss would include our fork)."""
    while process.poll() is None:
        peak[0] = max(peak[0], _vm_hwm_kib(process.pid))
        time.sleep(0.05)


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_cpu_s(url: str) -> float:
    """CPU seconds of the server's exited backends so far (the postmaster's children), 0 if unreadable."""
    time.sleep(0.5)  # let the postmaster reap the backends that just exited
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
        pid = int(Path(row[0] if row else "", "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime
    except (OSError, ValueError, IndexError, psycopg.Error):
        return 0.0


def count_rows(url: str, schema: str, tables: list[str]) -> int:
    with psycopg.connect(url) as conn:
        total = 0
        for table in tables:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))).fetchone()
            total += row[0] if row else 0
        return total


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def setup_tables(url: str, schema: str, catalog: dict[str, Any], tmp: Path) -> None:
    """The connector's own `setup`, so every variant loads into tables of one shape."""
    (tmp / "c.json").write_bytes(orjson.dumps({"url": url, "schema": schema}))
    (tmp / "k.json").write_bytes(orjson.dumps(catalog))
    subprocess.run(
        [*WRITER, "setup", "--config", str(tmp / "c.json"), "--catalog", str(tmp / "k.json")],
        check=True,
        capture_output=True,
    )


# ---- the two ways of projecting typed columns, in process on the same connections ---------------------------


def load_in_process(
    url: str, schema: str, streams: dict[str, list[bytes]], client_typed: bool, batch: int = 2_000
) -> float:
    """Each stream on its own thread and connection, batches of `batch` through a staging table; seconds.

    `client_typed=False` is the writer's path (the connector's own encoder and loader: the server projects
    typed columns from the jsonb); `True` decodes the typed fields with msgspec and COPYs them as columns.
    """
    from destination_postgres._batch import Batch, RowEncoder
    from destination_postgres._ddl import StreamTable
    from destination_postgres._load import StreamLoader, prepare_session
    from destination_postgres._types import Column
    from sync_protocol import DestinationSyncMode

    with psycopg.connect(url) as conn:
        shapes = {name: table_columns(conn, schema, name) for name in streams}
    lines = {name: [record_line(name, data) for data in records] for name, records in streams.items()}

    def typed_decoder(columns: list[tuple[str, str]]) -> Callable[[bytes], Any]:
        fields = [(f"c{i}", msgspec.Raw, msgspec.Raw(b"null")) for i in range(len(columns))]
        kind = msgspec.defstruct("Typed", fields, rename={f"c{i}": n for i, (n, _) in enumerate(columns)})
        return msgspec.json.Decoder(kind).decode

    def work(name: str) -> None:
        columns = shapes[name]
        table = StreamTable(
            name,
            schema,
            name,
            tuple(Column(c, c, t) for c, t in columns),
            (Column("id", "id", "text"),),
            DestinationSyncMode.APPEND_DEDUP,
        )
        with psycopg.connect(url) as conn:
            prepare_session(conn, True)
            if client_typed:
                _load_typed(conn, table, lines[name], typed_decoder(columns), batch)
                return
            encoder, loader = RowEncoder(name, ("id",)), StreamLoader(table, "bench")
            for start in range(0, len(lines[name]), batch):
                rows = Batch()
                for line in lines[name][start : start + batch]:
                    record = _raw(line)
                    encoder.add(rows, record.data, record.deleted)
                with conn.cursor() as cur:
                    loader.apply(cur, rows, overwriting=False, skip_unchanged=False)
                conn.commit()

    return in_threads(work, list(streams))


def _raw(line: bytes) -> RawRecord:
    """The record on `line` as the writer's SDK hands it over (data as its original bytes)."""
    record = decode_raw_record(line)
    assert record is not None, "the bench's own record lines are plain"
    return record


def _load_typed(
    conn: psycopg.Connection[Any],
    table: Any,
    lines: list[bytes],
    decode: Callable[[bytes], Any],
    batch: int,
) -> None:
    """Client-side projection: typed cells from msgspec, nested values as their raw JSON, one COPY per batch."""
    columns = [c.name for c in table.columns]
    kinds = [c.pg_type for c in table.columns]
    conn.execute(
        sql.SQL("CREATE TEMP TABLE typed_stage (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS").format(
            sql.Identifier(table.schema, table.table)
        )
    )
    conn.commit()
    names = sql.SQL(", ").join(sql.Identifier(c) for c in [*columns, "_sync_raw"])
    copy_sql = sql.SQL("COPY typed_stage ({}) FROM STDIN").format(names)
    updates = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in columns[1:])
    merge = sql.SQL(
        "INSERT INTO {} AS t ({}) SELECT {} FROM typed_stage ON CONFLICT (id) DO UPDATE SET {}"
        " WHERE t._sync_raw IS DISTINCT FROM EXCLUDED._sync_raw"
    ).format(sql.Identifier(table.schema, table.table), names, names, updates)
    for start in range(0, len(lines), batch):
        out = bytearray()
        for line in lines[start : start + batch]:
            data = _raw(line).data
            typed = decode(data)
            cells = []
            for i, kind in enumerate(kinds):
                raw = bytes(getattr(typed, f"c{i}"))
                if raw == b"null":
                    cells.append(b"\\N")
                elif kind == "text":
                    cells.append(_escape(orjson.loads(raw).encode()) if raw[:1] == b'"' else _escape(raw))
                elif kind == "boolean":
                    cells.append(b"t" if raw == b"true" else b"f")
                else:  # numbers and jsonb: the JSON text itself
                    cells.append(_escape(raw))
            cells.append(_escape(data))
            out += b"\t".join(cells) + b"\n"
        with conn.cursor() as cur:
            with cur.copy(copy_sql) as copy:
                copy.write(out)
            cur.execute(merge)
        conn.commit()


def _escape(value: bytes) -> bytes:
    if b"\\" in value:
        value = value.replace(b"\\", b"\\\\")
    if b"\n" in value or b"\t" in value or b"\r" in value:
        value = value.replace(b"\n", b"\\n").replace(b"\t", b"\\t").replace(b"\r", b"\\r")
    return value


# ---- the run -------------------------------------------------------------------------------------------------


def one_config(args: argparse.Namespace, url: str, resources: dict[str, Any], count: int, tmp: Path) -> None:
    names = list(SAMPLES)[:count]
    per_stream = args.records // count
    streams = {name: make_records(resources[SAMPLES[name]], name[:3], per_stream) for name in names}
    total = per_stream * count
    catalog = {
        "streams": [
            {
                "name": name,
                "json_schema": infer_schema(resources[SAMPLES[name]]),
                "primary_key": [["id"]],
                "destination_sync_mode": "append_dedup",
            }
            for name in names
        ]
    }
    input_path = tmp / f"input-{count}.ndjson"
    write_input(input_path, streams)
    size_mb = input_path.stat().st_size / 1e6
    setup_tables(url, "bench_shape", catalog, tmp)
    with psycopg.connect(url) as conn:
        payloads = {}
        for name, records in streams.items():
            columns = table_columns(conn, "bench_shape", name)
            payloads[name] = (columns, encode_raw(records, columns))
    drop_schema(url, "bench_shape")

    rows: list[dict[str, float]] = []
    for round_ in range(args.rounds):
        setup_tables(url, "bench_raw", catalog, tmp)
        cpu0 = server_cpu_s(url)
        raw_s = raw_copy(url, "bench_raw", payloads)
        raw_server = server_cpu_s(url) - cpu0
        assert count_rows(url, "bench_raw", names) == total
        drop_schema(url, "bench_raw")

        config = {"url": url, "schema": "bench_writer", "parallel_streams": count}
        cpu0 = server_cpu_s(url)
        load = run_writer(config, catalog, input_path, tmp, url)
        write_s, rss, cpu = load.seconds, load.peak_kib, load.cpu_s
        write_server = server_cpu_s(url) - cpu0
        assert count_rows(url, "bench_writer", names) == total
        assert load.states == sum(-(-len(r) // PAGE) for r in streams.values()), load.states
        assert (load.inserted, load.updated) == (total, 0), (load.inserted, load.updated)
        again = run_writer(config, catalog, input_path, tmp, url)
        assert (again.inserted, again.updated) == (0, 0), (again.inserted, again.updated)
        again_s = again.seconds
        drop_schema(url, "bench_writer")
        row = {"raw": raw_s, "write": write_s, "whole": load.whole_s, "again": again_s, "rss": rss / 1024, "cpu": cpu}
        row |= {"raw_server": raw_server, "write_server": write_server}
        if args.projection:
            for label, client_typed in (("server", False), ("client", True)):
                setup_tables(url, "bench_proj", catalog, tmp)
                row[label] = load_in_process(url, "bench_proj", streams, client_typed)
                assert count_rows(url, "bench_proj", names) == total
                drop_schema(url, "bench_proj")
        rows.append(row)
        print(
            f"  round {round_ + 1}: raw {raw_s:.2f} s, write {write_s:.2f} s ({100 * raw_s / write_s:.0f}%;"
            f" {load.whole_s:.2f} s = {100 * raw_s / load.whole_s:.0f}% with its start-up),"
            f" (CPU: writer {cpu:.1f} s, server {write_server:.1f} s vs {raw_server:.1f} s for raw),"
            f" re-run {again_s:.2f} s, peak RSS {rss / 1024:.0f} MB"
            + (f", projection server {row['server']:.2f} s / client {row['client']:.2f} s" if args.projection else ""),
            flush=True,
        )

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    ratio = statistics.median(r["raw"] / r["write"] for r in rows)
    print(f"{count} streams, {total:,} records, input {size_mb:.0f} MB NDJSON; median of {args.rounds} rounds:")
    print(f"  raw COPY, {count} connections:       {med('raw'):6.2f} s {total / med('raw'):8,.0f} rows/s")
    print(
        f"  destination-postgres write:      {med('write'):6.2f} s {total / med('write'):8,.0f} rows/s"
        f" = {100 * ratio:.0f}% of raw (median of per-round ratios); peak RSS max {max(r['rss'] for r in rows):.0f} MB"
    )
    whole = statistics.median(r["raw"] / r["whole"] for r in rows)
    print(f"    with the writer's start-up:    {med('whole'):6.2f} s = {100 * whole:.0f}% of raw")
    print(
        f"  re-run of unchanged input:       {med('again'):6.2f} s {total / med('again'):8,.0f} rows/s"
        f" = {100 * statistics.median(r['again'] / r['write'] for r in rows):.0f}% of the load's time"
    )
    if args.projection:
        print(
            f"  in process: server projection {med('server'):.2f} s, client (msgspec typed) {med('client'):.2f} s"
            f" = server path {100 * statistics.median(r['client'] / r['server'] for r in rows):.0f}% as fast"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fixtures", default=str(FIXTURES), help="Stripe's fixtures3.json")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--streams", default="2,4", help="comma-separated stream counts to run (1-4)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--projection", action="store_true", help="also compare server vs client projection")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args()
    resources = orjson.loads(Path(args.fixtures).read_bytes())["resources"]
    server = None if args.url else start_server()
    url = args.url or server.url  # type: ignore[union-attr]
    try:
        warm_up_writer()
        with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp_name:
            for count in (int(c) for c in args.streams.split(",")):
                one_config(args, url, resources, count, Path(tmp_name))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()

"""Stripe → Postgres through the real executables under kill -9 and API storms, then run to completion: the tables
must equal the server's data exactly, and the checkpoint's ranges and progress must agree with them."""

from __future__ import annotations

import functools
import itertools
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from sync_engine.stores import PostgresStateStore
from sync_protocol import merge_ranges
from sync_testbed.postgres import LocalServer
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.stripe_server import TEST_KEY

from .redelivery import Redelivery, teed_destination

STREAMS = ("customers", "charges")
NAME = "chaos"
START = "2015-01-01T00:00:00Z"


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pipeline_file(
    tmp_path: Path,
    server: StripeHTTPServer,
    url: str,
    schema: str,
    rate: int,
    destination: str = "destination-postgres",
) -> Path:
    source = {
        "api_key": TEST_KEY,
        "api_base": server.url,
        "requests_per_second": rate,
        "endpoint_requests_per_second": rate,
        "start_date": START,
        "backoff_base_s": 0.01,
        "max_retries": 20,
        "events_lag_s": 0,
    }
    pipeline = {
        "name": NAME,
        "source": {"command": f"{sys.executable} -m source_stripe", "config": source},
        "destination": {"command": destination, "config": {"url": url, "schema": schema}},
        "streams": [{"name": s} for s in STREAMS],
        "state": {"store": "postgres", "url": url, "db_schema": schema},
        "max_attempts": 50,
    }
    path = tmp_path / "pipeline.json"
    path.write_bytes(orjson.dumps(pipeline))
    return path


def engine_command(path: Path) -> list[str]:
    return [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(path), "--no-progress"]


def committed(url: str, schema: str) -> tuple[int, bool]:
    """Records the saved checkpoint counts for its run, and whether that run finished."""
    saved = PostgresStateStore(url, schema).load(NAME)
    if saved is None or saved.progress is None:
        return -1, False
    return saved.progress.record_count, saved.finished


KINDS = ("source", "destination", "postgres", "engine")
MARKERS = {"source": "source_stripe", "destination": "destination-postgres"}
PAGE = 100


def row_count(url: str, schema: str) -> int:
    """Rows committed in the streams' tables (0 before they exist)."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        total = 0
        for stream in STREAMS:
            found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{stream}"',)).fetchone()
            if found and found[0] is not None:
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, stream))
                row = conn.execute(query).fetchone()
                total += int(row[0]) if row else 0
        return total


def chaos_run(
    command: list[str],
    rng: random.Random,
    kills: int,
    done: int,
    pause: tuple[float, float],
    server: LocalServer | None,
    rows_committed: Callable[[], int],
    step: int,
) -> list[str]:
    """One engine invocation; at random moments (at least `pause` seconds apart), as soon as `step` more rows
    were committed since the last fault, kill -9 its source or destination or the engine itself, or restart
    PostgreSQL (when `server` is given), until `kills` faults landed or it exits; then reap everything of it.
    Faults take turns (`done` landed before); returns them. Waiting for rows spreads the faults over the whole
    load instead of its start-up (specs, discover, the first pages), where they would prove little."""
    kinds = KINDS if server is not None else tuple(k for k in KINDS if k != "postgres")
    engine = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    victims: list[str] = []
    connectors: set[int] = set()
    mark = rows_committed()
    not_before = time.monotonic() + rng.uniform(*pause)
    while len(victims) < kills and engine.poll() is None:
        time.sleep(0.1)
        if time.monotonic() < not_before:
            continue
        running = {pid: cmdline(pid) for pid in children(engine.pid)}
        connectors.update(running)
        roles = {kind: [pid for pid, line in running.items() if marker in line] for kind, marker in MARKERS.items()}
        if not (roles["source"] and roles["destination"]):
            continue  # still starting, or between attempts: a fault now would not land mid-run
        try:
            now = rows_committed()
        except psycopg.OperationalError:
            continue  # PostgreSQL is still restarting
        if now < mark + step:
            continue
        mark, not_before = now, time.monotonic() + rng.uniform(*pause)
        victim = kinds[(done + len(victims)) % len(kinds)]
        victims.append(victim)
        if victim == "engine":
            os.kill(engine.pid, signal.SIGKILL)  # its connectors live in sessions of their own: they see pipes close
            break
        if victim == "postgres" and server is not None:
            server.restart()
            continue
        for pid in roles[victim]:
            os.kill(pid, signal.SIGKILL)
    try:
        engine.wait(60)
    except subprocess.TimeoutExpired:
        engine.kill()
    engine.wait()
    connectors.update(children(engine.pid))
    reap(connectors)
    return victims


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def reap(pids: set[int]) -> None:
    """Wait for an engine's orphaned connectors (an orphaned destination commits what it holds at end of input),
    then kill what is left: the next invocation starts with nothing of this one running."""
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def rows(url: str, schema: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
        if not found or found[0] is None:
            return []
        query = sql.SQL("SELECT _sync_raw FROM {}").format(sql.Identifier(schema, table))
        return [r[0] for r in conn.execute(query).fetchall()]


def assert_tables_equal_server(server: StripeHTTPServer, url: str, schema: str) -> None:
    """0 lost, 0 duplicated, 0 stale, 0 deleted rows left."""
    for stream in STREAMS:
        held = rows(url, schema, stream)
        ids = [r["id"] for r in held]
        assert len(ids) == len(set(ids)), f"{stream}: duplicated rows"
        assert {r["id"]: r for r in held} == server.api.store.expected(stream), f"{stream}: lost or stale rows"


def run_to_completion(command: list[str]) -> dict[str, Any]:
    """Run until a run ends succeeded without more to do; its `end` payload."""
    for _ in range(5):
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, timeout=1200, check=False)
        print(f"chaos: a run took {time.monotonic() - started:.1f} s: {done.stderr.decode().strip()[-300:]}")
        ends = [orjson.loads(line) for line in done.stdout.splitlines() if b'"type":"end"' in line]
        if done.returncode == 0 and ends and not ends[-1]["end"]["has_more"]:
            end: dict[str, Any] = ends[-1]["end"]
            return end
    raise AssertionError(f"no complete run: exit {done.returncode}; {done.stderr.decode()[-1500:]}")


@pytest.mark.timeout(1800)
def test_stripe_to_postgres_survives_kills_and_storms(
    tmp_path: Path, stripe_api: StripeHTTPServer, chaos_postgres: tuple[str, LocalServer | None], chaos_long: bool
) -> None:
    (postgres_url, restartable), pg_schema = chaos_postgres, "chaos"
    store = stripe_api.api.store
    count = 50_000 if chaos_long else 2_000  # per stream
    store.generate("customers", count)
    store.generate("charges", count, start=1_650_000_000, end=1_650_000_000 + count // 20)  # dense seconds
    faults = stripe_api.api.faults
    faults.rate_429, faults.rate_500, faults.latency_s = 0.05, 0.05, 0.02
    rate = 25 if chaos_long else 5  # requests/s: slow enough that every fault lands while records flow
    destination, log = teed_destination(tmp_path)
    command = engine_command(pipeline_file(tmp_path, stripe_api, postgres_url, pg_schema, rate, destination))
    tally = Redelivery(postgres_url, pg_schema, STREAMS, log)
    rng = random.Random(15)
    started = time.monotonic()
    victims: list[str] = []
    wanted, pause = (24, (0.8, 2.0)) if chaos_long else (4, (0.3, 1.0))
    step = 2 * count // (wanted + 2)  # rows committed between faults: they spread over the whole load
    rows_committed = functools.partial(row_count, postgres_url, pg_schema)
    after_engine_kills: list[tuple[int, tuple[int, int]]] = []  # (the checkpoint's lag, (re-delivered, read))
    lag: int | None = None
    while len(victims) < wanted and not committed(postgres_url, pg_schema)[1]:
        tally.begin()
        landed = chaos_run(command, rng, wanted - len(victims), len(victims), pause, restartable, rows_committed, step)
        if lag is not None:
            after_engine_kills.append((lag, tally.end()))
        saved = PostgresStateStore(postgres_url, pg_schema).load(NAME)
        lag = tally.lag(saved) if landed[-1:] == ["engine"] else None
        victims += landed
    killed_run = PostgresStateStore(postgres_url, pg_schema).load(NAME)
    assert len(victims) >= (20 if chaos_long else 4), f"too few faults landed: {victims}"

    faults.rate_429 = faults.rate_500 = 0.0
    tally.begin()
    end = run_to_completion(command)
    if lag is not None:
        after_engine_kills.append((lag, tally.end()))

    assert_tables_equal_server(stripe_api, postgres_url, pg_schema)
    saved = PostgresStateStore(postgres_url, pg_schema).load(NAME)
    assert saved is not None and saved.finished
    # the run that loaded the data: finished among the faults, or resumed and finished by the fault-free run
    assert killed_run is not None and (killed_run.finished or saved.run_id == killed_run.run_id)
    loading = killed_run if killed_run.finished else saved
    assert loading.progress is not None
    for stream in STREAMS:
        merged = merge_ranges(saved.streams[stream].completed_ranges)
        assert merged and merged[0].gte is not None and merged[0].gte.isoformat().startswith("2015-01-01")
        for before, after in itertools.pairwise(merged):  # Stripe's `created` is whole seconds
            assert before.lt is not None and after.gte is not None
            assert math.ceil(before.lt.timestamp()) >= after.gte.timestamp(), f"{stream}: a whole second missing"
        # progress is cumulative over the run's invocations; re-deliveries may count a record twice, never less
        delivered = loading.progress.streams[stream].record_count
        assert delivered >= count, f"{stream}: progress counts {delivered}, fewer records than Postgres holds"
    print(
        f"chaos: kills {victims}; {2 * count} objects; records the loading run delivered"
        f" {loading.progress.record_count} (the fault-free invocation {end['request_progress']['record_count']});"
        f" {time.monotonic() - started:.0f} s"
    )

    # With the Postgres state store an engine kill re-delivers what the destination committed after the engine's
    # last checkpoint save (at most `checkpoint_interval_s` of data), and beyond that at most a page per stream.
    assert after_engine_kills, "an engine kill landed mid-run and a run resumed it"
    assert any(read for _, (_, read) in after_engine_kills), "records reached the destination after an engine kill"
    for behind, (again, _) in after_engine_kills:
        assert again <= behind + PAGE * len(STREAMS), f"re-delivered {again}, the checkpoint lagged {behind}"
    print(
        f"chaos: after {len(after_engine_kills)} engine kills, committed records re-delivered / records read by the "
        f"destination in the resumed invocation {[f'{again}/{read}' for _, (again, read) in after_engine_kills]}, "
        f"committed beyond the engine's checkpoint at the kill {[behind for behind, _ in after_engine_kills]}"
    )

    # incremental in practice: creates, updates and deletes on the server, and exactly those arrive
    customers = sorted(store.expected("customers"))
    charges = sorted(store.expected("charges"))
    for _ in range(5):
        store.create("customers", {"name": "new in chaos"})
    for object_id in customers[:5]:
        store.update(object_id, {"name": "changed in chaos"})
    for object_id in customers[5:8]:
        store.delete(object_id)
    for object_id in charges[:4]:
        store.update(object_id, {"description": "changed in chaos"})
    changes = run_to_completion(command)
    assert_tables_equal_server(stripe_api, postgres_url, pg_schema)
    brought = {s: changes["run_progress"]["streams"][s]["record_count"] for s in STREAMS}
    assert brought == {"customers": 13, "charges": 4}, f"the next run brings exactly the changes: {brought}"
    print(f"chaos: the incremental run brought exactly the changes; {time.monotonic() - started:.0f} s in all")

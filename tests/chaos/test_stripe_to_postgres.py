"""Stripe → Postgres through the real executables under kill -9 and API storms, then run to completion: the tables
must equal the server's data exactly, and the checkpoint's ranges and progress must agree with them."""

from __future__ import annotations

import itertools
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from psycopg import sql
from sync_engine.stores import PostgresStateStore
from sync_protocol import merge_ranges
from sync_testbed.postgres import LocalServer, start_server
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.stripe_server import TEST_KEY

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


def pipeline_file(tmp_path: Path, server: StripeHTTPServer, url: str, schema: str, rate: int) -> Path:
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
        "destination": {"command": "destination-postgres", "config": {"url": url, "schema": schema}},
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


KINDS = ("source", "destination", "engine")


def chaos_run(command: list[str], rng: random.Random, kills: int, done: int) -> list[str]:
    """One engine invocation; kill -9 its source or destination, or the engine itself, at random moments until
    `kills` landed or it exits; then reap everything of it. Victims take turns (`done` landed before); returns them."""
    engine = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    victims: list[str] = []
    while len(victims) < kills and engine.poll() is None:
        time.sleep(rng.uniform(0.8, 2.0))
        victim = KINDS[(done + len(victims)) % len(KINDS)]
        if victim == "engine":
            os.killpg(engine.pid, signal.SIGKILL)  # the engine and its connectors die together, as in a crash
            victims.append(victim)
            break
        marker = "source_stripe" if victim == "source" else "destination-postgres"
        for pid in children(engine.pid):
            if marker in cmdline(pid):
                os.kill(pid, signal.SIGKILL)
                victims.append(victim)
    try:
        engine.wait(60)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(engine.pid, signal.SIGKILL)  # nothing of this run stays behind
    except ProcessLookupError:
        pass
    engine.wait()
    return victims


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
        done = subprocess.run(command, capture_output=True, timeout=1200, check=False)
        ends = [orjson.loads(line) for line in done.stdout.splitlines() if b'"type":"end"' in line]
        if done.returncode == 0 and ends and not ends[-1]["end"]["has_more"]:
            end: dict[str, Any] = ends[-1]["end"]
            return end
    raise AssertionError(f"no complete run: exit {done.returncode}; {done.stderr.decode()[-1500:]}")


@pytest.mark.timeout(1800)
def test_stripe_to_postgres_survives_kills_and_storms(
    tmp_path: Path, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str, chaos_long: bool
) -> None:
    store = stripe_api.api.store
    count = 50_000 if chaos_long else 3_000  # per stream
    store.generate("customers", count)
    store.generate("charges", count, start=1_650_000_000, end=1_650_000_000 + count // 20)  # dense seconds
    faults = stripe_api.api.faults
    faults.rate_429, faults.rate_500, faults.latency_s = 0.05, 0.05, 0.02
    rate = 100 if chaos_long else 10  # requests/s: slow enough that kills land mid-run
    command = engine_command(pipeline_file(tmp_path, stripe_api, postgres_url, pg_schema, rate))
    rng = random.Random(15)
    victims: list[str] = []
    wanted = 24 if chaos_long else 4
    while len(victims) < wanted and not committed(postgres_url, pg_schema)[1]:
        victims += chaos_run(command, rng, wanted - len(victims), len(victims))
    killed_run = PostgresStateStore(postgres_url, pg_schema).load(NAME)
    assert len(victims) >= (20 if chaos_long else 3), f"too few kills landed: {victims}"

    faults.rate_429 = faults.rate_500 = 0.0
    end = run_to_completion(command)

    assert_tables_equal_server(stripe_api, postgres_url, pg_schema)
    saved = PostgresStateStore(postgres_url, pg_schema).load(NAME)
    assert saved is not None and saved.finished
    for stream in STREAMS:
        merged = merge_ranges(saved.streams[stream].completed_ranges)
        assert merged and merged[0].gte is not None and merged[0].gte.isoformat().startswith("2015-01-01")
        for before, after in itertools.pairwise(merged):  # Stripe's `created` is whole seconds
            assert before.lt is not None and after.gte is not None
            assert math.ceil(before.lt.timestamp()) >= after.gte.timestamp(), f"{stream}: a whole second missing"
        if (
            killed_run is not None and saved.run_id == killed_run.run_id
        ):  # the final run resumed the killed one: progress is cumulative
            progress = end["request_progress"]["streams"][stream]
            assert progress["record_count"] >= count, f"{stream}: progress counts fewer records than Postgres holds"
    print(f"chaos: kills {victims}; {2 * count} objects; final run progress {end['request_progress']['record_count']}")

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
    delivered = {s: changes["run_progress"]["streams"][s]["record_count"] for s in STREAMS}
    assert delivered == {"customers": 13, "charges": 4}, f"the next run brings exactly the changes: {delivered}"


def restart(server: LocalServer) -> None:
    """`pg_ctl restart -m immediate`: every connection drops at once, as in a server crash."""
    subprocess.run(
        [
            *server._prefix,
            server._pg_ctl,
            "-D",
            str(server._data),
            "-l",
            str(server._log),
            "-m",
            "immediate",
            "-w",
            "restart",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_a_postgres_restart_mid_sync_loses_nothing(tmp_path: Path, stripe_api: StripeHTTPServer) -> None:
    server = start_server()  # a server of its own: the session's one is shared with other tests
    try:
        if not isinstance(server, LocalServer):
            pytest.skip("needs the machine's pg_ctl to restart the server")
        store = stripe_api.api.store
        store.generate("customers", 3_000)
        store.generate("charges", 3_000, start=1_650_000_000, end=1_650_000_150)
        command = engine_command(pipeline_file(tmp_path, stripe_api, server.url, "chaos_restart", 10))
        engine = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(2.5)
        assert engine.poll() is None, "the restart must land mid-run"
        restart(server)
        out, _ = engine.communicate(timeout=110)
        first = [orjson.loads(line)["end"] for line in out.splitlines() if b'"type":"end"' in line]
        run_to_completion(command)
        assert_tables_equal_server(stripe_api, server.url, "chaos_restart")
        print(f"chaos: the run hit by the restart ended {first[-1]['status'] if first else 'without an end message'}")
    finally:
        server.stop()

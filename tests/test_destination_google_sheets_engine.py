"""destination-google-sheets through the engine: synthetic and Stripe sources, kills, overwrite, no-op re-runs."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sync_engine import Engine, FileStateStore, Pipeline, SyncResult, validate_pipeline
from sync_engine._cli import run as cli_run
from sync_engine.blocking import sync
from sync_protocol import RunStatus
from sync_testbed.sheets_server import Call
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.connectors import python_connector
from tests.fixtures.sheets_server import LocalSheets
from tests.fixtures.stripe_server import TEST_KEY
from tests.test_source_stripe_backfill import config as stripe_config

COMMAND = [sys.executable, "-m", "destination_google_sheets"]
pytestmark = pytest.mark.timeout(300)  # each test runs the engine 2 to 4 times; a busy machine starts them slowly


def pipeline(
    tmp_path: Path,
    sheets: LocalSheets,
    sid: str,
    source: dict[str, Any],
    destination: dict[str, Any] | None = None,
    command: list[str] | None = None,
    **extra: Any,
) -> Pipeline:
    """Synthetic source → destination-google-sheets, state in tmp_path/state/."""
    return validate_pipeline(
        {
            "source": {"command": python_connector("synthetic_source.py"), "config": source},
            "destination": {"command": command or COMMAND, "config": sheets.config(sid, **(destination or {}))},
            "state": {"store": "file", "path": str(tmp_path / "state")},
            "retry_backoff_s": 0.05,
            "grace_s": 2.0,
            **extra,
        }
    )


def run(p: Pipeline) -> SyncResult:
    return sync(Engine(p))


def ids(sheets: LocalSheets, sid: str, title: str) -> list[str]:
    """The key column of a tab, in sheet order, duplicates kept."""
    return [row[0] for row in sheets.api.values(sid, title)[1:] if row and row[0] != ""]


def synthetic_ids(name: str, count: int) -> list[str]:
    return sorted(f"{name}-{i}" for i in range(count))


def test_a_synthetic_sync_lands_every_row_and_a_full_resync_writes_nothing(tmp_path: Path, sheets: LocalSheets) -> None:
    sid = sheets.api.create_spreadsheet()
    streams = {"a": 1200, "b": 700}
    p = pipeline(tmp_path, sheets, sid, {"streams": streams, "page_size": 100}, {"batch_rows": 500})
    result = run(p)
    assert result.status is RunStatus.SUCCEEDED, result.errors
    for name, count in streams.items():
        assert sorted(ids(sheets, sid, name)) == synthetic_ids(name, count)
    row = dict(zip(*sheets.api.values(sid, "a")[:2], strict=True))
    assert row == {
        "id": "a-0",
        "created": "2024-01-01T00:00:00Z",  # the integer cursor field, readable
        "name": "a number 0",
        "amount": 0,
        "metadata": '{"index":0}',
    }
    writes = sheets.api.count(write=True)
    assert writes <= 2 + 2 * 6, "two tabs with headers, then a few batched requests per stream"

    shutil.rmtree(tmp_path / "state")  # forget the checkpoint: the source reads everything again
    sheets.api.reset_calls()
    assert run(p).status is RunStatus.SUCCEEDED
    assert sheets.api.count(write=True) == 0, [c for c in sheets.api.calls if c.write]


def test_overwrite_is_swapped_in_only_when_the_engine_says_the_stream_is_complete(
    tmp_path: Path, sheets: LocalSheets
) -> None:
    sid = sheets.api.create_spreadsheet()
    selection: dict[str, Any] = {
        "streams": [{"name": "a", "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]
    }
    first = pipeline(tmp_path, sheets, sid, {"streams": {"a": 300}, "page_size": 50}, **selection)
    assert run(first).status is RunStatus.SUCCEEDED
    assert sorted(ids(sheets, sid, "a")) == synthetic_ids("a", 300)
    before = sheets.api.values(sid, "a")

    shutil.rmtree(tmp_path / "state")  # a new run (the synthetic source would resume from a finished state)
    second = {"streams": {"a": 400}, "page_size": 20, "template": {"name": "second"}}
    stopped = pipeline(tmp_path, sheets, sid, second, {"batch_rows": 20}, state_limit=5, **selection)
    sheets.api.reset_calls()
    result = run(stopped)
    assert result.status is RunStatus.SUCCEEDED and result.has_more
    assert sheets.api.count(method="values.append") >= 5, "the new copy was being written"
    assert sheets.api.values(sid, "a") == before, "an overwrite the source did not finish leaves the old tab"
    assert [s.title for s in sheets.api.spreadsheets[sid].sheets] == ["Sheet1", "a"], "and no scratch tab"

    stopped.state_limit = None
    assert run(stopped).status is RunStatus.SUCCEEDED
    rows = sheets.api.values(sid, "a")[1:]
    assert sorted(r[0] for r in rows) == synthetic_ids("a", 400) and {r[2] for r in rows} == {"second"}


def _pid_wrapper(pid_file: Path) -> list[str]:
    """The destination's command, recording its pid first (exec keeps the pid)."""
    return ["sh", "-c", 'echo $$ > "$0"; exec "$@"', str(pid_file), *COMMAND]


def test_a_destination_killed_after_a_write_landed_loses_and_duplicates_nothing(
    tmp_path: Path, sheets: LocalSheets
) -> None:
    sid = sheets.api.create_spreadsheet()
    pid_file = tmp_path / "destination.pid"
    streams = {"a": 900, "b": 600}
    p = pipeline(
        tmp_path,
        sheets,
        sid,
        {"streams": streams, "page_size": 50},
        {"batch_rows": 120, "max_state_delay_s": 0.0},
        command=_pid_wrapper(pid_file),
    )
    for kill_at in (3, 2):  # the kill lands after the append was applied and before its answer arrives
        appends = 0

        def kill(call: Call, at: int = kill_at) -> None:
            nonlocal appends
            if call.method == "values.append":
                appends += 1
                if appends == at:
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)

        sheets.api.on_write = kill
        result = run(p)
        assert result.status is RunStatus.SYSTEM_ERROR
        assert any("destination was killed by signal 9" in e.message for e in result.errors), result.errors
    sheets.api.on_write = None
    result = run(p)
    assert result.status is RunStatus.SUCCEEDED, result.errors
    for name, count in streams.items():
        got = ids(sheets, sid, name)
        assert len(got) == len(set(got)), "no row duplicated"
        assert sorted(got) == synthetic_ids(name, count), "nothing lost"


def test_the_engine_killed_at_random_points_then_resumed(tmp_path: Path, sheets: LocalSheets) -> None:
    sid = sheets.api.create_spreadsheet()
    streams = {"a": 800, "b": 800}
    p = pipeline(
        tmp_path,
        sheets,
        sid,
        {"streams": streams, "page_size": 25, "page_delay_s": 0.02},
        {"batch_rows": 100, "max_state_delay_s": 0.1},
        checkpoint_interval_s=0.0,
    )
    pipeline_file = tmp_path / "pipeline.json"
    pipeline_file.write_bytes(orjson.dumps(p.model_dump(mode="json")))
    command = [sys.executable, "-m", "sync_engine", "sync", "--pipeline", str(pipeline_file), "--no-progress"]
    state_file = FileStateStore(tmp_path / "state").path_for("default")
    rng = random.Random(11)
    for _ in range(2):
        before = state_file.stat().st_mtime_ns if state_file.exists() else 0
        engine = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while (not state_file.exists() or state_file.stat().st_mtime_ns == before) and time.monotonic() < deadline:
            time.sleep(0.02)  # this run committed its first checkpoint: kill it somewhere after that
        time.sleep(rng.uniform(0.0, 1.0))
        engine.send_signal(signal.SIGKILL)
        engine.wait()
        time.sleep(0.5)  # the orphaned connectors see the end of their input and exit
    done = subprocess.run(command, capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    for name, count in streams.items():
        got = ids(sheets, sid, name)
        assert len(got) == len(set(got)), "re-delivered rows were upserted, not duplicated"
        assert sorted(got) == synthetic_ids(name, count)


# ---- Stripe → Sheets ----------------------------------------------------------------------------------------


def _cell_matches(cell: Any, value: Any, column: str) -> bool:
    """Whether a cell holds a source value the way the destination writes it (decoded independently)."""
    if value is None:
        return bool(cell == "")
    if column == "created":
        return bool(cell == datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if isinstance(value, dict | list):
        return bool(orjson.loads(cell) == value)  # objects and arrays: compact JSON text
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return bool(cell == "'" + value)
    return bool(cell == value and type(cell) is type(value))


def assert_tab_equals(sheets: LocalSheets, sid: str, title: str, expected: dict[str, dict[str, Any]]) -> None:
    values = sheets.api.values(sid, title)
    header = values[0]
    got: dict[str, list[Any]] = {}
    for row in values[1:]:
        if row and row[0] != "":
            assert row[0] not in got, f"{title}: {row[0]} twice"
            got[row[0]] = [*row, *[""] * (len(header) - len(row))]
    assert set(got) == set(expected), f"{title}: ids differ"
    for object_id, obj in expected.items():
        cells = dict(zip(header, got[object_id], strict=True))
        wrong = [c for c in header if c in obj and not _cell_matches(cells[c], obj[c], c)]
        assert not wrong, f"{title} {object_id}: {[(c, cells[c], obj[c]) for c in wrong[:3]]}"


def test_stripe_to_sheets_with_updates_and_deletes_then_a_no_op_resync(
    tmp_path: Path, stripe_api: StripeHTTPServer, sheets: LocalSheets
) -> None:
    store = stripe_api.api.store
    store.generate("customers", 400)
    store.generate("charges", 300)
    sid = sheets.api.create_spreadsheet()
    p = validate_pipeline(
        {
            "source": {"command": [sys.executable, "-m", "source_stripe"], "config": stripe_config(stripe_api)},
            "destination": {"command": COMMAND, "config": sheets.config(sid)},
            "streams": [{"name": "customers"}, {"name": "charges"}],
            "state": {"store": "file", "path": str(tmp_path / "state")},
            "retry_backoff_s": 0.05,
        }
    )
    assert run(p).status is RunStatus.SUCCEEDED
    assert_tab_equals(sheets, sid, "customers", store.expected("customers"))
    assert_tab_equals(sheets, sid, "charges", store.expected("charges"))

    time.sleep(1.1)
    for i in range(0, 40, 4):
        store.update(f"cus_{i:010d}", {"name": "=edited", "email": f"new{i}@example.com"})
    for i in range(100, 110):
        store.delete(f"cus_{i:010d}")
    store.update("ch_0000000007", {"description": "refunded by hand"})  # Stripe never deletes a charge
    store.create("customers", {"name": "a new customer"})
    time.sleep(1.1)
    assert run(p).status is RunStatus.SUCCEEDED
    assert_tab_equals(sheets, sid, "customers", store.expected("customers"))
    assert_tab_equals(sheets, sid, "charges", store.expected("charges"))

    shutil.rmtree(tmp_path / "state")
    sheets.api.reset_calls()
    assert run(p).status is RunStatus.SUCCEEDED
    assert sheets.api.count(write=True) == 0, "a full re-sync of unchanged data writes nothing"


def test_the_sheets_shorthand_reads_the_spreadsheet_and_the_key_file_from_the_environment(
    tmp_path: Path, stripe_api: StripeHTTPServer, sheets: LocalSheets
) -> None:
    store = stripe_api.api.store
    store.generate("customers", 30)
    sid = sheets.api.create_spreadsheet()
    key_file = tmp_path / "key.json"
    key_file.write_bytes(orjson.dumps(sheets.key))
    env = {
        "STRIPE_API_KEY": TEST_KEY,
        "GOOGLE_SHEETS_SPREADSHEET_ID": sid,
        "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
    }
    out, err = io.BytesIO(), io.StringIO()
    argv = [
        "sync", "--stripe-api-key", "--stripe-api-base", stripe_api.url, "--sheets-spreadsheet-id",
        "--sheets-api-endpoint", sheets.url, "--streams", "customers", "--state-file", str(tmp_path / "state"),
    ]  # fmt: skip
    code = cli_run(argv, stdout=out, stderr=err, env=env)
    assert code == 0, err.getvalue()
    assert_tab_equals(sheets, sid, "customers", store.expected("customers"))
    assert TEST_KEY not in out.getvalue().decode() + err.getvalue()

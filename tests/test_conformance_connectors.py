"""The conformance kit on every connector of the project and on the test connectors, as real executables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson
import psycopg
from psycopg import sql
from sync_engine.conformance import ConformanceReport, Outcome, run_conformance
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.connectors import CONNECTORS_DIR, python_connector
from tests.fixtures.stripe_server import TEST_KEY

SECRET = "sk_live_conformance_secret_42"


def assert_passes(report: ConformanceReport, *, allowed: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Every check passed except those named in `allowed` (known findings, reported to the lead)."""
    failed = {r.name for r in report.failures}
    assert failed <= allowed, report.to_text()
    assert {r.name for r in report.results if r.outcome is Outcome.PASSED} >= {"spec.valid", "usage.bad_flag"}


def jsonl_readback(path: Path) -> Any:
    def read() -> list[tuple[str, dict[str, Any]]]:
        if not path.exists():
            return []
        rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        rows = [row.get("record", row) for row in rows]
        return [(row["stream"], row["data"]) for row in rows]

    return read


def test_synthetic_source_conforms() -> None:
    config = {"streams": {"a": 250, "b": 30}, "api_key": SECRET}
    report = run_conformance(
        python_connector("synthetic_source.py"),
        config,
        failing_config={**config, "failures": [{"kind": "raise", "after_records": 5}]},
    )
    assert_passes(report)
    assert report.result("source.resume").outcome is Outcome.PASSED
    assert report.result("secrets.never_printed").outcome is Outcome.PASSED


def test_jsonl_destination_conforms_except_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    report = run_conformance(
        python_connector("jsonl_destination.py"), {"path": str(path), "token": SECRET}, readback=jsonl_readback(path)
    )
    # the test destination appends whatever the sync mode: it has no overwrite to finish
    assert_passes(report, allowed={"destination.overwrite_needs_complete"})
    for name in ("destination.durable_before_echo", "destination.survives_kill", "failure.error_and_exit_1"):
        assert report.result(name).outcome is Outcome.PASSED, report.to_text()


def test_shell_connector_conforms_as_a_source(tmp_path: Path) -> None:
    report = run_conformance([str(CONNECTORS_DIR / "shell_connector.sh")], {"count": 4}, role="source")
    assert_passes(report)
    assert report.result("source.terminal_status").outcome is Outcome.PASSED


def test_shell_connector_as_a_destination_shows_its_known_gaps(tmp_path: Path) -> None:
    """It appends raw lines and syncs before each echo; it passes malformed input through instead of failing."""
    path = tmp_path / "out.jsonl"
    report = run_conformance(
        [str(CONNECTORS_DIR / "shell_connector.sh")],
        {"path": str(path)},
        role="destination",
        readback=jsonl_readback(path),
        skip={"destination.overwrite_needs_complete"},
    )
    assert_passes(report, allowed={"failure.error_and_exit_1"})
    assert report.result("destination.durable_before_echo").outcome is Outcome.PASSED


def test_cli_writes_the_report_ndjson_and_junit(tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sync_engine",
            "conformance",
            "--config",
            '{"count": 2}',
            "--role",
            "source",
            "--json",
            "--junit",
            str(junit),
            "--",
            str(CONNECTORS_DIR / "shell_connector.sh"),
        ],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert lines[-1] == {"connector": str(CONNECTORS_DIR / "shell_connector.sh"), "ok": True, "failed": 0}
    assert {"check": "source.terminal_status", "outcome": "passed"}.items() <= lines[-2].items() or any(
        line.get("check") == "source.terminal_status" and line["outcome"] == "passed" for line in lines
    )
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests", "0")) >= 10


def test_cli_without_a_connector_command_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sync_engine", "conformance", "--config", "{}"], capture_output=True, timeout=60
    )
    assert done.returncode == 2 and b"after --" in done.stderr


def test_source_stripe_conforms(stripe_api: StripeHTTPServer) -> None:
    stripe_api.api.store.generate("customers", 250)
    stripe_api.api.store.generate("charges", 120)
    config = {
        "api_key": TEST_KEY,
        "api_base": stripe_api.url,
        "requests_per_second": 2000,
        "endpoint_requests_per_second": 2000,
        "start_date": "2015-01-01T00:00:00Z",
        "backoff_base_s": 0.01,
    }
    catalog = {
        "streams": [
            {"name": n, "json_schema": {"type": "object"}, "primary_key": [["id"]]} for n in ("customers", "charges")
        ]
    }
    from sync_protocol import ConfiguredCatalog

    report = run_conformance(
        [sys.executable, "-m", "source_stripe"], config, catalog=ConfiguredCatalog.model_validate(catalog)
    )
    assert_passes(report)
    assert "370 records" in report.result("source.read_valid").message, report.to_text()
    assert report.result("check.broken_config").outcome is Outcome.PASSED


def test_destination_postgres_conforms(postgres_url: str, pg_schema: str) -> None:
    def readback() -> list[tuple[str, dict[str, Any]]]:
        with psycopg.connect(postgres_url) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (f'"{pg_schema}"."conformance_items"',)).fetchone()
            if not exists or exists[0] is None:
                return []
            rows = conn.execute(
                sql.SQL("SELECT _sync_raw FROM {}").format(sql.Identifier(pg_schema, "conformance_items"))
            ).fetchall()
        return [("conformance_items", row[0]) for row in rows]

    report = run_conformance(
        ["destination-postgres"], {"url": postgres_url, "schema": pg_schema}, readback=readback, role="destination"
    )
    assert_passes(report)
    for name in (
        "destination.durable_before_echo",
        "destination.survives_kill",
        "destination.overwrite_needs_complete",
    ):
        assert report.result(name).outcome is Outcome.PASSED, report.to_text()

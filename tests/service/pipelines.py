"""Pipeline bodies for the service tests: source-stripe on the local Stripe API into a PostgreSQL schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.connectors import python_connector
from tests.fixtures.stripe_server import TEST_KEY
from tests.service.harness import WEBHOOK_SECRET

START = "2015-01-01T00:00:00Z"


def stripe_source(server: StripeHTTPServer, **extra: Any) -> dict[str, Any]:
    """source-stripe against the local server; events newer than an hour wait, so only pushed events are live."""
    config = {
        "api_key": TEST_KEY,
        "api_base": server.url,
        "requests_per_second": 2000,
        "start_date": START,
        "backoff_base_s": 0.01,
        "max_retries": 2,
        "events_lag_s": 3600,
        **extra,
    }
    return {"command": [sys.executable, "-m", "source_stripe"], "config": config}


def postgres_destination(url: str, schema: str) -> dict[str, Any]:
    return {"command": [sys.executable, "-m", "destination_postgres"], "config": {"url": url, "schema": schema}}


def stripe_pipeline(
    server: StripeHTTPServer, url: str, schema: str, streams: list[str], **extra: Any
) -> dict[str, Any]:
    """A pipeline body for `POST /pipelines`."""
    body: dict[str, Any] = {
        "name": f"stripe into {schema}",
        "source": stripe_source(server),
        "destination": postgres_destination(url, schema),
        "streams": [{"name": s, "sync_mode": "incremental"} for s in streams],
        "webhook_secret": WEBHOOK_SECRET,
        "chunk_s": 20,
    }
    body.update(extra)
    return body


def synthetic_pipeline(source: dict[str, Any], output: Path, streams: list[str], **extra: Any) -> dict[str, Any]:
    """The synthetic test source into the JSONL test destination (light processes, scripted failures)."""
    body: dict[str, Any] = {
        "source": {"command": python_connector("synthetic_source.py"), "config": source},
        "destination": {"command": python_connector("jsonl_destination.py"), "config": {"path": str(output)}},
        "streams": [{"name": s} for s in streams],
        "chunk_s": 20,
    }
    body.update(extra)
    return body


def written_ids(output: Path, stream: str) -> set[str]:
    """The ids the JSONL destination has written for `stream` (a retry may write some twice)."""
    if not output.exists():
        return set()
    lines = output.read_bytes().splitlines()
    found = set()
    for line in lines:
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line being written
        if row.get("stream") == stream:
            found.add(row["data"]["id"])
    return found


def rows(url: str, schema: str, table: str) -> dict[str, dict[str, Any]]:
    """Every row of a destination table by id (empty when the table does not exist)."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
        if exists is None or exists[0] is None:
            return {}
        cursor = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, table)))
        names = [c.name for c in cursor.description or []]
        return {r[names.index("id")]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}


def last_event(server: StripeHTTPServer) -> dict[str, Any]:
    """The newest event of the fake account, as a webhook would carry it."""
    events = server.api.store.collections["events"]
    event: dict[str, Any] = events.render(events.size - 1)
    return event

"""Fixtures of this package's tests (the PostgreSQL server comes from tests/fixtures/postgres.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from sync_protocol.testing import ConnectorHarness

COMMAND = [sys.executable, "-m", "destination_postgres"]

ONE_STREAM_CATALOG = {
    "streams": [
        {
            "name": "s",
            "json_schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "primary_key": [["id"]],
            "destination_sync_mode": "append_dedup",
        }
    ]
}
"""Stream `s` of integer ids, merged by `id`: what the tests that drive `write` over a live pipe load."""


def write_argv(folder: str, config: dict[str, Any], catalog: dict[str, Any]) -> list[str]:
    """The `write` command line, its config and catalog saved as files in `folder`."""
    (Path(folder) / "config.json").write_bytes(orjson.dumps(config))
    (Path(folder) / "catalog.json").write_bytes(orjson.dumps(catalog))
    return [*COMMAND, "write", "--config", f"{folder}/config.json", "--catalog", f"{folder}/catalog.json"]


@pytest.fixture
def harness() -> ConnectorHarness:
    """The real `destination-postgres` executable over pipes."""
    return ConnectorHarness(COMMAND, timeout_s=90)


@pytest.fixture
def config(postgres_url: str, pg_schema: str) -> dict[str, Any]:
    """A config writing into this test's own schema."""
    return {"url": postgres_url, "schema": pg_schema}


@pytest.fixture
def db(postgres_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain autocommit connection for assertions."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn

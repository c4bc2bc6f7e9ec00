"""Fixtures of this package's tests (the PostgreSQL server comes from tests/fixtures/postgres.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sync_protocol.testing import ConnectorHarness

COMMAND = [sys.executable, "-m", "destination_postgres"]


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

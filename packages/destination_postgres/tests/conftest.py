"""Helpers for this package's tests: the connector command, configs, catalogs and record builders."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sync_protocol import ConfiguredCatalog
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


def catalog(*streams: dict[str, Any]) -> ConfiguredCatalog:
    """A configured catalog from stream dicts (name, json_schema, primary_key, destination_sync_mode)."""
    return ConfiguredCatalog.model_validate({"streams": list(streams)})


def stream(
    name: str, properties: dict[str, Any], *, pk: list[str] | None = None, mode: str = "append_dedup"
) -> dict[str, Any]:
    """One configured stream with an object schema of `properties`."""
    return {
        "name": name,
        "json_schema": {"type": "object", "properties": properties},
        "primary_key": [[p] for p in (pk if pk is not None else ["id"])],
        "destination_sync_mode": mode,
    }

"""The service under test: two workers on one task queue and the API, for the session, on the session's dev server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sync_service import TimingDefaults

from tests.service.harness import Service

TEST_TIMING = TimingDefaults(
    heartbeat_timeout_s=10.0, max_attempts=3, retry_initial_s=0.5, drain_s=30.0, history_limit=10
)
"""A short history limit, so every lifecycle test also crosses continue-as-new; a heartbeat timeout that a worker
on a busy 2-core machine still meets, and that keeps the killed-worker test short."""
TEST_TIMEOUT_S = 300
"""Each test here runs a dozen or more connector processes (setup, backfill, live syncs): on a loaded 2-core
machine that can take minutes, more than the suite's default per-test timeout."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.parent == Path(__file__).parent and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


@pytest.fixture(scope="session")
def service(temporal_target: str, postgres_url: str) -> Iterator[Service]:
    """Two workers and the API; pipelines of different tests stay apart by id and destination schema."""
    running = Service(temporal_target, postgres_url, TEST_TIMING)
    try:
        running.start_workers(2)
        yield running
    finally:
        running.close()

"""source-stripe reports the requests it makes; the engine's progress counts exactly what the server answered."""

from __future__ import annotations

from pathlib import Path

from sync_engine import Engine, validate_pipeline
from sync_engine.blocking import sync
from sync_protocol import RunStatus
from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.connectors import python_connector
from tests.fixtures.stripe_server import TEST_KEY


def test_the_engine_counts_every_request_the_source_made(tmp_path: Path, stripe_api: StripeHTTPServer) -> None:
    before = len(stripe_api.api.paths)
    pipeline = validate_pipeline(
        {
            "name": "count",
            "source": {
                "command": "source-stripe",
                "config": {"api_key": TEST_KEY, "api_base": stripe_api.url, "start_date": "2015-01-01T00:00:00Z"},
            },
            "destination": {
                "command": python_connector("jsonl_destination.py"),
                "config": {"path": str(tmp_path / "out.jsonl")},
            },
            "streams": [{"name": "customers"}, {"name": "charges"}],
            "state": {"store": "memory"},
        }
    )
    result = sync(Engine(pipeline))
    assert result.status is RunStatus.SUCCEEDED, result.errors
    made = len(stripe_api.api.paths) - before
    assert made >= 2
    assert result.progress.request_count == made

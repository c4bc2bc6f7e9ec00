"""Recovering a pipeline parked in `error`: `config_updated` (the user fixed a setting) and `deployment_updated`
(the operator deployed a working connector), against the real dev server."""

from __future__ import annotations

from pathlib import Path

from sync_testbed.stripe_server import StripeHTTPServer

from tests.fixtures.connectors import python_connector
from tests.service.harness import Service, wait_for
from tests.service.pipelines import postgres_destination, rows, stripe_pipeline, synthetic_pipeline, written_ids


def test_a_corrected_destination_config_recovers_the_pipeline_and_a_new_stream_is_backfilled(
    service: Service, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str
) -> None:
    store = stripe_api.api.store
    store.generate("customers", 40)
    store.generate("products", 15)
    body = stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"])
    body["destination"]["config"] = {"url": postgres_url, "shema": pg_schema}  # the user's typo
    pipeline_id = service.create(body)
    parked = service.wait_status(pipeline_id, "error")
    assert parked["status_reason"].startswith("setup failed") and "shema" in parked["status_reason"]
    assert parked["desired_status"] == "active"
    assert service.runs(pipeline_id)["runs"] == []  # setup failed: no sync ran

    status, answer = service.call(
        "PATCH", f"/pipelines/{pipeline_id}", {"destination": postgres_destination(postgres_url, pg_schema)}
    )
    assert status == 200 and answer["desired_status"] == "active", answer
    service.wait_status(pipeline_id, "ready")
    assert len(rows(postgres_url, pg_schema, "customers")) == 40
    assert service.pipeline(pipeline_id)["status_reason"] is None

    # a config change while ready sets up again and backfills what the change added, nothing twice
    streams = [{"name": "customers", "sync_mode": "incremental"}, {"name": "products", "sync_mode": "incremental"}]
    assert service.call("PATCH", f"/pipelines/{pipeline_id}", {"streams": streams})[0] == 200
    wait_for("the added stream's rows", lambda: len(rows(postgres_url, pg_schema, "products")) == 15, timeout_s=120)
    service.wait_status(pipeline_id, "ready")
    history = service.runs(pipeline_id)
    assert [(r["purpose"], r["status"]) for r in history["runs"]] == [
        ("backfill", "succeeded"),
        ("reconcile", "succeeded"),
    ]
    assert history["runs"][1]["records"] == 15  # the customers were not read again
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202


def _destination_script(path: Path, log: Path, broken: bool) -> None:
    """A deployed destination: logs its subcommands; the broken version fails every `write`."""
    real = " ".join(python_connector("jsonl_destination.py"))
    fail = 'if [ "$1" = write ]; then echo "write is broken in this version" >&2; exit 1; fi\n' if broken else ""
    version = "v1" if broken else "v2"
    path.write_text(f'#!/bin/sh\necho "{version} $1" >> "{log}"\n{fail}exec {real} "$@"\n')
    path.chmod(0o755)


def test_a_broken_connector_parks_after_its_retries_and_a_deployment_recovers(service: Service, tmp_path: Path) -> None:
    output, log, command = tmp_path / "out.jsonl", tmp_path / "calls.log", tmp_path / "destination"
    _destination_script(command, log, broken=True)
    body = synthetic_pipeline({"streams": {"items": 60}, "page_size": 20}, output, ["items"])
    body["destination"]["command"] = str(command)
    pipeline_id = service.create(body)
    parked = service.wait_status(pipeline_id, "error", timeout_s=120)
    assert parked["status_reason"].startswith("backfill failed")
    history = service.runs(pipeline_id)
    assert [r["status"] for r in history["runs"]] == ["system_error"] * 3  # the infrastructure's, retried
    assert history["counts"]["error"] == 0

    _destination_script(command, log, broken=False)  # the operator deploys the fixed version …
    assert service.call("POST", f"/pipelines/{pipeline_id}/signals/deployment_updated")[0] == 202
    service.wait_status(pipeline_id, "ready")  # … which is set up and asked for its spec afresh
    assert written_ids(output, "items") == {f"items-{i}" for i in range(60)}
    calls = log.read_text().split("\n")
    first_v2 = calls.index(next(c for c in calls if c.startswith("v2")))
    assert {"v2 spec", "v2 setup", "v2 write"} <= set(calls[first_v2:])
    assert [r["status"] for r in service.runs(pipeline_id)["runs"]] == ["system_error"] * 3 + ["succeeded"]
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202

"""The never-fail error model: stream errors are isolated, a bad key parks the pipeline, a killed worker is survived."""

from __future__ import annotations

import signal
from pathlib import Path

from sync_testbed.stripe_server import StripeHTTPServer

from tests.service.conftest import TEST_TIMING
from tests.service.harness import Service, wait_for
from tests.service.pipelines import rows, stripe_pipeline, stripe_source, synthetic_pipeline, written_ids


def test_a_permanent_stream_error_leaves_the_healthy_streams_running(service: Service, tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    source = {
        "streams": {"broken": 50, "healthy": 600},
        "page_size": 20,
        "page_delay_s": 0.2,  # six seconds of reading: a backfill of several chunks
        "failures": [{"kind": "stream_error", "stream": "broken", "after_records": 10}],
    }
    pipeline_id = service.create(synthetic_pipeline(source, output, ["broken", "healthy"], chunk_s=4.0))
    ready = service.wait_status(pipeline_id, "ready", timeout_s=120)
    assert ready["status_reason"] is None
    assert written_ids(output, "healthy") == {f"healthy-{i}" for i in range(600)}

    runs = [r for r in service.runs(pipeline_id)["runs"] if r["purpose"] == "backfill"]
    assert len(runs) >= 2, runs  # chunked
    [errored] = [i for i, r in enumerate(runs) if r["status"] == "partial"]
    issues = [(i["level"], i["stream"], i["kind"]) for i in runs[errored]["issues"]]
    assert issues == [("stream", "broken", "system_error")]
    assert errored < len(runs) - 1, runs  # later chunks followed it …
    assert all(r["status"] == "succeeded" and r["issues"] == [] for r in runs[errored + 1 :])  # … without broken
    counts = service.runs(pipeline_id)["counts"]
    assert counts["partial"] == 1 and counts["error"] == 0 and counts["system_error"] == 0
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202


def test_a_bad_key_parks_in_error_until_credentials_are_updated(
    service: Service, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str
) -> None:
    stripe_api.api.store.generate("customers", 40)
    key = "sk_test_NotYetActivatedKey0123456789"
    body = stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"])
    body["source"] = stripe_source(stripe_api, api_key=key)
    pipeline_id = service.create(body)
    parked = service.wait_status(pipeline_id, "error")
    assert "refused the API key" in parked["status_reason"] and key not in parked["status_reason"]
    assert parked["desired_status"] == "active"
    history = service.runs(pipeline_id)
    assert [r["status"] for r in history["runs"]] == ["error"]  # permanent: not retried
    assert history["counts"]["error"] == 1 and history["counts"]["system_error"] == 0
    assert key not in str(history)

    stripe_api.api.keys[key] = "ok"  # the user activates the key
    assert service.call("POST", f"/pipelines/{pipeline_id}/signals/credentials_updated")[0] == 202
    service.wait_status(pipeline_id, "ready")
    assert len(rows(postgres_url, pg_schema, "customers")) == 40
    assert [r["status"] for r in service.runs(pipeline_id)["runs"]] == ["error", "succeeded"]
    assert service.call("POST", f"/pipelines/{pipeline_id}/signals/reboot")[0] == 404
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202


def test_a_worker_killed_mid_activity_is_replaced_without_data_loss(
    temporal_target: str, postgres_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "out.jsonl"
    source = {"streams": {"items": 400}, "page_size": 10, "page_delay_s": 0.15}  # about six seconds of reading
    own = Service(temporal_target, postgres_url, TEST_TIMING)
    try:
        own.start_workers(2)
        pipeline_id = own.create(synthetic_pipeline(source, output, ["items"], chunk_s=60))
        wait_for(
            "a checkpoint mid-backfill",
            lambda: "items" in (own.checkpoint(pipeline_id) or {}).get("streams", {}),
            60,
            0.05,
        )
        assert len(written_ids(output, "items")) < 400
        [running] = own.runs(pipeline_id)["runs"]
        [victim] = [w for w in own.workers if running["worker"].endswith(f":{w.pid}")]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        own.wait_status(pipeline_id, "ready", timeout_s=120)
        assert written_ids(output, "items") == {f"items-{i}" for i in range(400)}
        runs = own.runs(pipeline_id)["runs"]
        assert [(r["attempt"], r["status"]) for r in runs] == [(1, "system_error"), (2, "succeeded")]
        assert "worker" in runs[0]["reason"] and runs[0]["worker"] != runs[1]["worker"]
        assert runs[1]["records"] < 400  # the retry resumed from the checkpoint instead of starting over
        assert own.runs(pipeline_id)["counts"]["system_error"] == 1
    finally:
        own.close()

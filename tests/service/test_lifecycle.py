"""The pipeline lifecycle against a real Temporal dev server, the local Stripe API and a real PostgreSQL."""

from __future__ import annotations

from sync_testbed.stripe_server import StripeHTTPServer

from tests.service.harness import Service, wait_for
from tests.service.pipelines import last_event, rows, stripe_pipeline


def test_full_lifecycle(service: Service, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str) -> None:
    store = stripe_api.api.store
    store.generate("customers", 250)
    pipeline_id = service.create(stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"]))
    ready = service.wait_status(pipeline_id, "ready")
    assert ready["desired_status"] == "active" and ready["status_reason"] is None
    assert len(rows(postgres_url, pg_schema, "customers")) == 250

    store.update("cus_0000000007", {"name": "changed by a webhook"})
    status, answer = service.webhook(pipeline_id, last_event(stripe_api))
    assert status == 202, answer
    wait_for(
        "the webhook's change in Postgres",
        lambda: rows(postgres_url, pg_schema, "customers")["cus_0000000007"]["name"] == "changed by a webhook",
    )

    history = wait_for(
        "the live run to be recorded", lambda: (h := service.runs(pipeline_id))["counts"]["running"] == 0 and h
    )
    assert {r["purpose"] for r in history["runs"]} == {"backfill", "live"}
    assert all(r["status"] == "succeeded" for r in history["runs"]), history["runs"]
    assert history["counts"]["error"] == 0 and history["counts"]["system_error"] == 0

    status, _ = service.call("DELETE", f"/pipelines/{pipeline_id}")
    assert status == 202
    gone = service.wait_status(pipeline_id, "teardown")
    wait_for("teardown to finish", lambda: service.pipeline(pipeline_id)["status_reason"] == "torn down")
    assert gone["desired_status"] == "deleted"
    assert rows(postgres_url, pg_schema, "customers") == {}
    status, answer = service.call("PATCH", f"/pipelines/{pipeline_id}", {"desired_status": "active"})
    assert status == 409, answer


def test_pause_and_resume_keep_webhooks_queued(
    service: Service, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str
) -> None:
    store = stripe_api.api.store
    store.generate("customers", 50)
    body = stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"], desired_status="paused")
    pipeline_id = service.create(body)
    service.wait_status(pipeline_id, "paused")
    for i in (1, 2, 4):
        store.update(f"cus_000000000{i}", {"name": f"edited while paused {i}"})
        assert service.webhook(pipeline_id, last_event(stripe_api))[0] == 202
    wait_for(  # both queued, and kept across continue-as-new
        "three queued events in a continued run",
        lambda: (state := service.workflow_state(pipeline_id))["pending_inputs"] == 3 and state["generation"] >= 1,
    )
    assert rows(postgres_url, pg_schema, "customers") == {}  # paused before setup: nothing ran

    assert service.call("PATCH", f"/pipelines/{pipeline_id}", {"desired_status": "active"})[0] == 200
    service.wait_status(pipeline_id, "ready")
    wait_for("the queued events to be applied", lambda: service.workflow_state(pipeline_id)["pending_inputs"] == 0)
    assert "live" in {r["purpose"] for r in service.runs(pipeline_id)["runs"]}

    assert service.call("PATCH", f"/pipelines/{pipeline_id}", {"desired_status": "paused"})[0] == 200
    service.wait_status(pipeline_id, "paused")
    store.update("cus_0000000003", {"name": "edited during the second pause"})
    assert service.webhook(pipeline_id, last_event(stripe_api))[0] == 202
    wait_for("the event to be queued", lambda: service.workflow_state(pipeline_id)["pending_inputs"] == 1)
    assert rows(postgres_url, pg_schema, "customers")["cus_0000000003"]["name"] != "edited during the second pause"

    assert service.call("PATCH", f"/pipelines/{pipeline_id}", {"desired_status": "active"})[0] == 200
    wait_for(
        "the queued event in Postgres after resuming",
        lambda: (
            rows(postgres_url, pg_schema, "customers")["cus_0000000003"]["name"] == "edited during the second pause"
        ),
    )
    assert service.pipeline(pipeline_id)["status"] == "ready"
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202
    service.wait_status(pipeline_id, "teardown")


def test_a_bad_webhook_signature_is_refused(service: Service, stripe_api: StripeHTTPServer, pg_schema: str) -> None:
    body = stripe_pipeline(
        stripe_api, "postgresql://nowhere.invalid/x", pg_schema, ["customers"], desired_status="paused"
    )
    pipeline_id = service.create(body)
    event = {"id": "evt_1", "object": "event", "type": "customer.updated", "data": {"object": {"id": "cus_1"}}}
    status, answer = service.webhook(pipeline_id, event, secret="whsec_someone_else_entirely_000000")
    assert status == 400 and "signature" in answer["error"]["message"]
    status, answer = service.call("POST", f"/pipelines/{pipeline_id}/webhooks", raw=b"{}")
    assert status == 400 and "Stripe-Signature" in answer["error"]["message"]
    public = service.pipeline(pipeline_id)
    assert "config" not in public["source"] and "nowhere" not in str(public)
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 409
    gone = service.wait_status(pipeline_id, "teardown")  # never set up: nothing to tear down
    wait_for("teardown to finish", lambda: service.pipeline(pipeline_id)["status_reason"] == "torn down")
    assert gone["desired_status"] == "deleted"

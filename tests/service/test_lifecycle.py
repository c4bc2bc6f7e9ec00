"""The pipeline lifecycle against a real Temporal dev server, the local Stripe API and a real PostgreSQL."""

from __future__ import annotations

from tests.service.harness import Service, wait_for
from tests.service.pipelines import last_event, rows, stripe_pipeline
from tests.stripe_server import StripeHTTPServer


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

    history = service.runs(pipeline_id)
    assert {r["purpose"] for r in history["runs"]} == {"backfill", "live"}
    assert all(r["status"] == "succeeded" for r in history["runs"])
    assert history["counts"]["error"] == 0 and history["counts"]["system_error"] == 0

    status, _ = service.call("DELETE", f"/pipelines/{pipeline_id}")
    assert status == 202
    gone = service.wait_status(pipeline_id, "teardown")
    wait_for("teardown to finish", lambda: service.pipeline(pipeline_id)["status_reason"] == "torn down")
    assert gone["desired_status"] == "deleted"
    assert rows(postgres_url, pg_schema, "customers") == {}
    status, answer = service.call("PATCH", f"/pipelines/{pipeline_id}", {"desired_status": "active"})
    assert status == 409, answer

"""The live lane runs beside the backfill, and the newer version of an object wins over what the backfill read."""

from __future__ import annotations

from typing import Any

from sync_testbed.stripe_server import StripeHTTPServer

from tests.service.harness import Service, wait_for
from tests.service.holding_proxy import holding_proxy
from tests.service.pipelines import last_event, rows, stripe_pipeline, stripe_source

NEWER = "newer, from a webhook"


def test_a_webhook_during_the_backfill_is_applied_at_once_and_wins_over_an_older_read(
    service: Service, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str
) -> None:
    store = stripe_api.api.store
    store.generate("customers", 30)
    lists = lambda method, path: method == "GET" and path == "/v1/customers"  # noqa: E731 (the backfill's reads)
    with holding_proxy(stripe_api.url, lists) as proxy:
        # one chunk: a time limit during the hold would stop the source before it wrote its older read
        body = stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"], chunk_s=300)
        body["source"] = stripe_source(stripe_api, api_base=proxy.url, request_timeout_s=300)
        pipeline_id = service.create(body)

        def held_page() -> dict[str, Any] | None:
            return next((page for page in proxy.held if page.get("data")), None)

        # the backfill has read a page (with the old version of its objects) and not yet written it …
        target = wait_for("the backfill to read a page", held_page, timeout_s=120)["data"][0]["id"]
        store.update(target, {"name": NEWER})
        assert service.webhook(pipeline_id, last_event(stripe_api))[0] == 202
        # … while the live lane re-fetches the object and writes the newer version at once
        wait_for(
            "the webhook's change during the backfill",
            lambda: rows(postgres_url, pg_schema, "customers").get(target, {}).get("name") == NEWER,
            timeout_s=120,
        )
        assert service.pipeline(pipeline_id)["status"] == "backfill"
        assert list(rows(postgres_url, pg_schema, "customers")) == [target]  # the backfill wrote nothing yet

        proxy.release()  # the backfill now writes its older read of the object
        service.wait_status(pipeline_id, "ready", timeout_s=120)
        wait_for(
            "the event to be applied again after the backfill",
            lambda: (
                service.workflow_state(pipeline_id)["pending_inputs"] == 0
                and service.runs(pipeline_id)["counts"]["running"] == 0
            ),
            timeout_s=120,
        )

    final = rows(postgres_url, pg_schema, "customers")
    assert len(final) == 30
    assert final[target]["name"] == NEWER
    runs = service.runs(pipeline_id)["runs"]
    assert all(r["status"] == "succeeded" for r in runs), runs
    backfill_ended = max(r["ended_at"] for r in runs if r["purpose"] == "backfill")
    live_started = [r["started_at"] for r in runs if r["purpose"] == "live"]
    assert len(live_started) == 2 and live_started[0] < backfill_ended < live_started[1], runs
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202

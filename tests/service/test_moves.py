"""A PATCH of a pipeline's settings, against the real dev server and PostgreSQL: another destination starts over
(the new one receives every row, not only what changed after the move); new source settings or a rotated secret
keep the checkpoint (nothing is read again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from sync_testbed.stripe_server import StripeHTTPServer

from tests.service.harness import Service, wait_for
from tests.service.pipelines import last_event, postgres_destination, rows, stripe_pipeline, stripe_source


def _settled(service: Service, pipeline_id: str, runs: int) -> dict[str, Any] | None:
    """The run history once it holds `runs` runs and none is running (judged by the listed runs themselves: the
    counts beside them come from another query, and a run may start between the two)."""
    history = service.runs(pipeline_id)
    listed = history["runs"]
    return history if len(listed) >= runs and all(r["status"] != "running" for r in listed) else None


def _push(service: Service, server: StripeHTTPServer, pipeline_id: str, customer: str, name: str) -> None:
    server.api.store.update(customer, {"name": name})
    status, answer = service.webhook(pipeline_id, last_event(server))
    assert status == 202, answer


def test_a_pipeline_moved_to_another_schema_starts_over_and_the_new_one_gets_every_row(
    service: Service,
    stripe_api: StripeHTTPServer,
    postgres_url: str,
    pg_schema: str,
    new_pg_schema: Callable[[], str],
) -> None:
    stripe_api.api.store.generate("customers", 40)
    pipeline_id = service.create(stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"]))
    service.wait_status(pipeline_id, "ready")
    assert len(rows(postgres_url, pg_schema, "customers")) == 40
    _push(service, stripe_api, pipeline_id, "cus_0000000007", "before the move")  # the live lane's checkpoint too
    wait_for(
        "the webhook's change in the first schema",
        lambda: rows(postgres_url, pg_schema, "customers")["cus_0000000007"]["name"] == "before the move",
    )
    wait_for("the live run to be recorded", lambda: _settled(service, pipeline_id, 2))

    moved = new_pg_schema()
    status, answer = service.call(
        "PATCH", f"/pipelines/{pipeline_id}", {"destination": postgres_destination(postgres_url, moved)}
    )
    assert status == 200, answer
    wait_for("every row in the new schema", lambda: len(rows(postgres_url, moved, "customers")) == 40, timeout_s=120)
    service.wait_status(pipeline_id, "ready")
    assert rows(postgres_url, moved, "customers")["cus_0000000007"]["name"] == "before the move"
    _push(service, stripe_api, pipeline_id, "cus_0000000008", "after the move")  # the live lane follows the move
    wait_for(
        "the webhook's change in the new schema",
        lambda: rows(postgres_url, moved, "customers")["cus_0000000008"]["name"] == "after the move",
    )

    history = wait_for("the runs to be recorded", lambda: _settled(service, pipeline_id, 4))
    assert {r["status"] for r in history["runs"]} == {"succeeded"}, history["runs"]
    after = [r for r in history["runs"][2:] if r["purpose"] != "live"]
    assert {r["purpose"] for r in after} == {"backfill"}  # a new destination's first backfill, not a reconcile
    assert sum(r["records"] for r in after) == 40  # read from the start
    assert len(rows(postgres_url, pg_schema, "customers")) == 40  # the old destination is left as it was
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202
    service.wait_status(pipeline_id, "teardown")


def test_new_source_settings_and_a_rotated_destination_password_keep_the_checkpoint(
    service: Service, stripe_api: StripeHTTPServer, postgres_url: str, pg_schema: str
) -> None:
    if urlsplit(postgres_url).password:
        pytest.skip("rotating the password needs a server that trusts local connections, as the test server does")
    stripe_api.api.store.generate("customers", 40)
    body = stripe_pipeline(stripe_api, postgres_url, pg_schema, ["customers"])
    body["destination"]["config"]["password"] = "the-first-password"
    pipeline_id = service.create(body)
    service.wait_status(pipeline_id, "ready")
    assert len(rows(postgres_url, pg_schema, "customers")) == 40

    rotated_key = "sk_test_rotated0000000000000000FAKE"
    stripe_api.api.keys[rotated_key] = "ok"
    source = stripe_source(stripe_api, api_key=rotated_key, requests_per_second=500)
    destination = postgres_destination(postgres_url, pg_schema)
    destination["config"]["password"] = "the-rotated-password"
    status, answer = service.call("PATCH", f"/pipelines/{pipeline_id}", {"source": source, "destination": destination})
    assert status == 200, answer
    history = wait_for("the reconcile after the change", lambda: _settled(service, pipeline_id, 2), timeout_s=120)
    assert [(r["purpose"], r["status"]) for r in history["runs"]] == [
        ("backfill", "succeeded"),
        ("reconcile", "succeeded"),
    ]
    assert history["runs"][1]["records"] == 0  # the checkpoint was kept: nothing read again
    service.wait_status(pipeline_id, "ready")
    assert service.call("DELETE", f"/pipelines/{pipeline_id}")[0] == 202
    service.wait_status(pipeline_id, "teardown")

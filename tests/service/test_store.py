"""The pipeline store on a real PostgreSQL: terminal deletion, status writes, run history and its counts."""

from __future__ import annotations

import pytest
from sync_service import InvalidTransitionError, PipelineCreate, PipelineNotFoundError, PipelineStore, PipelineUpdate
from sync_service._payloads import StreamIssue, SyncOutcome


def _body() -> PipelineCreate:
    return PipelineCreate.model_validate(
        {
            "source": {"command": "source-x", "config": {"api_key": "sk_test_secret_value_123456"}},
            "destination": {"command": "destination-y", "config": {"url": "postgresql://u:pw@h/db"}},
            "webhook_secret": "whsec_abcdefabcdefabcdef",
        }
    )


def test_deleted_is_terminal_and_the_public_view_hides_configs(postgres_url: str, pg_schema: str) -> None:
    store = PipelineStore(postgres_url, pg_schema)
    record = store.create(_body())
    assert record.desired_status == "active" and record.status is None
    before, after = store.update(record.id, PipelineUpdate(desired_status="paused"))
    assert (before.desired_status, after.desired_status) == ("active", "paused")
    store.update(record.id, PipelineUpdate(desired_status="deleted"))
    for change in ({"desired_status": "active"}, {"desired_status": "deleted"}, {"streams": [{"name": "a"}]}):
        with pytest.raises(InvalidTransitionError):
            store.update(record.id, PipelineUpdate.model_validate(change))
    public = str(store.get(record.id).public())
    assert "sk_test_secret" not in public and "pw@" not in public and "whsec" not in public
    with pytest.raises(PipelineNotFoundError):
        store.get("pl_0000000000000000")


def test_a_lost_attempt_is_closed_as_system_error_by_the_next(postgres_url: str, pg_schema: str) -> None:
    store = PipelineStore(postgres_url, pg_schema)
    pipeline_id = store.create(_body()).id
    store.start_run(pipeline_id, "backfill", "wf/1", 1, "worker-a")
    second = store.start_run(pipeline_id, "backfill", "wf/1", 2, "worker-b")
    store.finish_run(
        second, SyncOutcome("partial", issues=[StreamIssue("system_error", "system_error", "stream", "x", "s")])
    )
    other = store.start_run(pipeline_id, "live", "wf/2", 1, "worker-b")
    store.finish_run(other, SyncOutcome("error", reason="bad key"))
    runs = store.runs(pipeline_id)
    assert [(r.attempt, r.status, r.worker) for r in runs] == [
        (1, "system_error", "worker-a"), (2, "partial", "worker-b"), (1, "error", "worker-b"),
    ]  # fmt: skip
    assert "lost" in (runs[0].reason or "") and runs[1].issues[0]["stream"] == "s"
    counts = store.run_counts(pipeline_id)
    assert counts == {"succeeded": 0, "partial": 1, "error": 1, "system_error": 1, "cancelled": 0, "running": 0}
    assert store.run_counts() == counts

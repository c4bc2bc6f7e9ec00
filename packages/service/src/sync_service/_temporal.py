"""Connecting to Temporal and building a worker: the only place that knows the task queue and the sandbox."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ._activities import PipelineActivities, WorkerSettings
from ._workflows import BackfillWorkflow, PipelineWorkflow

DEFAULT_TASK_QUEUE = "sync-service"
PASSTHROUGH = ("sync_service", "sync_engine", "sync_protocol", "psycopg", "stripe", "orjson")
"""Imported once outside the sandbox: the package's `__init__` pulls in the engine, psycopg and Stripe's SDK,
which workflows never call (the workflow module itself imports only stdlib payloads)."""


@dataclass
class TemporalSettings:
    """Where the Temporal frontend is; the same for the dev server and a cluster."""

    target: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
    api_key: str | None = None
    """For Temporal Cloud or a cluster with API-key auth; TLS is turned on with it."""


async def connect(settings: TemporalSettings) -> Client:
    """A client for the frontend in `settings`."""
    return await Client.connect(
        settings.target, namespace=settings.namespace, api_key=settings.api_key, tls=settings.api_key is not None
    )


def create_worker(client: Client, settings: TemporalSettings, worker: WorkerSettings, max_activities: int) -> Worker:
    """A worker that runs both workflows and every activity; connectors run as subprocesses of this process."""
    activities = PipelineActivities(worker)
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[PipelineWorkflow, BackfillWorkflow],
        activities=[
            activities.set_status,
            activities.setup_pipeline,
            activities.teardown_pipeline,
            activities.sync_pipeline,
        ],
        max_concurrent_activities=max_activities,
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
        identity=worker.name,
    )

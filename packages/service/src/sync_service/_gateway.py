"""Starting and signalling pipeline workflows from plain threads: one event-loop thread owns the Temporal client."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from ._models import PipelineRecord
from ._payloads import PipelineParams, Timing
from ._temporal import TemporalSettings, connect
from ._workflows import PipelineWorkflow

T = TypeVar("T")
CALL_TIMEOUT_S = 30.0


def workflow_id(pipeline_id: str) -> str:
    """The pipeline workflow's id: one workflow per pipeline, for its whole life."""
    return f"pipeline-{pipeline_id}"


@dataclass
class TimingDefaults:
    """Service-wide activity timing; each pipeline adds its own chunk length and reconcile interval."""

    heartbeat_timeout_s: float = 30.0
    max_attempts: int = 5
    retry_initial_s: float = 1.0
    history_limit: int = 5000
    drain_s: float = 120.0
    """Added to twice a pipeline's `chunk_s` to bound one sync attempt."""

    def for_pipeline(self, record: PipelineRecord) -> Timing:
        """The timing a pipeline's workflow gets when it starts."""
        return Timing(
            sync_timeout_s=2 * record.chunk_s + self.drain_s,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            max_attempts=self.max_attempts,
            retry_initial_s=self.retry_initial_s,
            reconcile_interval_s=record.reconcile_interval_s,
            history_limit=self.history_limit,
        )


class WorkflowGateway:
    """Blocking facade over the async Temporal client, safe to call from any thread (`open` first)."""

    def __init__(self, settings: TemporalSettings, timing: TimingDefaults | None = None) -> None:
        self.settings = settings
        self.timing = timing or TimingDefaults()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="temporal-client", daemon=True)
        self._client: Client | None = None

    def open(self) -> None:
        """Start the loop thread and connect; raises if the frontend cannot be reached."""
        self._thread.start()
        self._client = self._call(connect(self.settings))

    def close(self) -> None:
        """Stop the loop thread."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_TIMEOUT_S)

    @property
    def client(self) -> Client:
        assert self._client is not None, "WorkflowGateway.open() first"
        return self._client

    def start_pipeline(self, record: PipelineRecord) -> None:
        """Start the pipeline's workflow (it starts paused when the pipeline was created paused)."""
        params = PipelineParams(
            pipeline_id=record.id,
            desired_status=record.desired_status,
            timing=self.timing.for_pipeline(record),
        )
        self._call(
            self.client.start_workflow(
                PipelineWorkflow.run,
                params,
                id=workflow_id(record.id),
                task_queue=self.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        )

    def signal(self, pipeline_id: str, name: str, arg: Any = None) -> None:
        """Send one signal to the pipeline's workflow (durable once this returns)."""
        handle = self.client.get_workflow_handle(workflow_id(pipeline_id))
        self._call(handle.signal(name) if arg is None else handle.signal(name, arg))

    def query(self, pipeline_id: str, name: str = "state") -> Any:
        """Ask the workflow directly (for operators and tests; the API answers from the store instead)."""
        return self._call(self.client.get_workflow_handle(workflow_id(pipeline_id)).query(name))

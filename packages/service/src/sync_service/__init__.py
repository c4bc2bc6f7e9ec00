"""sync_service: sync pipelines as Temporal workflows, with a pipeline store and an HTTP API (DESIGN §6)."""

from ._activities import PipelineActivities, WorkerSettings
from ._api import ApiServer, ServiceApi
from ._errors import InvalidTransitionError, PipelineNotFoundError, ServiceError, WebhookRejectedError
from ._gateway import TimingDefaults, WorkflowGateway, workflow_id
from ._models import PipelineCreate, PipelineRecord, PipelineUpdate, RunRecord
from ._outcome import error_kind, run_status
from ._payloads import PipelineParams, SyncOutcome, Timing
from ._store import PipelineStore
from ._temporal import TemporalSettings, connect, create_worker
from ._workflows import BackfillWorkflow, PipelineWorkflow

__all__ = [
    "ApiServer",
    "BackfillWorkflow",
    "InvalidTransitionError",
    "PipelineActivities",
    "PipelineCreate",
    "PipelineNotFoundError",
    "PipelineParams",
    "PipelineRecord",
    "PipelineStore",
    "PipelineUpdate",
    "PipelineWorkflow",
    "RunRecord",
    "ServiceApi",
    "ServiceError",
    "SyncOutcome",
    "TemporalSettings",
    "Timing",
    "TimingDefaults",
    "WebhookRejectedError",
    "WorkerSettings",
    "WorkflowGateway",
    "connect",
    "create_worker",
    "error_kind",
    "run_status",
    "workflow_id",
]

"""The pipeline as the API accepts it and the store keeps it; validated with the engine's own models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sync_engine import ConnectorSettings, Pipeline, StateSettings, StreamSelection

DesiredStatus = Literal["active", "paused", "deleted"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PipelineCreate(_Model):
    """The body of `POST /pipelines`."""

    name: str | None = Field(default=None, max_length=200, description="A label for people; not unique.")
    source: ConnectorSettings
    destination: ConnectorSettings
    streams: list[StreamSelection] | None = Field(default=None, description="Streams to sync; null = all.")
    desired_status: Literal["active", "paused"] = "active"
    webhook_secret: SecretStr | None = Field(
        default=None, description="Signing secret of pushed events (Stripe's `whsec_…`); none = webhooks refused."
    )
    chunk_s: float = Field(default=300.0, gt=0, description="Longest sync activity; a backfill loops chunks.")
    reconcile_interval_s: float | None = Field(
        default=None, gt=0, description="Run a reconcile backfill this often once ready; none = never."
    )


class PipelineUpdate(_Model):
    """The body of `PATCH /pipelines/{id}`: the intent, or new connector settings (which signal config_updated)."""

    desired_status: DesiredStatus | None = None
    source: ConnectorSettings | None = None
    destination: ConnectorSettings | None = None
    streams: list[StreamSelection] | None = None


class PipelineRecord(_Model):
    """One stored pipeline. Connector configs are kept whole here and never returned by the API."""

    id: str
    name: str | None
    source: ConnectorSettings
    destination: ConnectorSettings
    streams: list[StreamSelection] | None
    desired_status: DesiredStatus
    status: str | None
    status_reason: str | None
    webhook_secret: SecretStr | None
    chunk_s: float
    reconcile_interval_s: float | None
    created_at: datetime
    updated_at: datetime

    @property
    def checkpoint_key(self) -> str:
        """The engine pipeline name, so each service pipeline has its own checkpoint."""
        return f"service-pipeline-{self.id}"

    def engine_pipeline(self, state_url: str, state_schema: str, skip: list[str]) -> Pipeline:
        """The engine's pipeline for one sync activity: this pipeline's connectors, minus skipped streams."""
        streams = self.streams
        if streams is not None and skip:
            streams = [s for s in streams if s.name not in skip]
        return Pipeline(
            name=self.checkpoint_key,
            source=self.source.model_copy(deep=True),
            destination=self.destination.model_copy(deep=True),
            streams=streams,
            state=StateSettings(store="postgres", url=state_url, db_schema=state_schema),
            time_limit_s=self.chunk_s,
            # the checkpoint is this pipeline's by its name; its source command changes per run (the webhook
            # feeder wraps it) and its config with the user's updates, which the checkpoint may follow; another
            # destination never resumes from it (setup starts it over, see `_start_over`)
            adopt_checkpoint="source",
        )

    def public(self) -> dict[str, Any]:
        """The API view: commands and config keys, never config values or the webhook secret."""
        return {
            "id": self.id,
            "name": self.name,
            "source": _connector_view(self.source),
            "destination": _connector_view(self.destination),
            "streams": None if self.streams is None else [s.model_dump(mode="json") for s in self.streams],
            "desired_status": self.desired_status,
            "status": self.status,
            "status_reason": self.status_reason,
            "webhooks": self.webhook_secret is not None,
            "chunk_s": self.chunk_s,
            "reconcile_interval_s": self.reconcile_interval_s,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _connector_view(settings: ConnectorSettings) -> dict[str, Any]:
    config = settings.config
    return {
        "command": settings.command,
        "config_keys": sorted(config) if isinstance(config, dict) else None,
        "env_keys": sorted(settings.env) if settings.env else [],
    }


class RunRecord(_Model):
    """One sync activity attempt in a pipeline's run history."""

    id: int
    pipeline_id: str
    purpose: str
    activity_id: str
    attempt: int
    status: str
    has_more: bool
    records: int
    reason: str | None
    issues: list[dict[str, Any]]
    worker: str | None
    started_at: datetime
    ended_at: datetime | None

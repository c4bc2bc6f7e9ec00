"""A pipeline definition: which connectors, which streams, where state lives, and the run's limits.

The same model is read from a JSON/YAML file (`sync-engine sync --pipeline F`) or built from CLI flags or code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sync_protocol import DestinationSyncMode, SyncMode, TimeRange, describe_validation_error

from ._env import interpolate
from ._errors import PipelineConfigError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConnectorSettings(_Model):
    """How to start a connector and what config to give it."""

    command: str | list[str] = Field(description="Executable and leading args; a string is split like a shell's.")
    config: dict[str, Any] | str = Field(
        default_factory=dict, description="The connector config, inline, or the path of a JSON file holding it."
    )
    env: dict[str, str] | None = Field(default=None, description="Extra environment variables for the process.")

    def config_path(self, base: Path | None) -> Path | None:
        """The config file, when the config is given as a path."""
        if isinstance(self.config, dict):
            return None
        path = Path(self.config)
        return path if path.is_absolute() or base is None else base / path

    def load_config(self, base: Path | None = None) -> dict[str, Any]:
        """The config as a dict, reading the file when it is a path."""
        path = self.config_path(base)
        if path is None:
            assert isinstance(self.config, dict)
            return self.config
        try:
            value = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise PipelineConfigError(f"cannot read connector config {path}: {exc.strerror}") from exc
        except orjson.JSONDecodeError as exc:
            raise PipelineConfigError(f"connector config {path} is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise PipelineConfigError(f"connector config {path} must hold a JSON object")
        return value


class StreamSelection(_Model):
    """One stream to sync, optionally with a field selection, modes and a time range."""

    name: str
    fields: list[str] | None = Field(default=None, description="Top-level fields to keep; primary key is kept.")
    sync_mode: SyncMode | None = Field(default=None, description="Default: incremental when supported.")
    destination_sync_mode: DestinationSyncMode | None = Field(
        default=None, description="Default: append_dedup when the stream has a primary key, else append."
    )
    time_range: TimeRange | None = None


class StateSettings(_Model):
    """Where checkpoints are stored."""

    store: Literal["file", "postgres", "memory"] = "file"
    path: str = Field(default=".sync-state", description="File store: a directory, or a single .json file.")
    url: str | None = Field(default=None, description="Postgres store: connection URL.")
    db_schema: str = Field(default="public", description="Postgres store: schema of the _sync_state table.")


class Pipeline(_Model):
    """Everything one sync needs."""

    name: str | None = Field(
        default=None,
        description="Names the pipeline; its checkpoint is stored under it. Default: derived from the connectors, "
        "their non-secret configs and the stream selection.",
    )
    source: ConnectorSettings
    destination: ConnectorSettings
    streams: list[StreamSelection] | None = Field(default=None, description="Streams to sync; null = all.")
    state: StateSettings = Field(default_factory=StateSettings)
    time_limit_s: float | None = Field(default=None, gt=0, description="Soft stop after this many seconds.")
    state_limit: int | None = Field(default=None, ge=1, description="Soft stop after this many checkpoints.")
    validate_records: bool = Field(default=False, description="Validate every record against its JSON Schema.")
    max_attempts: int = Field(default=3, ge=1, description="Source starts per run after transient failures.")
    retry_backoff_s: float = Field(default=1.0, ge=0, description="First retry delay; doubles each attempt.")
    checkpoint_interval_s: float = Field(default=1.0, ge=0, description="Least time between checkpoint writes.")
    progress_interval_s: float = Field(default=2.0, gt=0, description="Most time between progress messages.")
    grace_s: float = Field(default=5.0, ge=0, description="SIGTERM to SIGKILL delay when stopping a connector.")
    drain_timeout_s: float = Field(default=60.0, gt=0, description="How long a destination may take to finish.")
    command_timeout_s: float = Field(
        default=300.0, gt=0, description="How long spec, check, discover, setup or teardown may take; then killed."
    )
    adopt_checkpoint: bool | Literal["source"] = Field(
        default=False,
        description="Resume from the named checkpoint even though it was written by a differently configured "
        "pipeline (e.g. after changing a setting); the checkpoint then belongs to this one. `source`: only when "
        "the source's command or config differ, never the destination's (what it holds is another place's).",
    )

    @field_validator("streams")
    @classmethod
    def _distinct_streams(cls, streams: list[StreamSelection] | None) -> list[StreamSelection] | None:
        names = [s.name for s in streams or []]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"stream(s) selected more than once: {', '.join(repeated)}")
        return streams


def load_pipeline(path: str | Path, env: Mapping[str, str] | None = None) -> Pipeline:
    """Read a pipeline from a JSON or YAML file; `PipelineConfigError` names what is wrong (with line and column).

    `${VAR}` references are replaced from `env` (default: the process environment) everywhere except in the
    connector configs, which the engine interpolates when it loads them (inline or from their files).
    """
    return validate_pipeline(read_pipeline_file(path, env))


def read_pipeline_file(path: str | Path, env: Mapping[str, str] | None = None) -> Any:
    """A pipeline file as JSON, `${VAR}` replaced as `load_pipeline` does, not validated yet (the CLI's flags may
    complete it: a file may leave the destination to `--destination` or a shorthand)."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PipelineConfigError(f"cannot read pipeline file {path}: {exc.strerror}") from exc
    return interpolate_pipeline(_parse(path, text), os.environ if env is None else env)


def _parse(path: Path, text: bytes) -> Any:
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise PipelineConfigError(f"pipeline file {path} is not valid YAML{where}: {exc.problem}") from None
        except yaml.YAMLError as exc:
            raise PipelineConfigError(f"pipeline file {path} is not valid YAML: {exc}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PipelineConfigError(
            f"pipeline file {path} is not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def interpolate_pipeline(raw: Any, env: Mapping[str, str]) -> Any:
    """`raw` with `${VAR}` replaced outside `source.config` / `destination.config` (the engine does those)."""
    if not isinstance(raw, dict):
        return raw
    result: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("source", "destination") and isinstance(value, dict):
            result[key] = {k: v if k == "config" else interpolate(v, env, f"{key}.{k}") for k, v in value.items()}
        else:
            result[key] = interpolate(value, env, str(key))
    return result


def validate_pipeline(raw: Any) -> Pipeline:
    """Validate a pipeline definition; the error lists fields and problems, never values."""
    try:
        return Pipeline.model_validate(raw)
    except ValidationError as exc:
        raise PipelineConfigError(f"invalid pipeline: {describe_validation_error(exc, root='pipeline')}") from exc

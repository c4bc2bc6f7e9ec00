"""The catalog: which streams a source offers (`Stream`) and which a user asked to sync (`ConfiguredStream`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ._ranges import TimeRange


class SyncMode(StrEnum):
    """How a source reads a stream."""

    FULL_REFRESH = "full_refresh"
    INCREMENTAL = "incremental"


class DestinationSyncMode(StrEnum):
    """How a destination applies a stream's records."""

    APPEND = "append"
    OVERWRITE = "overwrite"
    APPEND_DEDUP = "append_dedup"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Stream(_Model):
    """A stream a source can read, as `discover` reports it."""

    name: str = Field(description="Stream name, unique within the catalog.")
    json_schema: dict[str, Any] = Field(description="JSON Schema of one record's `data`.")
    primary_key: list[list[str]] = Field(
        default_factory=list, description='Field paths that identify a record, e.g. [["id"]].'
    )
    cursor_field: list[str] | None = Field(default=None, description="Field path that orders incremental reads.")
    supported_sync_modes: list[SyncMode] = Field(
        default_factory=lambda: [SyncMode.FULL_REFRESH], description="Sync modes the source supports."
    )
    metadata: dict[str, Any] | None = Field(default=None, description="Free-form hints for tools and users.")


class Catalog(_Model):
    """Every stream a source offers."""

    streams: list[Stream] = Field(description="The streams, in the source's order.")


class ConfiguredStream(_Model):
    """A stream the user chose to sync, with its field selection and modes."""

    name: str = Field(description="Stream name, as in the source's catalog.")
    json_schema: dict[str, Any] = Field(
        description="Record JSON Schema pruned to the selected fields; fields outside it are dropped."
    )
    primary_key: list[list[str]] = Field(default_factory=list, description="Field paths that identify a record.")
    cursor_field: list[str] | None = Field(default=None, description="Field path that orders incremental reads.")
    sync_mode: SyncMode = Field(default=SyncMode.FULL_REFRESH, description="How the source reads the stream.")
    destination_sync_mode: DestinationSyncMode = Field(
        default=DestinationSyncMode.APPEND, description="How the destination applies records."
    )
    time_range: TimeRange | None = Field(default=None, description="The span of time to sync; null = everything.")


class ConfiguredCatalog(_Model):
    """The streams of one sync, as passed to `read`, `write` and `setup`."""

    streams: list[ConfiguredStream] = Field(description="The configured streams.")

    def stream(self, name: str) -> ConfiguredStream | None:
        """The configured stream called `name`, or None."""
        for s in self.streams:
            if s.name == name:
                return s
        return None

"""Turning a discovered catalog and the user's stream selection into the configured catalog. Pure logic."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync_protocol import (
    Catalog,
    ConfiguredCatalog,
    ConfiguredStream,
    DestinationSyncMode,
    Stream,
    SyncMode,
    TimeRange,
)

from ._config import StreamSelection
from ._errors import PipelineConfigError
from ._suggest import did_you_mean


def prune_schema(schema: dict[str, Any], fields: list[str], primary_key: list[list[str]]) -> dict[str, Any]:
    """`schema` with only the selected top-level properties (and the primary key's) left."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    keep = set(fields) | {path[0] for path in primary_key if path}
    unknown = sorted(set(fields) - set(properties))
    if unknown:
        hint = did_you_mean(unknown[0], properties)
        raise PipelineConfigError(f"unknown field(s) {', '.join(unknown)}{hint}")
    pruned = dict(schema)
    pruned["properties"] = {name: value for name, value in properties.items() if name in keep}
    if isinstance(schema.get("required"), list):
        pruned["required"] = [name for name in schema["required"] if name in keep]
    pruned["additionalProperties"] = False
    return pruned


def _configure(stream: Stream, selection: StreamSelection) -> ConfiguredStream:
    sync_mode = selection.sync_mode or (
        SyncMode.INCREMENTAL if SyncMode.INCREMENTAL in stream.supported_sync_modes else SyncMode.FULL_REFRESH
    )
    if sync_mode not in stream.supported_sync_modes:
        raise PipelineConfigError(f"stream {stream.name!r} does not support sync mode {sync_mode.value}")
    destination_mode = selection.destination_sync_mode or (
        DestinationSyncMode.APPEND_DEDUP if stream.primary_key else DestinationSyncMode.APPEND
    )
    if destination_mode is DestinationSyncMode.APPEND_DEDUP and not stream.primary_key:
        raise PipelineConfigError(f"stream {stream.name!r} has no primary key, so it cannot use append_dedup")
    schema = stream.json_schema
    if selection.fields is not None:
        try:
            schema = prune_schema(schema, selection.fields, stream.primary_key)
        except PipelineConfigError as exc:
            raise PipelineConfigError(f"stream {stream.name!r}: {exc}") from None
    return ConfiguredStream(
        name=stream.name,
        json_schema=schema,
        primary_key=stream.primary_key,
        cursor_field=stream.cursor_field,
        sync_mode=sync_mode,
        destination_sync_mode=destination_mode,
        time_range=selection.time_range,
    )


def configure_catalog(catalog: Catalog, selections: list[StreamSelection] | None) -> ConfiguredCatalog:
    """The configured catalog; every stream when `selections` is None. Unknown names raise `PipelineConfigError`."""
    by_name = {s.name: s for s in catalog.streams}
    chosen = selections if selections is not None else [StreamSelection(name=n) for n in by_name]
    unknown = [s.name for s in chosen if s.name not in by_name]
    if unknown:
        raise PipelineConfigError(
            f"unknown stream(s) {', '.join(unknown)}{did_you_mean(unknown[0], by_name)}; "
            f"the source offers {', '.join(sorted(by_name)) or 'none'}"
        )
    return ConfiguredCatalog(streams=[_configure(by_name[s.name], s) for s in chosen])


def fix_run_ranges(
    catalog: ConfiguredCatalog, fixed: dict[str, TimeRange], now: datetime
) -> tuple[ConfiguredCatalog, dict[str, TimeRange]]:
    """Give every stream the range this run reads, its upper bound decided once per run.

    `fixed` holds the ranges the run fixed when it started (empty for a new run). A stream keeps the user's bounds;
    a missing upper bound becomes the one fixed earlier in the run, else `now`. Every attempt and continuation of
    a run so asks the source for the same range, and the run converges instead of chasing the clock.
    """
    streams: list[ConfiguredStream] = []
    ranges: dict[str, TimeRange] = {}
    for stream in catalog.streams:
        wanted = stream.time_range or TimeRange()
        earlier = fixed.get(stream.name)
        lt = wanted.lt or (earlier.lt if earlier is not None else None) or now
        if wanted.gte is not None and wanted.gte > lt:
            lt = wanted.gte
        ranges[stream.name] = TimeRange(gte=wanted.gte, lt=lt)
        streams.append(stream.model_copy(update={"time_range": ranges[stream.name]}))
    return ConfiguredCatalog(streams=streams), ranges

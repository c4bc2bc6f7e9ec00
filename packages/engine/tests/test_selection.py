"""Stream and field selection over a discovered catalog."""

from __future__ import annotations

import pytest
from sync_engine import PipelineConfigError, StreamSelection
from sync_engine._selection import configure_catalog
from sync_protocol import Catalog, DestinationSyncMode, SyncMode

CATALOG = Catalog.model_validate(
    {
        "streams": [
            {
                "name": "customers",
                "json_schema": {
                    "type": "object",
                    "properties": {"id": {}, "email": {}, "name": {}},
                    "required": ["id", "email"],
                },
                "primary_key": [["id"]],
                "supported_sync_modes": ["full_refresh", "incremental"],
            },
            {"name": "events", "json_schema": {"type": "object"}},
        ]
    }
)


def test_everything_by_default_with_sensible_modes() -> None:
    configured = configure_catalog(CATALOG, None)
    customers, events = configured.streams
    assert customers.sync_mode is SyncMode.INCREMENTAL
    assert customers.destination_sync_mode is DestinationSyncMode.APPEND_DEDUP
    assert events.sync_mode is SyncMode.FULL_REFRESH
    assert events.destination_sync_mode is DestinationSyncMode.APPEND


def test_field_selection_prunes_the_schema_and_keeps_the_key() -> None:
    [customers] = configure_catalog(CATALOG, [StreamSelection(name="customers", fields=["name"])]).streams
    assert set(customers.json_schema["properties"]) == {"id", "name"}
    assert customers.json_schema["required"] == ["id"]
    assert customers.json_schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (StreamSelection(name="nope"), "unknown stream"),
        (StreamSelection(name="customers", fields=["ghost"]), "unknown field"),
        (StreamSelection(name="events", sync_mode=SyncMode.INCREMENTAL), "does not support"),
        (StreamSelection(name="events", destination_sync_mode=DestinationSyncMode.APPEND_DEDUP), "no primary key"),
    ],
)
def test_bad_selections_are_config_errors(selection: StreamSelection, message: str) -> None:
    with pytest.raises(PipelineConfigError, match=message):
        configure_catalog(CATALOG, [selection])

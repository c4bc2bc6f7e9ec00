"""The JSON Schema of the whole protocol, for connector authors in any language.

`packages/protocol/protocol.schema.json` is generated from the models by `sync-protocol-schema`; a test fails when
the committed file is stale (`sync-protocol-schema --check`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from ._catalog import Catalog, ConfiguredCatalog
from ._messages import Message
from ._state import SyncState

SCHEMA_ID = "urn:sync-protocol:protocol.schema.json"
DEFAULT_SCHEMA_PATH = Path(__file__).resolve().parents[2] / "protocol.schema.json"


def protocol_json_schema() -> dict[str, Any]:
    """One JSON Schema document: the root validates any message line; `$defs` also holds the catalog and state."""
    schemas, defs = TypeAdapter.json_schemas(
        [
            ("message", "validation", TypeAdapter(Message)),
            ("catalog", "validation", TypeAdapter(Catalog)),
            ("configured_catalog", "validation", TypeAdapter(ConfiguredCatalog)),
            ("sync_state", "validation", TypeAdapter(SyncState)),
        ],
        ref_template="#/$defs/{model}",
    )
    message_schema = schemas[("message", "validation")]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sync protocol message",
        "description": "One NDJSON line of the connector protocol. $defs also holds Catalog, ConfiguredCatalog and "
        "SyncState (the --catalog and --state arguments).",
        **message_schema,
        "$defs": defs["$defs"],
    }


def render_schema() -> bytes:
    """The schema file's exact bytes (sorted keys, two-space indent, trailing newline)."""
    return orjson.dumps(protocol_json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema file, or with --check exit 1 when the committed one differs."""
    parser = argparse.ArgumentParser(prog="sync-protocol-schema", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SCHEMA_PATH)
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    args = parser.parse_args(argv)
    expected = render_schema()
    if args.check:
        current = args.path.read_bytes() if args.path.exists() else b""
        if current != expected:
            sys.stderr.write(f"{args.path} is stale: run sync-protocol-schema\n")
            return 1
        return 0
    args.path.write_bytes(expected)
    return 0

"""Messages/s for decode → validate → encode of Stripe-shaped record lines, by path.

Paths compared (one core, same lines):
  pydantic        decode_message (orjson + full model validation) then encode_message (pydantic dump)
  pydantic-json   RecordMessage.model_validate_json then model_dump_json
  engine          the engine's record path: msgspec decodes the envelope and field names (values stay raw JSON),
                  checks, and forwards the original bytes
  engine-orjson   the engine's general path: a full orjson parse + the same checks
  engine+prune    the engine path with a field pruned, so every record is parsed and re-encoded with orjson
  engine+validate the engine path plus jsonschema-rs validation of every record's `data`

Run: uv run python bench/bench_protocol_codec.py [--records 100000]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from stripe_shapes import DEFAULT_FIXTURES, SHAPES, load_shapes, make_object
from sync_engine._enforce import CatalogEnforcer
from sync_protocol import ConfiguredCatalog, RecordMessage, decode_message, encode_message


def build_lines(shapes: dict[str, dict[str, Any]], count: int) -> list[bytes]:
    lines = []
    for i in range(count):
        name = SHAPES[i % len(SHAPES)]
        message = {
            "type": "record",
            "record": {"stream": name, "data": make_object(shapes[name], i), "emitted_at": "2026-01-01T00:00:00Z"},
        }
        lines.append(orjson.dumps(message))
    return lines


def schema_of(sample: dict[str, Any], drop: str | None = None) -> dict[str, Any]:
    kinds = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}
    properties = {
        k: ({"type": [kinds[type(v)], "null"]} if v is not None else {}) for k, v in sample.items() if k != drop
    }
    return {"type": "object", "properties": properties}


def catalog(shapes: dict[str, dict[str, Any]], drop: str | None = None) -> ConfiguredCatalog:
    streams = [{"name": n, "json_schema": schema_of(shapes[n], drop), "primary_key": [["id"]]} for n in SHAPES]
    return ConfiguredCatalog.model_validate({"streams": streams})


def measure(name: str, lines: list[bytes], step: Callable[[bytes, int], object]) -> tuple[str, float]:
    gc.collect()
    started = time.perf_counter()
    for number, line in enumerate(lines, 1):
        step(line, number)
    elapsed = time.perf_counter() - started
    return name, len(lines) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    args = parser.parse_args()
    shapes = load_shapes(args.fixtures)
    lines = build_lines(shapes, args.records)
    size = sum(map(len, lines)) / len(lines)

    plain = CatalogEnforcer(catalog(shapes))
    pruning = CatalogEnforcer(catalog(shapes, drop="metadata"))
    validating = CatalogEnforcer(catalog(shapes), validate_records=True)

    def via_pydantic(line: bytes, number: int) -> bytes:
        return encode_message(decode_message(line, number))

    def via_pydantic_json(line: bytes, number: int) -> str:
        return RecordMessage.model_validate_json(line).model_dump_json(exclude_none=True)

    results = [
        measure("pydantic", lines, via_pydantic),
        measure("pydantic-json", lines, via_pydantic_json),
        measure("engine", lines, plain.record),
        measure("engine-orjson", lines, plain.process),
        measure("engine+prune", lines, pruning.record),
        measure("engine+validate", lines, validating.record),
    ]
    print(f"{len(lines):,} records, {size:,.0f} bytes each on average (customer, charge, invoice)")
    print(f"{'path':<18}{'records/s':>12}")
    for name, rate in results:
        print(f"{name:<18}{rate:>12,.0f}")


if __name__ == "__main__":
    main()

"""Stripe-shaped record payloads for benchmarks, read from the shared fixtures3.json at bench time.

The fixtures file (stripe/openapi, MIT) lives beside the repository in `shared/stripe/`; pass another path with
`--fixtures` when it is elsewhere.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson

DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "stripe" / "fixtures3.json"
SHAPES = ("customer", "charge", "invoice")


def load_shapes(path: Path = DEFAULT_FIXTURES) -> dict[str, dict[str, Any]]:
    """The sample customer, charge and invoice objects."""
    resources = orjson.loads(path.read_bytes())["resources"]
    return {name: resources[name] for name in SHAPES}


def make_object(shape: dict[str, Any], i: int) -> dict[str, Any]:
    """A copy of `shape` with a unique id and a distinct `created` second."""
    obj = copy.deepcopy(shape)
    obj["id"] = f"{shape.get('object', 'obj')[:3]}_{i:010d}"
    obj["created"] = 1_700_000_000 + i
    return obj

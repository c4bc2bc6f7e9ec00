"""Stripe-shaped record payloads for benchmarks, read from Stripe's fixtures3.json at bench time.

The fixtures file (stripe/openapi, MIT) ships with the local Stripe server of `sync_testbed`; `--fixtures` takes
another one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
from sync_testbed.stripe_server import FIXTURES as DEFAULT_FIXTURES

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

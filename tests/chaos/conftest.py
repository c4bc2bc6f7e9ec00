"""`CHAOS_LONG=1 uv run pytest tests/chaos` runs the long chaos version (100k objects, at least 20 kills)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def chaos_long() -> bool:
    """Whether the long version was asked for (an environment variable works from any directory)."""
    return os.environ.get("CHAOS_LONG", "") not in ("", "0")

"""A pytest fixture for connector authors: `conformance(command, config)` runs the kit and fails on any failure.

Enable it with `pytest_plugins = ["sync_engine.conformance.pytest_plugin"]` in a conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from ._report import ConformanceReport
from ._runner import run_conformance

ConformanceFixture = Callable[..., ConformanceReport]


@pytest.fixture
def conformance() -> ConformanceFixture:
    """Runs `run_conformance(command, config, **options)`; fails the test with the readable report on a failure."""

    def check(command: Sequence[str], config: dict[str, Any], **options: Any) -> ConformanceReport:
        report = run_conformance(command, config, **options)
        if not report.ok:
            pytest.fail(report.to_text(), pytrace=False)
        return report

    return check

"""The conformance kit: drives any connector executable over real pipes and judges it against the wire contract.

`run_conformance(command, config)` returns a `ConformanceReport` (text, NDJSON, JUnit XML); `sync-engine
conformance -- CMD` is the same from a shell, and `sync_engine.conformance.pytest_plugin` gives a fixture.
"""

from ._context import Readback
from ._report import CheckResult, ConformanceReport, Outcome
from ._runner import Role, run_conformance

__all__ = ["CheckResult", "ConformanceReport", "Outcome", "Readback", "Role", "run_conformance"]

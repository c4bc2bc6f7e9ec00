"""What every group of checks shares: the connector's invoker, its configs and secrets, the growing report."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync_protocol.sdk import Redactor

from ._checks import Finding
from ._invoke import Capture, Invoker
from ._report import CheckResult, ConformanceReport, Outcome

Readback = Callable[[], list[tuple[str, dict[str, Any]]]]
"""Returns what a destination holds now, as (stream, row) pairs; rows carry the primary key `id`."""


@dataclass
class Context:
    """One conformance run's inputs and its report; every capture is kept for the secret scan."""

    invoker: Invoker
    config: dict[str, Any]
    redactor: Redactor
    report: ConformanceReport
    skip: Collection[str] = ()
    captures: list[Capture] = field(default_factory=list)

    def run(self, args: Sequence[str], stdin: bytes = b"") -> Capture:
        """Run a command and keep its capture."""
        capture = self.invoker.run(args, stdin)
        self.captures.append(capture)
        return capture

    def config_file(self, config: Any = None) -> str:
        """A file with `config` (the good config by default)."""
        return self.invoker.arg_file("config", self.config if config is None else config)

    def wanted(self, name: str) -> bool:
        """False (and the check recorded as skipped) when the caller asked to skip it."""
        if name in self.skip:
            self.skipped(name, "skipped on request")
            return False
        return True

    def passed(self, name: str, message: str = "") -> None:
        """Record a pass."""
        self.report.results.append(CheckResult(name, Outcome.PASSED, self.redactor.text(message)))

    def skipped(self, name: str, message: str) -> None:
        """Record a check that could not run here, and why."""
        self.report.results.append(CheckResult(name, Outcome.SKIPPED, self.redactor.text(message)))

    def failed(self, name: str, message: str, capture: Capture | None = None, finding: Finding | None = None) -> None:
        """Record a failure with the command and the offending line (secrets redacted)."""
        line = None
        if finding is not None and finding.line is not None:
            line = self.redactor.text(finding.line.decode(errors="replace"))
        self.report.results.append(
            CheckResult(
                name,
                Outcome.FAILED,
                self.redactor.text(message),
                command=capture.shown if capture else None,
                line_number=finding.line_number if finding else None,
                line=line,
            )
        )

    def verdict(self, name: str, findings: Sequence[Finding], capture: Capture | None, ok: str = "") -> bool:
        """Pass when there are no findings, else fail on the first one; True on pass."""
        if findings:
            self.failed(name, findings[0].message, capture, findings[0])
            return False
        self.passed(name, ok)
        return True


def describe_exit(capture: Capture) -> str:
    """`exited N` plus the last stderr line, for failure messages."""
    tail = capture.stderr.decode(errors="replace").strip().splitlines()
    return f"exited {capture.exit_code}" + (f" (stderr: {tail[-1][:300]})" if tail else "")

"""What a conformance run found, and its three renderings: text for people, NDJSON and JUnit XML for CI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from xml.etree import ElementTree

import orjson

_SHOWN_LINE_CHARS = 400


class Outcome(StrEnum):
    """The verdict of one check."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict; a failure names the command, and the offending output line when there is one."""

    name: str
    outcome: Outcome
    message: str = ""
    command: str | None = None
    line_number: int | None = None
    line: str | None = None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict without empty fields."""
        found = {
            "check": self.name,
            "outcome": self.outcome.value,
            "message": self.message,
            "command": self.command,
            "line_number": self.line_number,
            "line": self.line,
        }
        return {k: v for k, v in found.items() if v not in (None, "")}


@dataclass
class ConformanceReport:
    """Every check run against one connector, in the order they ran."""

    connector: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (skipped checks do not fail a connector)."""
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        """The failed checks."""
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    def result(self, name: str) -> CheckResult:
        """The result of the check called `name` (KeyError when it did not run)."""
        for found in self.results:
            if found.name == name:
                return found
        raise KeyError(name)

    def to_text(self) -> str:
        """A report a person can read: one line per check, failures with the offending line."""
        marks = {Outcome.PASSED: "PASS", Outcome.FAILED: "FAIL", Outcome.SKIPPED: "SKIP"}
        lines = [f"conformance of {self.connector}"]
        for r in self.results:
            lines.append(f"  {marks[r.outcome]}  {r.name}" + (f": {r.message}" if r.message else ""))
            if r.outcome is Outcome.FAILED and r.command:
                lines.append(f"        while running: {r.command}")
            if r.outcome is Outcome.FAILED and r.line is not None:
                where = f"line {r.line_number}" if r.line_number is not None else "line"
                lines.append(f"        {where}: {_shorten(r.line)}")
        counts = {o: sum(1 for r in self.results if r.outcome is o) for o in Outcome}
        lines.append(
            f"{counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} failed, {counts[Outcome.SKIPPED]} skipped"
        )
        return "\n".join(lines) + "\n"

    def to_ndjson(self) -> bytes:
        """One JSON object per check, then a summary line `{"connector", "ok", "failed"}`."""
        out = [orjson.dumps({"connector": self.connector, **r.as_dict()}) for r in self.results]
        out.append(orjson.dumps({"connector": self.connector, "ok": self.ok, "failed": len(self.failures)}))
        return b"\n".join(out) + b"\n"

    def to_junit(self) -> bytes:
        """JUnit XML: one testsuite for the connector, one testcase per check."""
        suite = ElementTree.Element(
            "testsuite",
            name=f"conformance: {self.connector}",
            tests=str(len(self.results)),
            failures=str(len(self.failures)),
            skipped=str(sum(1 for r in self.results if r.outcome is Outcome.SKIPPED)),
        )
        for r in self.results:
            case = ElementTree.SubElement(suite, "testcase", classname="conformance", name=r.name)
            if r.outcome is Outcome.FAILED:
                failure = ElementTree.SubElement(case, "failure", message=r.message)
                detail = [f"command: {r.command}"] if r.command else []
                if r.line is not None:
                    detail.append(f"line {r.line_number}: {r.line}")
                failure.text = "\n".join(detail)
            elif r.outcome is Outcome.SKIPPED:
                ElementTree.SubElement(case, "skipped", message=r.message)
        root = ElementTree.Element("testsuites")
        root.append(suite)
        xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
        return xml + b"\n"


def _shorten(line: str) -> str:
    return line if len(line) <= _SHOWN_LINE_CHARS else line[:_SHOWN_LINE_CHARS] + " …"

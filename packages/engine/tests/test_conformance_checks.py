"""The conformance rules as pure functions, and the report's three renderings."""

from __future__ import annotations

from xml.etree import ElementTree

import orjson
from sync_engine.conformance import CheckResult, ConformanceReport, Outcome
from sync_engine.conformance._checks import (
    echo_order,
    leaks,
    parse_output,
    state_ranges,
    terminal_statuses,
    truncation,
)
from sync_protocol import ConfiguredCatalog

CATALOG = ConfiguredCatalog.model_validate(
    {
        "streams": [
            {
                "name": "a",
                "json_schema": {"type": "object"},
                "primary_key": [["id"]],
                "time_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"},
            }
        ]
    }
)


def line(kind: str, **payload: object) -> bytes:
    return orjson.dumps({"type": kind, kind: payload})


def status(value: str) -> bytes:
    return line("stream_status", stream="a", status=value)


def state(gte: str, lt: str) -> bytes:
    return line("source_state", stream="a", data={}, time_range={"gte": gte, "lt": lt})


def lines_of(*raw: bytes) -> bytes:
    return b"".join(r + b"\n" for r in raw)


def test_a_wrong_envelope_is_named_with_its_line_number() -> None:
    good = line("record", stream="a", data={"id": 1}, emitted_at="2024-01-01T00:00:00Z")
    flat = orjson.dumps({"type": "record", "stream": "a", "data": {}})
    parsed, findings = parse_output(lines_of(good, flat))
    assert len(parsed) == 1 and findings[0].line_number == 2 and findings[0].line == flat
    assert "record: Field required" in findings[0].message


def test_output_cut_inside_a_line_is_output_lost_at_exit() -> None:
    assert truncation(b'{"type": "log"}\n') == []
    assert truncation(b"") == []
    [finding] = truncation(b'{"type": "log"}\n{"type": "rec')
    assert finding.line_number == 2 and "output lost at exit" in finding.message


def test_a_secret_is_found_in_any_output_with_its_line() -> None:
    found = leaks([("stdout of `check`", b"ok\nkey is sk_123456\n"), ("stderr", b"nothing")], ["sk_123456"])
    assert [(f.message, f.line_number) for f in found] == [("a secret from the config appears in stdout of `check`", 2)]
    assert leaks([("stdout", b"clean\n")], ["sk_123456"]) == []


def test_every_stream_needs_a_terminal_status_or_a_stream_error() -> None:
    parsed, _ = parse_output(lines_of(status("started"), status("complete")))
    assert terminal_statuses(parsed, CATALOG) == []
    stream_error = line("error", level="stream", failure_type="system_error", message="boom", stream="a")
    parsed, _ = parse_output(lines_of(status("started"), stream_error))
    assert terminal_statuses(parsed, CATALOG) == []
    parsed, _ = parse_output(lines_of(status("started")))
    [finding] = terminal_statuses(parsed, CATALOG)
    assert finding.message.startswith("missing terminal status: stream 'a'")
    parsed, _ = parse_output(
        lines_of(status("started"), status("complete"), state("2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"))
    )
    assert "after its terminal status" in terminal_statuses(parsed, CATALOG)[0].message


def test_states_must_lie_inside_the_handed_range_and_be_well_formed() -> None:
    inside = state("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z")
    parsed, _ = parse_output(lines_of(status("started"), inside))
    assert state_ranges(parsed, CATALOG) == []
    outside = state("2023-12-31T00:00:00Z", "2024-01-10T00:00:00Z")
    parsed, _ = parse_output(lines_of(status("started"), outside))
    assert "outside the range handed over" in state_ranges(parsed, CATALOG)[0].message
    parsed, _ = parse_output(lines_of(inside))
    assert "before its `started` status" in state_ranges(parsed, CATALOG)[0].message


def test_echoes_must_be_exactly_what_was_sent_in_order() -> None:
    one, two = (
        state("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        state("2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),
    )
    probe = orjson.dumps({"type": "probe", "probe": {}})
    parsed, _ = parse_output(lines_of(one, probe, two))
    assert echo_order([one, probe, two], parsed) == []
    parsed, _ = parse_output(lines_of(two, one))
    assert "echo number 1 is not what was sent" in echo_order([one, two], parsed)[0].message
    parsed, _ = parse_output(lines_of(one))
    assert "never echoed" in echo_order([one, probe], parsed)[0].message


def test_the_report_renders_text_ndjson_and_junit() -> None:
    report = ConformanceReport(
        "./c",
        [
            CheckResult("spec.valid", Outcome.PASSED),
            CheckResult("source.read_valid", Outcome.FAILED, "bad line", "./c read", 3, '{"type": 1}'),
            CheckResult("source.resume", Outcome.SKIPPED, "no state"),
        ],
    )
    assert not report.ok
    text = report.to_text()
    assert "FAIL  source.read_valid: bad line" in text and 'line 3: {"type": 1}' in text
    assert "1 passed, 1 failed, 1 skipped" in text
    rows = [orjson.loads(r) for r in report.to_ndjson().splitlines()]
    assert rows[1]["line_number"] == 3 and rows[-1] == {"connector": "./c", "ok": False, "failed": 1}
    suite = ElementTree.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")

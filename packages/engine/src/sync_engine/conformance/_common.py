"""Checks every connector must pass: spec, check with a good and a broken config, usage errors, failures."""

from __future__ import annotations

from typing import Any

from sync_protocol import ConnectionStatusMessage, ConnectionStatusValue, ErrorMessage, Spec, SpecMessage

from ._checks import config_schema_problem, parse_output, truncation
from ._context import Context, describe_exit

EXIT_FAILED, EXIT_USAGE = 1, 2


def check_spec(ctx: Context) -> Spec | None:
    """`spec` prints one valid spec whose config is a valid JSON Schema; returns it (None when unusable)."""
    capture = ctx.run(["spec"])
    lines, findings = parse_output(capture.stdout)
    specs = [line.message.spec for line in lines if isinstance(line.message, SpecMessage)]
    if capture.exit_code != 0:
        ctx.failed("spec.valid", f"`spec` {describe_exit(capture)}, expected 0", capture)
        return None
    if findings or truncation(capture.stdout) or len(specs) != 1:
        problems = findings or truncation(capture.stdout)
        message = problems[0].message if problems else f"expected one spec message, got {len(specs)}"
        ctx.failed("spec.valid", message, capture, problems[0] if problems else None)
        return None
    ctx.passed("spec.valid")
    problem = config_schema_problem(specs[0].config)
    if problem:
        ctx.failed("spec.config_schema", problem, capture)
    else:
        ctx.passed("spec.config_schema")
    return specs[0]


def check_check(ctx: Context, name: str, config: dict[str, Any], expect: ConnectionStatusValue | None) -> None:
    """`check` answers with one `connection_status` (exit 0 or 1), `expect`ed when given."""
    if not ctx.wanted(name):
        return
    capture = ctx.run(["check", "--config", ctx.config_file(config)])
    lines, findings = parse_output(capture.stdout)
    statuses = [line.message.connection_status for line in lines if isinstance(line.message, ConnectionStatusMessage)]
    if findings:
        ctx.failed(name, findings[0].message, capture, findings[0])
    elif capture.exit_code not in (0, EXIT_FAILED) or len(statuses) != 1:
        ctx.failed(
            name,
            f"expected one connection_status and exit 0 or 1; got {len(statuses)} and {describe_exit(capture)}",
            capture,
        )
    elif expect is not None and statuses[0].status is not expect:
        ctx.failed(
            name,
            f"connection_status is {statuses[0].status.value}, expected {expect.value}: {statuses[0].message or ''}",
            capture,
        )
    else:
        ctx.passed(name, f"{statuses[0].status.value}" + (f": {statuses[0].message}" if statuses[0].message else ""))


def check_usage(ctx: Context) -> None:
    """A bad flag and an unreadable config exit 2 with a message on stderr and nothing on stdout."""
    cases = {
        "usage.bad_flag": ["check", "--config", ctx.config_file(), "--no-such-flag-for-conformance"],
        "usage.unreadable_config": ["check", "--config", str(ctx.invoker.workdir / "missing" / "config.json")],
    }
    for name, args in cases.items():
        if not ctx.wanted(name):
            continue
        capture = ctx.run(args)
        if capture.exit_code != EXIT_USAGE:
            ctx.failed(name, f"{describe_exit(capture)}, expected exit 2 (usage error)", capture)
        elif not capture.stderr.strip():
            ctx.failed(name, "exit 2 without a message on stderr", capture)
        else:
            ctx.passed(name)


def check_failure(ctx: Context, args: list[str], stdin: bytes, what: str) -> None:
    """A failure the connector cannot handle ends with an `error` message on stdout and exit 1."""
    name = "failure.error_and_exit_1"
    if not ctx.wanted(name):
        return
    capture = ctx.run(args, stdin)
    lines, _ = parse_output(capture.stdout)
    errors = [line for line in lines if isinstance(line.message, ErrorMessage)]
    if capture.exit_code != EXIT_FAILED:
        ctx.failed(name, f"after {what}: {describe_exit(capture)}, expected exit 1", capture)
    elif not errors:
        ctx.failed(name, f"after {what}: exit 1 without an `error` message on stdout", capture)
    else:
        ctx.passed(name, f"after {what}: {errors[-1].message.error.message}")  # type: ignore[union-attr]

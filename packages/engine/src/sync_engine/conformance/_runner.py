"""`run_conformance`: drives one connector executable through every check that applies to it."""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

from sync_protocol import ConfiguredCatalog, ConnectionStatusValue
from sync_protocol.sdk import Redactor, find_secrets

from . import _common, _destination, _source
from ._checks import leaks
from ._context import Context, Readback
from ._invoke import Invoker
from ._report import ConformanceReport

Role = Literal["auto", "source", "destination", "both"]


def run_conformance(
    command: Sequence[str],
    config: dict[str, Any],
    *,
    broken_config: dict[str, Any] | None = None,
    failing_config: dict[str, Any] | None = None,
    catalog: ConfiguredCatalog | None = None,
    role: Role = "auto",
    readback: Readback | None = None,
    streams: int = 2,
    skip: Collection[str] = (),
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
) -> ConformanceReport:
    """Run every check that applies to the connector `command` and return the report (it never raises for a
    connector's fault). `broken_config` is a config that validates but cannot connect; without it, one is made by
    replacing every secret. `failing_config` makes a source fail (for the exit-1 check); `readback` lists what a
    destination holds (for the durability checks); `catalog` overrides the source's selection."""
    report = ConformanceReport(shlex.join(command))
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        ctx = Context(Invoker(command, Path(tmp), timeout_s=timeout_s, env=env), config, Redactor(), report, skip)
        spec = _common.check_spec(ctx)
        if spec is None:
            return report
        secrets = find_secrets(spec.config, config)
        ctx.redactor = Redactor(secrets)
        _common.check_check(ctx, "check.good_config", config, ConnectionStatusValue.SUCCEEDED)
        broken = broken_config if broken_config is not None else _broken(config, secrets)
        if broken is None:
            ctx.skipped("check.broken_config", "no broken config given and the config has no secret to spoil")
        else:
            expected = ConnectionStatusValue.FAILED if broken_config is not None else None
            _common.check_check(ctx, "check.broken_config", broken, expected)
        _common.check_usage(ctx)
        is_source, is_destination = _roles(ctx, role)
        selected: ConfiguredCatalog | None = None
        if is_source:
            found = _source.discover(ctx)
            if found is not None:
                selected = catalog or _source.selection(found, spec, streams)
                _source.check_read(ctx, selected)
        if is_destination:
            _destination.check_write(ctx, readback)
            _destination.check_kill(ctx, readback)
            _destination.check_overwrite(ctx, readback)
        _check_failure(ctx, is_destination, failing_config, selected)
        _check_leaks(ctx, secrets)
    return report


def _roles(ctx: Context, role: Role) -> tuple[bool, bool]:
    if role != "auto":
        return role in ("source", "both"), role in ("destination", "both")
    probe = ctx.invoker.run(["discover", "--config", ctx.config_file()])
    catalog_file = ctx.invoker.arg_file("catalog", _destination.catalog().model_dump(mode="json", exclude_none=True))
    write = ctx.invoker.run(["write", "--config", ctx.config_file(), "--catalog", catalog_file])
    ctx.captures += [probe, write]
    is_source = probe.exit_code == 0 and b'"catalog"' in probe.stdout
    return is_source, write.exit_code == 0 or not is_source


def _check_failure(
    ctx: Context, is_destination: bool, failing_config: dict[str, Any] | None, selected: ConfiguredCatalog | None
) -> None:
    if failing_config is not None:
        args = ["--config", ctx.config_file(failing_config)]
        if selected is not None:
            catalog_file = ctx.invoker.arg_file("catalog", selected.model_dump(mode="json", exclude_none=True))
            _common.check_failure(
                ctx, ["read", *args, "--catalog", catalog_file], b"", "`read` with the failing config"
            )
        else:
            _common.check_failure(ctx, ["discover", *args], b"", "`discover` with the failing config")
    elif is_destination:
        catalog_file = ctx.invoker.arg_file(
            "catalog", _destination.catalog().model_dump(mode="json", exclude_none=True)
        )
        garbage = _destination.records("g", 1)[0] + b"\n" + b'{"type": "record", "record": 7}\n'
        _common.check_failure(
            ctx, ["write", "--config", ctx.config_file(), "--catalog", catalog_file], garbage, "a malformed input line"
        )
    else:
        ctx.skipped("failure.error_and_exit_1", "give a failing config to provoke a failure of a source")


def _check_leaks(ctx: Context, secrets: list[str]) -> None:
    if not ctx.wanted("secrets.never_printed"):
        return
    if not secrets:
        ctx.skipped("secrets.never_printed", "the config holds no value its schema marks secret")
        return
    outputs = [
        (f"{stream} of `{c.shown}`", data)
        for c in ctx.captures
        for stream, data in (("stdout", c.stdout), ("stderr", c.stderr))
    ]
    found = leaks(outputs, secrets)
    if found:
        ctx.failed("secrets.never_printed", found[0].message, None, found[0])
    else:
        ctx.passed("secrets.never_printed", f"{len(secrets)} secrets, {len(ctx.captures)} commands")


def _broken(config: dict[str, Any], secrets: list[str]) -> dict[str, Any] | None:
    """The config with every secret replaced by a wrong value of the same shape; None without secrets."""
    if not secrets:
        return None

    def spoil(value: Any) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, secret[: len(secret) // 3] + "x" * (len(secret) - len(secret) // 3))
            return value
        if isinstance(value, dict):
            return {k: spoil(v) for k, v in value.items()}
        if isinstance(value, list):
            return [spoil(v) for v in value]
        return value

    spoiled: dict[str, Any] = spoil(config)
    return spoiled

"""`sync-engine conformance [options] -- CMD [ARGS...]`: the kit from a shell; exit 0 when every check passed.

Its flags are defined with the other commands' in `sync_engine._cli`, so `sync-engine` loads this package only to
run it.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
from pathlib import Path
from typing import IO, Any

import orjson
from sync_protocol import ConfiguredCatalog, UsageError
from sync_protocol.sdk import load_json_argument

from ._context import Readback
from ._runner import run_conformance

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _json(value: str | None, what: str) -> dict[str, Any] | None:
    if value is None:
        return None
    loaded = load_json_argument(value, what)
    if not isinstance(loaded, dict):
        raise ValueError(f"{what} must be a JSON object")
    return loaded


def _readback(command: str | None) -> Readback | None:
    if command is None:
        return None

    def read() -> list[tuple[str, dict[str, Any]]]:
        done = subprocess.run(shlex.split(command), capture_output=True, check=True, timeout=60)
        rows = [orjson.loads(line) for line in done.stdout.splitlines() if line.strip()]
        rows = [row.get("record", row) for row in rows]  # record envelopes or {"stream", "data"} lines
        return [(str(row.get("stream")), row.get("data") or {}) for row in rows]

    return read


def run_command(args: argparse.Namespace, stdout: IO[bytes], stderr: IO[str]) -> int:
    """Run the kit as the parsed `args` say; the report goes to stdout (text or NDJSON)."""
    connector = args.connector[1:] if args.connector[:1] == ["--"] else args.connector
    if not connector:
        stderr.write("error: give the connector command after --\n")
        return EXIT_USAGE
    try:
        config = _json(args.config, "--config") or {}
        catalog_raw = _json(args.catalog, "--catalog")
        report = run_conformance(
            connector,
            config,
            broken_config=_json(args.broken_config, "--broken-config"),
            failing_config=_json(args.failing_config, "--failing-config"),
            catalog=ConfiguredCatalog.model_validate(catalog_raw) if catalog_raw is not None else None,
            role=args.role,
            readback=_readback(args.readback),
            streams=args.streams,
            skip=args.skip,
            timeout_s=args.timeout,
        )
    except (ValueError, OSError, UsageError) as exc:
        stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except subprocess.SubprocessError as exc:
        stderr.write(f"error: --readback failed: {exc}\n")
        return EXIT_FAILED
    stdout.write(report.to_ndjson() if args.json else report.to_text().encode())
    stdout.flush()
    if args.junit:
        Path(args.junit).write_bytes(report.to_junit())
    return EXIT_OK if report.ok else EXIT_FAILED

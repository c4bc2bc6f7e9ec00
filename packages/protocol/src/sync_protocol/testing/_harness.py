"""Drive any connector executable through its commands and check every line it prints against the protocol.

For connector authors' tests, in any language: `ConnectorHarness(["./my-connector"]).read(config, catalog)`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from .._catalog import Catalog, ConfiguredCatalog
from .._messages import (
    CatalogMessage,
    ConnectionStatus,
    ConnectionStatusMessage,
    Message,
    RecordMessage,
    SourceStateMessage,
    Spec,
    SpecMessage,
)
from .._ndjson import decode_message, encode_message
from .._state import SyncState

MessageT = TypeVar("MessageT", bound=BaseModel)


class ConnectorContractError(AssertionError):
    """The connector broke the executable contract (bad exit code, missing or malformed output)."""


@dataclass
class Invocation:
    """What one command printed and how it exited; every stdout line is already a validated message."""

    exit_code: int
    messages: list[Message]
    stderr: str
    argv: list[str] = field(default_factory=list)

    def of_type(self, kind: type[MessageT]) -> list[MessageT]:
        """The messages of one class, in order."""
        return [m for m in self.messages if isinstance(m, kind)]

    @property
    def records(self) -> list[RecordMessage]:
        """The record messages, in order."""
        return self.of_type(RecordMessage)

    @property
    def states(self) -> list[SourceStateMessage]:
        """The source_state messages, in order."""
        return self.of_type(SourceStateMessage)


def _json_arg(value: Any) -> bytes:
    if isinstance(value, BaseModel):
        return value.model_dump_json(exclude_none=True).encode()
    return orjson.dumps(value)


class ConnectorHarness:
    """Runs a connector command (any executable) with arguments passed as private temp files."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        self.command = list(command)
        self.cwd = cwd
        self.env = env
        self.timeout_s = timeout_s

    def invoke(self, command: str, *, stdin: bytes = b"", expect_exit: int | None = 0, **arguments: Any) -> Invocation:
        """Run `command` with `--name file` for each argument given (None skipped); validate all output."""
        with tempfile.TemporaryDirectory(prefix="harness-") as tmp:
            argv = [*self.command, command]
            for name, value in arguments.items():
                if value is None:
                    continue
                path = Path(tmp) / f"{name}.json"
                path.write_bytes(_json_arg(value))
                os.chmod(path, 0o600)
                argv += [f"--{name}", str(path)]
            done = subprocess.run(
                argv,
                input=stdin,
                capture_output=True,
                cwd=self.cwd,
                env=self.env,
                timeout=self.timeout_s,
                check=False,
            )
        messages = [decode_message(line, n) for n, line in enumerate(done.stdout.splitlines(), 1) if line.strip()]
        result = Invocation(done.returncode, messages, done.stderr.decode(errors="replace"), argv)
        if expect_exit is not None and done.returncode != expect_exit:
            raise ConnectorContractError(
                f"{command} exited {done.returncode}, expected {expect_exit}; stderr: {result.stderr[-2000:]}"
            )
        return result

    def _single(self, invocation: Invocation, kind: type[MessageT]) -> MessageT:
        found = invocation.of_type(kind)
        if len(found) != 1:
            raise ConnectorContractError(f"expected one {kind.__name__}, got {len(found)}")
        return found[0]

    def spec(self) -> Spec:
        """The connector's spec."""
        return self._single(self.invoke("spec"), SpecMessage).spec

    def check(self, config: Any) -> ConnectionStatus:
        """The connector's answer to `check`."""
        return self._single(self.invoke("check", config=config), ConnectionStatusMessage).connection_status

    def discover(self, config: Any) -> Catalog:
        """The source's catalog."""
        return self._single(self.invoke("discover", config=config), CatalogMessage).catalog

    def read(
        self,
        config: Any,
        catalog: ConfiguredCatalog | dict[str, Any],
        state: SyncState | None = None,
        *,
        expect_exit: int | None = 0,
        inputs: bytes = b"",
    ) -> Invocation:
        """Run `read`; `inputs` are raw `source_input` lines for stdin."""
        return self.invoke("read", config=config, catalog=catalog, state=state, stdin=inputs, expect_exit=expect_exit)

    def write(
        self,
        config: Any,
        catalog: ConfiguredCatalog | dict[str, Any],
        messages: Iterable[Message | bytes],
        *,
        expect_exit: int | None = 0,
    ) -> Invocation:
        """Run `write` with `messages` (typed, or raw lines) on stdin."""
        stdin = b"".join(m if isinstance(m, bytes) else encode_message(m) for m in messages)
        return self.invoke("write", config=config, catalog=catalog, stdin=stdin, expect_exit=expect_exit)


def configured_catalog(catalog: Catalog, streams: Iterable[str] | None = None) -> ConfiguredCatalog:
    """A configured catalog selecting `streams` (all when None) with every field and default modes."""
    wanted = None if streams is None else set(streams)
    return ConfiguredCatalog.model_validate(
        {
            "streams": [
                {"name": s.name, "json_schema": s.json_schema, "primary_key": s.primary_key}
                for s in catalog.streams
                if wanted is None or s.name in wanted
            ]
        }
    )

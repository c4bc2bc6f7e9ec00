"""One-shot connector commands (`spec`, `check`, `discover`, `setup`, `teardown`): run, collect, judge."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel
from sync_protocol import ErrorMessage, Message, NdjsonDecodeError, aiter_lines, decode_message
from sync_protocol.sdk import Redactor

from ._errors import ConnectorFailedError
from ._process import open_connector

MessageT = TypeVar("MessageT", bound=BaseModel)
SIDE_MESSAGES = frozenset({"log", "error", "control"})
"""What a one-shot command passes to its callback as it runs; its result is returned instead."""


@dataclass
class CommandOutput:
    """Everything a one-shot command printed, validated, and how it exited."""

    name: str
    subcommand: str
    exit_code: int
    messages: list[Message]
    stderr_tail: str
    redactor: Redactor = field(default_factory=Redactor)

    def of_type(self, kind: type[MessageT]) -> list[MessageT]:
        return [m for m in self.messages if isinstance(m, kind)]

    def expect_one(self, kind: type[MessageT]) -> MessageT:
        """The single message of `kind`; `ConnectorFailedError` (with the connector's own error) otherwise."""
        found = self.of_type(kind)
        if self.exit_code == 0 and len(found) == 1:
            return found[0]
        raise self.failure(f"expected one {kind.__name__}, got {len(found)}")

    def failure(self, fallback: str) -> ConnectorFailedError:
        """The command's failure as an exception: the connector's own error (its level and failure type) if it
        reported one, else `system_error` with its exit code and stderr tail."""
        errors = self.of_type(ErrorMessage)
        error = self.redactor.message(errors[-1]).error if errors else None
        failure = ConnectorFailedError(
            self.failure_text(fallback),
            connector=self.name,
            command=self.subcommand,
            level=error.level if error else None,
            failure_type=error.failure_type if error else None,
            stream=error.stream if error else None,
        )
        failure.relayed = error
        return failure

    def failure_text(self, fallback: str) -> str:
        """Why the command failed: its error message, else its exit code and stderr tail."""
        errors = self.of_type(ErrorMessage)
        if errors:
            text = f"{self.name} {self.subcommand} failed: {errors[-1].error.message}"
        else:
            detail = f"; stderr: {self.stderr_tail}" if self.stderr_tail else ""
            if self.exit_code != 0:
                text = f"{self.name} {self.subcommand} exited with code {self.exit_code}{detail}"
            else:
                text = f"{self.name} {self.subcommand}: {fallback}{detail}"
        return self.redactor.text(text)

    def raise_for_failure(self) -> None:
        """`ConnectorFailedError` unless the command exited 0 without an error message."""
        if self.exit_code != 0 or self.of_type(ErrorMessage):
            raise self.failure("failed")


async def run_command(
    name: str,
    command: Sequence[str],
    subcommand: str,
    arguments: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 300.0,
    on_message: Callable[[Message], None] | None = None,
    redactor: Redactor | None = None,
) -> CommandOutput:
    """Run one command to completion (killed after `timeout_s`), validating every line it prints.

    `on_message` sees log, error and control messages as they arrive.
    """
    messages: list[Message] = []
    async with open_connector(name, command, subcommand, arguments, env=env) as connector:
        with anyio.move_on_after(timeout_s) as scope:
            try:
                async for number, line in aiter_lines(connector.chunks()):
                    message = decode_message(line, number)
                    messages.append(message)
                    if on_message is not None and message.type in SIDE_MESSAGES:
                        on_message(redactor.message(message) if redactor and message.type != "control" else message)
            except NdjsonDecodeError as exc:
                text = f"{name} {subcommand} wrote an invalid message at {exc}"
                raise ConnectorFailedError(text, connector=name, command=subcommand) from exc
            exit_code = await connector.process.wait()
        if scope.cancelled_caught:
            await connector.stop(0)
            text = f"{name} {subcommand} did not finish within {timeout_s:g} s"
            raise ConnectorFailedError(text, connector=name, command=subcommand)
    tail = connector.stderr_tail.text()
    return CommandOutput(name, subcommand, exit_code, messages, tail, redactor or Redactor())

"""The command line every Python connector gets: `spec`, `check`, `discover`, `read`, `write`, `setup`, `teardown`.

Exit codes: 0 done; 1 failed after writing an `error` message to stdout; 2 usage error (bad flags, unreadable or
invalid config/catalog/state) with one line on stderr. Config is validated before the connector does any I/O.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from .._catalog import ConfiguredCatalog
from .._errors import UsageError, describe_validation_error
from .._messages import (
    CatalogMessage,
    ConnectionStatus,
    ConnectionStatusMessage,
    ConnectionStatusValue,
    Message,
    Record,
    RecordMessage,
    SourceInput,
    SourceInputMessage,
    SpecMessage,
    UnknownMessage,
    error_message,
)
from .._ndjson import decode_message, iter_line_chunks, iter_lines
from .._state import SyncState
from ._connector import COMMANDS, Connector
from ._inbox import Batched
from ._logging import logs_as_messages
from ._raw import RawRecord, decode_raw_record
from ._redact import Redactor, find_secrets
from ._writer import LINGER_S, MessageWriter

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

ModelT = TypeVar("ModelT", bound=BaseModel)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class VersionAction(argparse.Action):
    """`--version` that looks the version up only when asked (a metadata lookup costs every start ~20 ms)."""

    def __init__(self, option_strings: list[str], dest: str, lookup: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit", **kwargs)
        self.lookup = lookup

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        sys.stdout.write(f"{parser.prog} {self.lookup()}\n")
        parser.exit()


def _build_parser(name: str, version: Callable[[], str]) -> argparse.ArgumentParser:
    parser = _Parser(prog=name, description="A sync-protocol connector: NDJSON messages on stdout.")
    parser.add_argument("--version", action=VersionAction, lookup=version)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("spec", help="print the connector's spec")
    for command, needs in {
        "check": ("config",),
        "discover": ("config",),
        "read": ("config", "catalog", "state"),
        "write": ("config", "catalog"),
        "setup": ("config", "catalog"),
        "teardown": ("config",),
    }.items():
        sub = commands.add_parser(command)
        for arg in needs:
            sub.add_argument(f"--{arg}", required=arg != "state", help=f"{arg} as a JSON file path or inline JSON")
    return parser


def connector_version(connector: Connector[Any], prog: str) -> str:
    """The installed version of the connector's distribution (named like `prog`, or like its top-level package),
    with the protocol's: `0.1.0 (sync-protocol 0.1.0)`."""
    from importlib.metadata import PackageNotFoundError, version

    def lookup(name: str) -> str | None:
        try:
            return version(name)
        except (PackageNotFoundError, ValueError):
            return None

    package = type(connector).__module__.split(".", 1)[0]
    own = lookup(prog) or lookup(package.replace("_", "-")) or "unknown"
    return f"{own} (sync-protocol {lookup('sync-protocol') or 'unknown'})"


def load_json_argument(value: str, what: str) -> Any:
    """Inline JSON (starting with `{` or `[`) or a path to a JSON file; `UsageError` if neither works."""
    text = value.strip()
    if text.startswith(("{", "[")):
        source = "inline JSON"
        raw = text.encode()
    else:
        source = value
        try:
            raw = Path(value).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {what} file {value!r}: {exc.strerror}") from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UsageError(f"{what} ({source}) is not valid JSON: {exc}") from exc


def validate_argument(model: type[ModelT], value: Any, what: str) -> ModelT:
    """Validate a loaded argument; the error names fields and problems but never echoes values."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise UsageError(f"invalid {what}: {describe_validation_error(exc, root=what)}") from exc


def _stdin_inputs(stdin: IO[bytes]) -> Iterator[SourceInput]:
    if stdin.isatty():
        return
    for number, line in iter_lines(stdin):
        message = decode_message(line, number)
        if isinstance(message, SourceInputMessage):
            yield message.source_input


def _fast_record(line: bytes) -> RecordMessage | None:
    """A well-formed record line as a message without pydantic validation (the hot path of every destination).

    Checks what validation would: string stream, object data, timezone-aware RFC 3339 `emitted_at`, boolean
    `deleted`. Anything unusual returns None and goes through `decode_message`, which names the problem.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    record = value.get("record") if type(value) is dict and value.get("type") == "record" else None
    if type(record) is not dict:
        return None
    stream, data, emitted_at = record.get("stream"), record.get("data"), record.get("emitted_at")
    deleted = record.get("deleted", False)
    if type(stream) is not str or type(data) is not dict or type(emitted_at) is not str or type(deleted) is not bool:
        return None
    try:
        emitted = datetime.fromisoformat(emitted_at)
    except ValueError:
        return None
    if emitted.tzinfo is None:
        return None
    payload = Record.model_construct(stream=stream, data=data, emitted_at=emitted, deleted=deleted)
    return RecordMessage.model_construct(type="record", record=payload)


def _stdin_messages(stdin: IO[bytes], writer: MessageWriter) -> Iterator[Message]:
    """Messages for `write`; unknown message types are passed straight through to stdout."""
    for number, line in iter_lines(stdin):
        fast = _fast_record(line) if line.startswith(b'{"type":"record"') else None
        if fast is not None:
            yield fast
            continue
        message = decode_message(line, number)
        if isinstance(message, UnknownMessage):
            writer.write_line(line + b"\n")
        else:
            yield message


def _stdin_raw_messages(stdin: IO[bytes], writer: MessageWriter) -> Batched[Message | RawRecord]:
    """Messages for `write_raw`: records with their data as the original bytes, the rest as for `write`; they
    come in batches, one per read of stdin (`Inbox` hands a batch to the write loop at once)."""
    return Batched(_stdin_raw_batches(stdin, writer))


def _stdin_raw_batches(stdin: IO[bytes], writer: MessageWriter) -> Iterator[list[Message | RawRecord]]:
    for lines in iter_line_chunks(stdin):
        batch: list[Message | RawRecord] = []
        add = batch.append
        try:
            for number, line in lines:
                fast = decode_raw_record(line) if line.startswith(b'{"type":"record"') else None
                if fast is not None:
                    add(fast)
                    continue
                message = decode_message(line, number)
                if isinstance(message, UnknownMessage):
                    writer.write_line(line + b"\n")
                elif isinstance(message, RecordMessage):
                    add(RawRecord.from_message(message))
                else:
                    add(message)
        except Exception:
            yield batch  # what came before a bad line is handed over first, as line by line
            raise
        yield batch


def _emit_all(writer: MessageWriter, messages: Iterable[Message | RawRecord]) -> None:
    for message in messages:
        writer.write(message)


def _check(connector: Connector[Any], config: BaseModel, redactor: Redactor) -> ConnectionStatus:
    try:
        return connector.check(config)
    except Exception as exc:
        return ConnectionStatus(status=ConnectionStatusValue.FAILED, message=redactor.text(str(exc)))


def _execute(
    connector: Connector[Any],
    args: argparse.Namespace,
    config: BaseModel | None,
    stdin: IO[bytes],
    writer: MessageWriter,
    redactor: Redactor,
) -> None:
    command = args.command
    if command == "spec":
        writer.write(SpecMessage(spec=connector.spec()))
        return
    assert config is not None
    if command == "check":
        writer.write(ConnectionStatusMessage(connection_status=_check(connector, config, redactor)))
    elif command == "discover":
        writer.write(CatalogMessage(catalog=connector.discover(config)))
    elif command == "teardown":
        _emit_all(writer, connector.teardown(config))
    else:
        catalog = validate_argument(ConfiguredCatalog, load_json_argument(args.catalog, "catalog"), "catalog")
        if command == "read":
            state = None
            if args.state:
                state = validate_argument(SyncState, load_json_argument(args.state, "state"), "state")
            _emit_all(writer, connector.read(config, catalog, state, _stdin_inputs(stdin)))
        elif command == "write" and connector.writes_raw():
            _emit_all(writer, connector.write_raw(config, catalog, _stdin_raw_messages(stdin, writer)))
        elif command == "write":
            _emit_all(writer, connector.write(config, catalog, _stdin_messages(stdin, writer)))
        else:
            _emit_all(writer, connector.setup(config, catalog))


def run(
    connector: Connector[Any],
    argv: list[str],
    *,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[str] | None = None,
    prog: str | None = None,
) -> int:
    """Run one command of `connector` and return its exit code; streams default to the process's own."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout.buffer
    stderr = stderr if stderr is not None else sys.stderr
    redactor = Redactor()
    try:
        name = prog or type(connector).__name__
        args = _build_parser(name, partial(connector_version, connector, name)).parse_args(argv)
        if args.command not in COMMANDS or not connector.supports(args.command):
            raise UsageError(f"this connector does not support `{args.command}`")
        config = None
        if args.command != "spec":
            raw_config = load_json_argument(args.config, "config")
            redactor = Redactor(find_secrets(connector.config_model.model_json_schema(), raw_config))
            config = validate_argument(connector.config_model, raw_config, "config")
    except UsageError as exc:
        stderr.write(f"error: {redactor.text(str(exc))}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK

    writer = MessageWriter(stdout, redactor, linger_s=LINGER_S if args.command == "read" else 0.0)
    try:
        with logs_as_messages(writer):
            _execute(connector, args, config, stdin, writer, redactor)
        writer.flush()
        return EXIT_OK
    except UsageError as exc:
        writer.flush()
        stderr.write(f"error: {redactor.text(str(exc))}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:
        try:
            writer.write(error_message(exc))
            writer.flush()
        except BrokenPipeError:
            pass
        stderr.write(f"error: {redactor.text(str(exc)).splitlines()[0] if str(exc) else type(exc).__name__}\n")
        return EXIT_FAILED


def main(connector: Connector[Any], prog: str | None = None) -> None:
    """Console-script entry point: run with `sys.argv` and exit with its code."""
    sys.exit(run(connector, sys.argv[1:], prog=prog))

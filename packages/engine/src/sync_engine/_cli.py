"""`sync-engine`: run a pipeline from a JSON/YAML file or from flags; NDJSON of every non-record message on stdout.

Exit codes: 0 succeeded (also when a limit stopped the run with `has_more`), 1 failed, 2 usage or config error
(also: the checkpoint belongs to another pipeline, or another run holds it), 3 partial (some streams errored or
were left unfinished by the source), 4 system error (infrastructure: retries exhausted, a connector crashed or broke
the protocol, an internal fault), 130/143 stopped by SIGINT/SIGTERM after an orderly shutdown.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

import anyio
from sync_protocol import (
    CatalogMessage,
    ConnectionStatusMessage,
    ConnectionStatusValue,
    Message,
    RunStatus,
    SpecMessage,
    encode_message,
)

from ._config import Pipeline, StreamSelection, load_pipeline, validate_pipeline
from ._engine import Engine
from ._errors import EngineError, PipelineConfigError, StateLockedError
from ._view import ProgressView
from .conformance._command import add_arguments as add_conformance_arguments
from .conformance._command import run_command as run_conformance_command

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_SYSTEM_ERROR = 0, 1, 2, 3, 4
_SYNC_EXIT = {
    RunStatus.SUCCEEDED: EXIT_OK,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.PARTIAL: EXIT_PARTIAL,
    RunStatus.SYSTEM_ERROR: EXIT_SYSTEM_ERROR,
}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline", help="pipeline definition (JSON or YAML file); flags below override it")
    parser.add_argument("--source", help='source command, e.g. "source-stripe" or "node ./my-source.js"')
    parser.add_argument("--source-config", help="source config: JSON file path or inline JSON")
    parser.add_argument("--destination", help="destination command")
    parser.add_argument("--destination-config", help="destination config: JSON file path or inline JSON")
    parser.add_argument("--streams", help="comma-separated stream names (default: all)")
    parser.add_argument("--state-file", help="file or directory for checkpoints (default: .sync-state/)")
    parser.add_argument("--name", help="pipeline name; its checkpoint is stored under it")


def build_parser() -> argparse.ArgumentParser:
    """The `sync-engine` argument parser."""
    parser = _Parser(prog="sync-engine", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sync = commands.add_parser("sync", help="run the pipeline")
    _add_pipeline_flags(sync)
    sync.add_argument("--time-limit", type=float, help="soft stop after this many seconds (then has_more)")
    sync.add_argument("--state-limit", type=int, help="soft stop after this many checkpoints")
    sync.add_argument("--validate-records", action="store_true", help="validate records against their schema")
    sync.add_argument("--max-attempts", type=int, help="source starts per run after transient failures")
    sync.add_argument(
        "--adopt-checkpoint",
        action="store_true",
        help="resume from the named checkpoint although a differently configured pipeline wrote it",
    )
    sync.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="live progress view on stderr (default: when stderr is a terminal)",
    )
    for name, text in (("check", "check a connector's config"), ("spec", "print a connector's spec")):
        sub = commands.add_parser(name, help=text)
        _add_pipeline_flags(sub)
        sub.add_argument("--connector", choices=("source", "destination", "both"), default="both")
    for name, text in (
        ("discover", "print the source's catalog"),
        ("setup", "prepare the destination"),
        ("teardown", "remove what setup created"),
    ):
        _add_pipeline_flags(commands.add_parser(name, help=text))
    add_conformance_arguments(commands.add_parser("conformance", help="check a connector against the protocol"))
    return parser


def _json_or_path(value: str) -> dict[str, Any] | str:
    import orjson

    text = value.strip()
    if text.startswith("{"):
        try:
            loaded = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise PipelineConfigError(f"inline config is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise PipelineConfigError("inline config must be a JSON object")
        return loaded
    return str(Path(value).resolve())


def pipeline_from_args(args: argparse.Namespace) -> tuple[Pipeline, Path | None]:
    """The pipeline from `--pipeline` (if any) with flags layered over it; its base directory for paths."""
    raw: dict[str, Any] = {}
    base: Path | None = None
    if args.pipeline:
        pipeline_path = Path(args.pipeline)
        raw = load_pipeline(pipeline_path).model_dump(exclude_unset=True, mode="json")
        base = pipeline_path.resolve().parent
    for role in ("source", "destination"):
        command, config = getattr(args, role), getattr(args, f"{role}_config")
        if command or config:
            settings = dict(raw.get(role, {}))
            if command:
                settings["command"] = command
            if config:
                settings["config"] = _json_or_path(config)
            raw[role] = settings
        if role not in raw:
            raise PipelineConfigError(f"no {role}: give --pipeline or --{role}")
    if args.streams:
        raw["streams"] = [StreamSelection(name=n.strip()).model_dump() for n in args.streams.split(",") if n.strip()]
    if args.state_file:
        raw["state"] = {"store": "file", "path": str(Path(args.state_file).resolve())}
    if args.name:
        raw["name"] = args.name
    for flag, key in (("time_limit", "time_limit_s"), ("state_limit", "state_limit"), ("max_attempts", "max_attempts")):
        if getattr(args, flag, None) is not None:
            raw[key] = getattr(args, flag)
    for flag in ("validate_records", "adopt_checkpoint"):
        if getattr(args, flag, False):
            raw[flag] = True
    return validate_pipeline(raw), base


class _Output:
    """Writes messages as NDJSON to stdout (never records) and feeds the live view."""

    def __init__(self, stdout: IO[bytes], view: ProgressView | None) -> None:
        self._stdout = stdout
        self._view = view

    def __call__(self, message: Message) -> None:
        if message.type == "record":
            return
        self._stdout.write(encode_message(message))
        self._stdout.flush()
        if self._view is not None:
            self._view.show(message)


async def _sync(engine: Engine, emit: Callable[[Message], None]) -> int:
    """Run the sync; the first SIGINT/SIGTERM stops it in order, a second one at once (connectors still reaped)."""
    stop = anyio.Event()
    received: list[int] = []
    code = EXIT_FAILED
    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    received.append(signum)
                    if stop.is_set():
                        tasks.cancel_scope.cancel()
                        return
                    stop.set()

        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            tasks.start_soon(watch)
        try:
            result = await engine.sync(emit, stop=stop)
            code = _SYNC_EXIT[result.status]
        except Exception as exc:  # raised as itself, not wrapped in the task group's ExceptionGroup
            failure = exc
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return 128 + received[0] if received else code


async def _run(args: argparse.Namespace, engine: Engine, emit: Callable[[Message], None]) -> int:
    command = args.command
    if command == "sync":
        return await _sync(engine, emit)
    if command in ("spec", "check"):
        code = EXIT_OK
        for which in ("source", "destination") if args.connector == "both" else (args.connector,):
            if command == "spec":
                emit(SpecMessage(spec=await engine.spec(which)))
            else:
                status = await engine.check(which, emit)
                emit(ConnectionStatusMessage(connection_status=status))
                if status.status is not ConnectionStatusValue.SUCCEEDED:
                    code = EXIT_FAILED
        return code
    if command == "discover":
        emit(CatalogMessage(catalog=await engine.discover(emit)))
    elif command == "setup":
        await engine.setup(emit)
    elif command == "teardown":
        await engine.teardown(emit)
    return EXIT_OK


def run(argv: list[str], *, stdout: IO[bytes] | None = None, stderr: IO[str] | None = None) -> int:
    """Run `sync-engine` with `argv`; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    try:
        args = build_parser().parse_args(argv)
        if args.command == "conformance":
            return run_conformance_command(args, out, err)
        pipeline, base = pipeline_from_args(args)
        engine = Engine(pipeline, base_dir=base)
    except (_UsageError, PipelineConfigError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    show_view = getattr(args, "progress", None)
    if show_view is None:
        show_view = args.command == "sync" and err.isatty()
    view = ProgressView(err) if show_view else None
    try:
        if view is not None:
            with view:
                return anyio.run(_run, args, engine, _Output(out, view))
        return anyio.run(_run, args, engine, _Output(out, None))
    except (PipelineConfigError, StateLockedError) as exc:
        err.write(f"error: {engine.redactor.text(str(exc))}\n")
        return EXIT_USAGE
    except EngineError as exc:
        err.write(f"error: {engine.redactor.text(str(exc))}\n")
        return EXIT_FAILED
    except Exception as exc:  # a bug or an unexpected environment: still one line, still exit 1
        err.write(f"error: unexpected {type(exc).__name__}: {engine.redactor.text(str(exc))}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write("error: interrupted\n")
        return EXIT_FAILED


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))

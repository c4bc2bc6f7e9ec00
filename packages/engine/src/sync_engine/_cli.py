"""`sync-engine`: run a pipeline from a JSON/YAML file or from flags; NDJSON of every non-record message on stdout.

`${VAR}` in the pipeline file and in connector configs is read from the environment (and from `--env-file`, or a
`.env` beside the pipeline file); a variable that is not set is a usage error naming it.

Exit codes: 0 succeeded (also when a limit stopped the run with `has_more`), 1 failed (the user's: a refused key,
a config the connector rejected), 2 usage or config error (also: a connector command not found, the checkpoint
belongs to another pipeline, or another run holds it), 3 partial (some streams errored or were left unfinished by
the source), 4 system error (infrastructure: retries exhausted, a connector crashed, timed out or broke the
protocol, an internal fault), 130/143 stopped by SIGINT/SIGTERM after an orderly shutdown. A `sync` prints `start`
and `end` whatever failed, also when `spec`, `discover` or `setup` did (then 1, 2 or 4 as above).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

import anyio
from sync_protocol import (
    CatalogMessage,
    ConnectionStatusMessage,
    ConnectionStatusValue,
    Message,
    RunStatus,
    SpecMessage,
    encode_message,
    utc_now,
)
from sync_protocol.sdk import VersionAction

from ._config import (
    ConnectorSettings,
    Pipeline,
    StateSettings,
    StreamSelection,
    load_pipeline,
    read_pipeline_file,
    validate_pipeline,
)
from ._engine import Engine, create_store
from ._env import environment
from ._errors import EngineError, PipelineConfigError, StateLockedError
from ._report import failure_status
from ._selection import fix_run_ranges
from ._shorthands import add_flags as add_shorthand_flags
from ._shorthands import apply as apply_shorthands
from ._spec_cache import DISABLE_VARIABLE, SpecCache, default_spec_cache
from ._state_ops import describe_state, without_streams
from ._summary import dry_run_plan, human_summary, streams_table, summary_line
from .stores import ManagedStateStore, StateStore

if TYPE_CHECKING:
    from ._result import SyncResult
    from ._view import ProgressView

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


EPILOG = """examples:
  export STRIPE_API_KEY=sk_test_... DATABASE_URL=postgresql://localhost/analytics
  sync-engine sync --stripe-api-key --postgres-url --streams customers,charges
  sync-engine sync --stripe-api-key --sheets-spreadsheet-id  # key file: $GOOGLE_APPLICATION_CREDENTIALS
  sync-engine sync --pipeline pipeline.yaml            # ${VAR} in it read from the environment or .env
  sync-engine sync --pipeline pipeline.yaml --dry-run  # what a run would read, nothing written
  sync-engine streams --stripe-api-key                 # the source's streams as a table
  sync-engine state show --pipeline pipeline.yaml
  sync-engine state reset --pipeline pipeline.yaml --stream charges

exit codes: 0 succeeded (also when a limit stopped the run: has_more), 1 failed (the user's: a refused key, a
config the connector rejected), 2 usage or config error (a missing variable, a connector not found, an invalid
config, a checkpoint of another pipeline or held by another run), 3 partial (some streams errored or
unfinished), 4 system error (retries exhausted, a connector crashed or broke the protocol), 130/143 stopped by
SIGINT/SIGTERM after an orderly shutdown
"""


def _add_output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env-file", help="read ${VAR} values from this file (default: .env beside --pipeline)")
    parser.add_argument("--json", action="store_true", help="NDJSON on stdout even when it is a terminal")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show the connectors' info logs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors and the final summary line")
    parser.add_argument("--debug", action="store_true", help="tracebacks and the connectors' stderr tails")


def _add_pipeline_flags(parser: argparse.ArgumentParser) -> None:
    _add_output_flags(parser)
    parser.add_argument("--pipeline", help="pipeline definition (JSON or YAML file); flags below override it")
    parser.add_argument("--source", help='source command, e.g. "source-stripe" or "node ./my-source.js"')
    parser.add_argument("--source-config", help="source config: JSON file path or inline JSON")
    parser.add_argument("--destination", help="destination command")
    parser.add_argument("--destination-config", help="destination config: JSON file path or inline JSON")
    parser.add_argument("--streams", help="comma-separated stream names (default: all)")
    parser.add_argument("--state-file", help="file or directory for checkpoints (default: .sync-state/)")
    parser.add_argument("--name", help="pipeline name; its checkpoint is stored under it")
    parser.add_argument(
        "--no-spec-cache",
        action="store_true",
        help=f"ask the connectors for their specs instead of reusing earlier answers (also: {DISABLE_VARIABLE}=1)",
    )
    add_shorthand_flags(parser)


def _add_conformance_flags(parser: argparse.ArgumentParser) -> None:
    """`conformance`'s flags; the connector command follows `--`."""
    parser.add_argument("--config", help="a working config: JSON file path or inline JSON (default: {})")
    parser.add_argument("--broken-config", help="a config that validates but cannot connect (default: secrets spoiled)")
    parser.add_argument("--failing-config", help="a config that makes a source fail (for the exit-1 check)")
    parser.add_argument("--catalog", help="configured catalog for the source read (default: its first streams)")
    parser.add_argument("--role", choices=("auto", "source", "destination", "both"), default="auto")
    parser.add_argument("--streams", type=int, default=2, help="streams of the default selection")
    parser.add_argument("--readback", help='command printing what a destination holds, one {"stream", "data"} a line')
    parser.add_argument("--skip", action="append", default=[], help="a check to skip (repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per connector command")
    parser.add_argument("--junit", help="also write JUnit XML to this file")
    parser.add_argument("--json", action="store_true", help="NDJSON on stdout instead of the readable report")
    parser.add_argument("connector", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")


def build_parser() -> argparse.ArgumentParser:
    """The `sync-engine` argument parser."""
    parser = _Parser(
        prog="sync-engine",
        description=__doc__.split("\n")[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction, lookup=_version)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sync = commands.add_parser(
        "sync", help="run the pipeline", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        "--full-refresh",
        action="store_true",
        help="forget the checkpoint of the selected streams (all with no --streams) and read them from the start",
    )
    sync.add_argument("--dry-run", action="store_true", help="show what a run would read (gaps per stream); no writes")
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
        ("discover", "print the source's catalog (NDJSON)"),
        ("streams", "list the source's streams as a table"),
        ("setup", "prepare the destination"),
        ("teardown", "remove what setup created (asks first on a terminal)"),
    ):
        sub = commands.add_parser(name, help=text)
        _add_pipeline_flags(sub)
        if name == "teardown":
            sub.add_argument("--yes", action="store_true", help="do not ask")
    state = commands.add_parser("state", help="list, show or reset checkpoints")
    _add_pipeline_flags(state)
    state.add_argument("action", choices=("list", "show", "reset"))
    state.add_argument("--stream", action="append", help="reset only this stream (repeatable)")
    state.add_argument("--yes", action="store_true", help="reset without asking")
    _add_conformance_flags(commands.add_parser("conformance", help="check a connector against the protocol"))
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("sync-engine")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


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


def settings_env(args: argparse.Namespace, process_env: Mapping[str, str]) -> dict[str, str]:
    """What `${VAR}` reads: `--env-file`, else a `.env` beside the pipeline file, under the process environment."""
    env_file = Path(args.env_file) if getattr(args, "env_file", None) else None
    if env_file is None and getattr(args, "pipeline", None):
        beside = Path(args.pipeline).resolve().parent / ".env"
        env_file = beside if beside.is_file() else None
    return environment(process_env, env_file)


def pipeline_from_args(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[Pipeline, Path | None]:
    """The pipeline from `--pipeline` (if any) with flags layered over it; its base directory for paths."""
    raw: dict[str, Any] = {}
    base: Path | None = None
    if args.pipeline:
        pipeline_path = Path(args.pipeline)
        raw = read_pipeline_file(pipeline_path, env)
        if not isinstance(raw, dict):
            raise PipelineConfigError(f"pipeline file {pipeline_path} must hold a mapping")
        base = pipeline_path.resolve().parent
    apply_shorthands(args, raw, os.environ if env is None else env)
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
            raise PipelineConfigError(f"no {role}: give --{role} or a pipeline file (--pipeline) that names one")
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


_HUMAN_COMMANDS = frozenset({"sync", "streams", "state"})
"""Commands that print a human view on a terminal; the others print their NDJSON there too."""


class _Output:
    """Writes messages as NDJSON to stdout (never records) and feeds the live view.

    With `human` set nothing goes to stdout while the run lasts (a summary follows). A closed stdout (`| head`)
    ends the writing, not the run: the rest is dropped.
    """

    def __init__(self, stdout: IO[bytes], view: ProgressView | None, *, human: bool = False) -> None:
        self._stdout = stdout
        self._view = view
        self._human = human
        self.closed = False

    def __call__(self, message: Message) -> None:
        if message.type == "record":
            return
        if not self._human:
            self.write(encode_message(message))
        if self._view is not None:
            self._view.show(message)

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self._stdout.write(data)
            self._stdout.flush()
        except BrokenPipeError:
            self.closed = True
            _silence_stdout(self._stdout)

    def lines(self, lines: list[str]) -> None:
        self.write("".join(f"{line}\n" for line in lines).encode())


def _silence_stdout(stdout: IO[bytes]) -> None:
    """Point a closed stdout at /dev/null, so the interpreter's last flush does not complain at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


async def _sync(
    engine: Engine, emit: Callable[[Message], None], full_refresh: bool | list[str]
) -> tuple[int, SyncResult | None]:
    """Run the sync; the first SIGINT/SIGTERM stops it in order, a second one at once (connectors still reaped)."""
    stop = anyio.Event()
    received: list[int] = []
    code = EXIT_FAILED
    result: SyncResult | None = None
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
            result = await engine.sync(emit, stop=stop, full_refresh=full_refresh)
            code = _SYNC_EXIT[result.status]
        except Exception as exc:  # raised as itself, not wrapped in the task group's ExceptionGroup
            failure = exc
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return (128 + received[0] if received else code), result


class _Session:
    """One invocation's streams and choices: where output goes and whether a human reads it."""

    def __init__(self, args: argparse.Namespace, out: _Output, err: IO[str], stdin: IO[str], human: bool) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.stdin = stdin
        self.human = human

    def confirm(self, question: str) -> bool:
        """True with `--yes` or when stdin is no terminal (scripts); otherwise ask."""
        if getattr(self.args, "yes", False) or not self.stdin.isatty():
            return True
        self.err.write(f"{question} [y/N] ")
        self.err.flush()
        return self.stdin.readline().strip().lower() in ("y", "yes")


async def _state(session: _Session, engine: Engine) -> int:
    args, store = session.args, engine.store
    if args.action == "list":
        keys = await anyio.to_thread.run_sync(_managed(store).keys)
        session.out.lines(keys)
        return EXIT_OK
    name = await engine.checkpoint_name()
    if args.action == "show":
        state = await anyio.to_thread.run_sync(store.load, name)
        if state is None:
            session.err.write(f"no checkpoint {name!r} yet\n")
            return EXIT_OK
        if session.human:
            session.out.lines(describe_state(name, state))
        else:
            session.out.write(state.model_dump_json(exclude_none=True).encode() + b"\n")
        return EXIT_OK
    what = f"stream(s) {', '.join(args.stream)} of checkpoint {name!r}" if args.stream else f"checkpoint {name!r}"
    if not session.confirm(f"reset {what}? The next run reads it from the start."):
        session.err.write("not reset\n")
        return EXIT_USAGE
    with store.lock(name):
        await anyio.to_thread.run_sync(_reset, engine, name, args.stream)
    session.err.write(f"reset {what}\n")
    return EXIT_OK


def _managed(store: StateStore) -> ManagedStateStore:
    if not (hasattr(store, "keys") and hasattr(store, "delete")):
        raise PipelineConfigError(f"the state store {type(store).__name__} cannot list or reset checkpoints")
    return cast(ManagedStateStore, store)


def _reset(engine: Engine, name: str, streams: list[str] | None) -> None:
    """Forget checkpoint `name`, or only `streams` of it (names the checkpoint does not hold are refused)."""
    store = _managed(engine.store)
    if not streams:
        store.delete(name)
        return
    state = store.load(name)
    if state is None:
        raise PipelineConfigError(f"there is no checkpoint {name!r} to reset")
    store.save(name, without_streams(state, streams))


async def _run(session: _Session, engine: Engine, emit: Callable[[Message], None]) -> int:
    args = session.args
    command = args.command
    if command == "sync":
        if args.dry_run:
            name = await engine.checkpoint_name()
            catalog = await engine.configured_catalog(emit)
            state = await anyio.to_thread.run_sync(engine.store.load, name)
            if (await engine.spec("source")).capabilities.get("time_range"):  # the ranges a run would fix
                fixed = state.run_ranges if state is not None and not state.finished else {}
                catalog, _ = fix_run_ranges(catalog, fixed, utc_now())
            session.out.lines(dry_run_plan(name, catalog, state))
            return EXIT_OK
        full_refresh: bool | list[str] = args.full_refresh
        if args.full_refresh and args.streams and engine.pipeline.streams:
            full_refresh = [s.name for s in engine.pipeline.streams]
        code, result = await _sync(engine, emit, full_refresh)
        if result is not None:
            if session.human:
                session.out.lines([engine.redactor.text(line) for line in human_summary(result)])
            session.err.write(engine.redactor.text(summary_line(result)) + "\n")
        return code
    if command == "state":
        return await _state(session, engine)
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
    elif command == "streams":
        offered = await engine.discover(emit)
        if session.human:
            session.out.lines(streams_table(offered))
        else:
            emit(CatalogMessage(catalog=offered))
    elif command == "setup":
        await engine.setup(emit)
    elif command == "teardown":
        question = f"teardown drops what setup created for {engine.pipeline.destination.command!r}. Go on?"
        if not session.confirm(question):
            session.err.write("teardown cancelled\n")
            return EXIT_USAGE
        await engine.teardown(emit)
    return EXIT_OK


def _spec_cache(args: argparse.Namespace, process_env: Mapping[str, str]) -> SpecCache | None:
    """The on-disk spec cache, unless turned off; `spec` always asks the connectors."""
    if args.command == "spec" or args.no_spec_cache:
        return None
    return default_spec_cache(process_env)


def _engine_for(args: argparse.Namespace, env: Mapping[str, str], process_env: Mapping[str, str]) -> Engine:
    if args.command == "state" and args.action == "list":
        settings = load_pipeline(args.pipeline, env).state if args.pipeline else StateSettings()
        if args.state_file:
            settings = StateSettings(store="file", path=str(Path(args.state_file).resolve()))
        base = Path(args.pipeline).resolve().parent if args.pipeline else None
        placeholder = Pipeline(source=ConnectorSettings(command="-"), destination=ConnectorSettings(command="-"))
        return Engine(placeholder, store=create_store(settings, base), env=env)
    pipeline, base = pipeline_from_args(args, env)
    return Engine(pipeline, base_dir=base, env=env, spec_cache=_spec_cache(args, process_env))


def run(
    argv: list[str],
    *,
    stdout: IO[bytes] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run `sync-engine` with `argv`; returns the exit code. `env` defaults to the process environment."""
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    inp = stdin if stdin is not None else sys.stdin
    try:
        args = build_parser().parse_args(argv)
        if args.command == "conformance":
            from .conformance._command import run_command

            return run_command(args, out, err)
        process_env = os.environ if env is None else env
        engine = _engine_for(args, settings_env(args, process_env), process_env)
    except (_UsageError, PipelineConfigError) as exc:
        err.write(f"error: {exc}\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    human = not args.json and _isatty(out)
    show_view = getattr(args, "progress", None)
    if show_view is None:
        show_view = args.command == "sync" and not args.dry_run and not args.quiet and err.isatty()
    view: ProgressView | None = None
    if show_view:
        from ._view import ProgressView

        view = ProgressView(err, verbose=args.verbose, quiet=args.quiet)
    output = _Output(out, view, human=human and args.command in _HUMAN_COMMANDS)
    session = _Session(args, output, err, inp, human)
    try:
        if view is not None:
            with view:
                return anyio.run(_run, session, engine, output)
        return anyio.run(_run, session, engine, output)
    except (PipelineConfigError, StateLockedError) as exc:
        err.write(f"error: {engine.redactor.text(str(exc))}\n")
        return EXIT_USAGE
    except EngineError as exc:  # a connector or the infrastructure failed: 1 or 4 by the one rule
        _debug(args, err, engine)
        err.write(f"error: {engine.redactor.text(str(exc))}\n")
        return _SYNC_EXIT[exc.result.status if exc.result is not None else failure_status(exc.failure_type)]
    except Exception as exc:  # a bug or an unexpected environment: still one line, still exit 1
        _debug(args, err, engine)
        hint = "" if args.debug else " (--debug shows the traceback)"
        err.write(f"error: unexpected {type(exc).__name__}: {engine.redactor.text(str(exc))}{hint}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write("error: interrupted\n")
        return EXIT_FAILED


def _isatty(stream: IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _debug(args: argparse.Namespace, err: IO[str], engine: Engine) -> None:
    if args.debug:
        err.write(engine.redactor.text(traceback.format_exc()))


def main() -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:]))

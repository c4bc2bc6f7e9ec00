"""The engine's Python API: async methods over a `Pipeline`; `sync_engine.blocking` wraps them for plain code."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import orjson
from sync_protocol import (
    Catalog,
    CatalogMessage,
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusMessage,
    ControlMessage,
    ControlType,
    Message,
    PipelineIdentity,
    Spec,
    SpecMessage,
    TimeRange,
    utc_now,
)
from sync_protocol.sdk import Redactor, find_secrets

from ._commands import CommandOutput, run_command
from ._config import ConnectorSettings, Pipeline, StateSettings
from ._config_check import validate_config
from ._env import interpolate, secret_values
from ._errors import EngineError, PipelineConfigError
from ._files import replace_file
from ._held import HeldCall
from ._identity import check_identity, default_pipeline_name, pipeline_identity
from ._pipeline import ResolvedPipeline, SyncRun
from ._process import locate, split_command
from ._result import SyncResult
from ._selection import configure_catalog, fix_run_ranges
from ._spec_cache import SpecCache
from ._state_ops import refreshed
from ._unstarted import Opening, unstarted_verdict
from .stores import FileStateStore, MemoryStateStore, PostgresStateStore, StateStore

OnMessage = Callable[[Message], None]

SETUP_IN_WRITE = "setup_in_write"
"""A destination capability: its `write` does all that `setup` does (idempotently) before it takes input, so a
sync skips the separate `setup` (one connector start-up less); the `setup` command still runs it."""


def _ignore(_: Message) -> None:
    return None


def create_state_store(pipeline: Pipeline, base: Path | None = None) -> StateStore:
    """The store the pipeline's `state` settings ask for."""
    return create_store(pipeline.state, base)


def create_store(
    settings: StateSettings, base: Path | None = None
) -> FileStateStore | MemoryStateStore | PostgresStateStore:
    """The store `settings` ask for; relative file paths are taken from `base`."""
    if settings.store == "memory":
        return MemoryStateStore()
    if settings.store == "postgres":
        if not settings.url:
            raise PipelineConfigError("state.url is required for the postgres state store")
        return PostgresStateStore(settings.url, settings.db_schema)
    path = Path(settings.path)
    return FileStateStore(path if path.is_absolute() or base is None else base / path)


class Engine:
    """Runs the commands of one pipeline. All methods are async (anyio); see `sync_engine.blocking`.

    `base_dir` resolves relative paths in the pipeline (config files, the state directory). `env` is what
    `${VAR}` in the connector configs is replaced from (default: the process environment). `spec_cache` keeps
    the connectors' specs across engines (the CLI uses one unless told not to); without it each engine asks.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        base_dir: str | Path | None = None,
        store: StateStore | None = None,
        env: Mapping[str, str] | None = None,
        spec_cache: SpecCache | None = None,
    ):
        self.pipeline = pipeline
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.env: Mapping[str, str] = env if env is not None else os.environ
        self.store = store if store is not None else create_state_store(pipeline, self.base_dir)
        self.spec_cache = spec_cache
        self._specs: dict[str, Spec] = {}
        self._secrets: set[str] = set()

    @property
    def redactor(self) -> Redactor:
        """Scrubs the secrets of every config validated so far (by their specs) from what the engine prints."""
        return Redactor(self._secrets)

    def _argv(self, settings: ConnectorSettings) -> list[str]:
        return split_command(settings.command)

    async def _run(
        self, which: str, subcommand: str, arguments: dict[str, Any], on_message: OnMessage | None = None
    ) -> CommandOutput:
        """Run one command; a failure raises an `EngineError` naming the connector and command, redacted."""
        settings = self._settings(which)
        try:
            return await run_command(
                which, self._argv(settings), subcommand, arguments, env=settings.env, on_message=on_message,
                redactor=self.redactor, timeout_s=self.pipeline.command_timeout_s,
            )  # fmt: skip
        except EngineError as exc:
            exc.blame(which, subcommand)
            exc.args = (self.redactor.text(exc.message),)
            if on_message is None:
                exc.relayed = None  # nobody saw the connector's own error message
            raise

    async def spec(self, which: str = "source") -> Spec:
        """The spec of the source or the destination: asked once per engine, or read from `spec_cache`."""
        if which not in self._specs:
            cache = self.spec_cache
            self._specs[which] = await (self._ask_spec(which) if cache is None else self._cached_spec(which, cache))
        return self._specs[which]

    async def _ask_spec(self, which: str) -> Spec:
        return (await self._run(which, "spec", {})).expect_one(SpecMessage).spec

    async def _cached_spec(self, which: str, cache: SpecCache) -> Spec:
        settings = self._settings(which)
        argv = self._argv(settings)
        key = cache.key([locate(argv[0]) or argv[0], *argv[1:], "spec"], settings.env)
        spec = cache.load(key)
        if spec is None:
            spec = await self._ask_spec(which)
            await anyio.to_thread.run_sync(cache.save, key, spec)
        return spec

    async def prefetch_specs(self, on_source: Callable[[], Awaitable[None]] | None = None) -> None:
        """Ask both connectors for their specs side by side (one interpreter start-up less on the way to a run);
        `on_source` runs as soon as the source's spec is known."""
        failures: list[Exception] = []

        async def fetch(which: str) -> None:
            try:
                await self.spec(which)
                if which == "source" and on_source is not None:
                    await on_source()
            except Exception as exc:  # raised below as itself, not inside an ExceptionGroup
                failures.append(exc)

        async with anyio.create_task_group() as tasks:
            for which in ("source", "destination"):
                tasks.start_soon(fetch, which)
        if failures:
            raise failures[0]

    async def check(self, which: str = "source", on_message: OnMessage = _ignore) -> ConnectionStatus:
        """Validate the config against the spec, then ask the connector to try it."""
        output = await self._run(which, "check", {"config": await self._validated_config(which)}, on_message)
        status = output.expect_one(ConnectionStatusMessage)
        return self.redactor.message(status).connection_status

    async def discover(self, on_message: OnMessage = _ignore) -> Catalog:
        """The source's catalog."""
        output = await self._run("source", "discover", {"config": await self._validated_config("source")}, on_message)
        return output.expect_one(CatalogMessage).catalog

    async def configured_catalog(self, on_message: OnMessage = _ignore) -> ConfiguredCatalog:
        """Discover, then apply the pipeline's stream and field selection."""
        return configure_catalog(await self.discover(on_message), self.pipeline.streams)

    async def setup(self, on_message: OnMessage = _ignore, catalog: ConfiguredCatalog | None = None) -> None:
        """Run the destination's idempotent `setup` for the configured catalog."""
        catalog = catalog or await self.configured_catalog(on_message)
        arguments = {"config": await self._validated_config("destination"), "catalog": catalog}
        output = await self._run("destination", "setup", arguments, self._with_control(on_message))
        output.raise_for_failure()

    async def teardown(self, on_message: OnMessage = _ignore) -> None:
        """Run the destination's `teardown`."""
        arguments = {"config": await self._validated_config("destination")}
        (await self._run("destination", "teardown", arguments, on_message)).raise_for_failure()

    async def sync(
        self,
        on_message: OnMessage = _ignore,
        *,
        stop: anyio.Event | None = None,
        full_refresh: bool | Sequence[str] = False,
    ) -> SyncResult:
        """Validate, lock the pipeline's checkpoint, discover, select, set up (unless the destination's `write` does
        it: the `setup_in_write` capability), then run; returns how it ended.

        Setting `stop` ends the run in order: the source stops, the destination commits, the checkpoint is saved
        and `end` says `has_more`. `full_refresh` forgets the checkpoint of the named streams (`True`: all) so
        they are read from the start; the pipeline's lifetime totals stay.

        Every call ends with `start` and `end`. A failure before the run could begin (a connector's `spec`,
        `discover` or `setup`; an invalid config or selection; a checkpoint of another pipeline or held by
        another run) raises an `EngineError` after them: `level`, `failure_type`, `connector`, `command` say
        what failed and `result` is what `end` said. Failures during the run are in the returned result.
        """
        opening = Opening(on_message)
        with ExitStack() as held:
            try:
                run = await self._prepare(opening, stop, full_refresh, held)
            except Exception as exc:  # every failure before the run still ends with a verdict
                failure = unstarted_verdict(exc, opening, self.redactor)
                if failure is exc:
                    raise
                raise failure from exc
            return await run.run()

    async def _prepare(
        self, opening: Opening, stop: anyio.Event | None, full_refresh: bool | Sequence[str], held: ExitStack
    ) -> SyncRun:
        """Everything before the run: specs, configs, the lock (kept in `held`), the checkpoint, `start`, then
        discover, selection, setup and the run's ranges. `opening` records how far it got.

        The source's `discover` starts as soon as its config is validated, beside the destination's spec and the
        checkpoint (one connector start-up off the way to a run); what it reports is held until after `start`,
        and its outcome is met where a sequential run would meet it, so the verdict does not change.
        """
        discovery = HeldCall(self.discover)
        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:

            async def start_discover() -> None:
                try:
                    await self._validated_config("source")
                except EngineError:
                    return  # raised again below, where a sequential run meets it
                tasks.start_soon(discovery.run)

            try:
                run = await self._prepare_run(opening, stop, full_refresh, held, start_discover, discovery)
            except Exception as exc:  # raised as itself once the early discover is stopped
                failure = exc
            tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return run

    async def _prepare_run(
        self,
        opening: Opening,
        stop: anyio.Event | None,
        full_refresh: bool | Sequence[str],
        held: ExitStack,
        start_discover: Callable[[], Awaitable[None]],
        discovery: HeldCall[Catalog],
    ) -> SyncRun:
        on_message = opening.emit
        await self.prefetch_specs(on_source=start_discover)
        source_config = await self._validated_config("source")
        destination_config = await self._validated_config("destination")
        identity = self._identity(source_config, destination_config)
        name = self._checkpoint_name(identity)
        held.enter_context(self.store.lock(name))
        starting = await anyio.to_thread.run_sync(self.store.load, name)
        opening.read(starting)
        check_identity(name, starting.pipeline if starting else None, identity, self.pipeline.adopt_checkpoint)
        if full_refresh and starting is not None:
            forget = None if full_refresh is True else list(full_refresh)
            starting = refreshed(starting, forget)
            await anyio.to_thread.run_sync(self.store.save, name, starting)
            opening.read(starting)
        run_id = opening.start()  # what discover and setup report follows `start`
        redact = self.redactor.message  # also the secrets validated after discover began
        offered = await discovery.claim(lambda message: on_message(redact(message)))
        catalog = configure_catalog(offered, self.pipeline.streams)
        if not (await self.spec("destination")).capabilities.get(SETUP_IN_WRITE):
            await self.setup(on_message, catalog)  # else the destination's `write` sets up (one process less)
        ranges: dict[str, TimeRange] = {}
        if (await self.spec("source")).capabilities.get("time_range"):
            fixed = starting.run_ranges if starting is not None and not starting.finished else {}
            catalog, ranges = fix_run_ranges(catalog, fixed, utc_now())
        resolved = ResolvedPipeline(
            pipeline=self.pipeline,
            source_argv=self._argv(self.pipeline.source),
            destination_argv=self._argv(self.pipeline.destination),
            source_config=source_config,
            destination_config=await self._validated_config("destination"),  # setup may have replaced it
            catalog=catalog,
            name=name,
            run_ranges=ranges,
            identity=self._identity,
            on_control=self._persist_control,
            redactor=self.redactor,
        )
        return SyncRun(resolved, self.store, starting, run_id, on_message, stop)

    async def checkpoint_name(self) -> str:
        """The key the pipeline's checkpoint is stored under: its `name`, else derived from its identity.

        Validates both configs (asking each connector for its spec once), as `sync` does.
        """
        if self.pipeline.name:
            return self.pipeline.name
        return self._checkpoint_name(await self.identity())

    async def identity(self) -> PipelineIdentity:
        """The identity a sync of the pipeline as it stands checks its checkpoint against and stores in it.

        Validates both configs (asking each connector for its spec once), as `sync` does.
        """
        await self.prefetch_specs()
        source_config = await self._validated_config("source")
        destination_config = await self._validated_config("destination")
        return self._identity(source_config, destination_config)

    def _checkpoint_name(self, identity: PipelineIdentity) -> str:
        return self.pipeline.name or default_pipeline_name(
            identity, self._argv(self.pipeline.source), [s.name for s in self.pipeline.streams or []] or ["*"]
        )

    def _identity(self, source_config: dict[str, Any], destination_config: dict[str, Any]) -> PipelineIdentity:
        return pipeline_identity(
            self._argv(self.pipeline.source),
            source_config,
            self._argv(self.pipeline.destination),
            destination_config,
            self._secrets,
        )

    # ---- helpers --------------------------------------------------------------------------------------------

    def _settings(self, which: str) -> ConnectorSettings:
        if which not in ("source", "destination"):
            raise PipelineConfigError(f"expected 'source' or 'destination', got {which!r}")
        return self.pipeline.source if which == "source" else self.pipeline.destination

    async def _validated_config(self, which: str) -> dict[str, Any]:
        settings = self._settings(which)
        used: set[str] = set()
        try:
            raw = settings.load_config(self.base_dir)
            config: dict[str, Any] = interpolate(raw, self.env, f"{which}.config", used)
            spec = await self.spec(which)
            self._secrets.update(find_secrets(spec.config, config))
            self._secrets.update(secret_values(used, self.env))  # also where the spec does not mark them secret
            validate_config(which, spec.config, config)
        except EngineError as exc:
            exc.blame(which)
            raise
        return config

    def _with_control(self, on_message: OnMessage) -> OnMessage:
        """During `setup`: store the destination's new config, and pass it on with its secrets hidden."""

        def handle(message: Message) -> None:
            if isinstance(message, ControlMessage):
                if message.control.control_type is not ControlType.DESTINATION_CONFIG:
                    return
                self._persist_control(message)
                hidden = message.control.model_copy(update={"config": self.redactor.value(message.control.config)})
                message = ControlMessage(control=hidden)
            on_message(message)

        return handle

    def _persist_control(self, message: ControlMessage) -> None:
        """A connector replaced its config: keep it in the pipeline, and in its file when it came from one."""
        control = message.control
        settings = (
            self.pipeline.source if control.control_type is ControlType.SOURCE_CONFIG else self.pipeline.destination
        )
        path = settings.config_path(self.base_dir)
        if path is not None:
            replace_file(
                path, orjson.dumps(self._keep_references(settings, control.config), option=orjson.OPT_INDENT_2)
            )
        else:
            settings.config = control.config

    def _keep_references(self, settings: ConnectorSettings, config: dict[str, Any]) -> dict[str, Any]:
        """`config` with each top-level value that still equals its `${VAR}` original written as the reference,
        so a config file that took its secrets from the environment never gets them written into it."""
        kept = dict(config)
        try:
            for key, raw in settings.load_config(self.base_dir).items():
                if key in kept and raw != kept[key] and interpolate(raw, self.env, key) == kept[key]:
                    kept[key] = raw
        except PipelineConfigError:
            return config
        return kept

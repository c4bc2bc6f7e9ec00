"""Connector subprocesses: private argument files, a bounded stderr tail, and shutdown that never leaves zombies.

A connector runs in its own process group; stopping it sends SIGTERM to the group, then SIGKILL after a grace
period, and always waits for the exit status. Its stdout is a pipe of the engine's own, read with `os.read` when
it is readable: a wake-up takes all the pipe holds (up to 1 MiB) in one read, with no stream buffer copying it.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson
from anyio.abc import ByteReceiveStream, Process
from anyio.lowlevel import cancel_shielded_checkpoint
from pydantic import BaseModel

from ._errors import ConnectorCommandError

STDERR_TAIL_BYTES = 64 * 1024
PIPE_BYTES = 1024 * 1024
READ_CHUNK_BYTES = PIPE_BYTES
DEFAULT_GRACE_S = 5.0


def split_command(command: str | Sequence[str]) -> list[str]:
    """A connector command as argv: a list is taken as is, a string is split like a POSIX shell would.

    The argv is what the pipeline says (its identity digests it); `locate` finds the executable at start.
    """
    try:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    except ValueError as exc:  # an unbalanced quote
        raise ConnectorCommandError(f"connector command {command!r} cannot be split: {exc}") from None
    if not argv:
        raise ConnectorCommandError("empty connector command")
    if locate(argv[0]) is None:
        raise ConnectorCommandError(f"connector command not found: {argv[0]!r}")
    return argv


def locate(program: str) -> str | None:
    """Where `program` runs from: a path as given; a bare name beside this interpreter first (an un-activated
    virtualenv still finds the connectors installed with the engine), then on $PATH."""
    if "/" in program:
        return program if Path(program).exists() else None
    beside = Path(sys.executable).parent / program
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(program)


@dataclass
class StderrTail:
    """Keeps only the last `limit` bytes a connector wrote to stderr, for error reports."""

    limit: int = STDERR_TAIL_BYTES
    _data: bytearray = field(default_factory=bytearray)

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > self.limit:
            del self._data[: len(self._data) - self.limit]

    def text(self, max_chars: int = 2000) -> str:
        """The tail as text, at most `max_chars` characters from its end."""
        return self._data.decode("utf-8", errors="replace")[-max_chars:].strip()


@dataclass
class ConnectorProcess:
    """A running connector: its process, where its stderr tail goes, and its name for messages."""

    name: str
    process: Process
    stderr_tail: StderrTail
    stdout: int
    """The read end of the connector's stdout (non-blocking; closed when `open_connector` ends)."""
    _read_buffer: memoryview = field(default_factory=lambda: memoryview(bytearray(READ_CHUNK_BYTES)), repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def receive(self) -> bytes:
        """What stdout holds (at most `READ_CHUNK_BYTES`) once it holds anything; b"" at end of output.

        A cancellation point only while nothing was read: cancelled, it has consumed nothing. Reads land in one
        buffer kept for the process and are copied out at their size: reading into a fresh 1 MiB object each time
        cost more (the allocator maps and faults its pages anew) than the copy.
        """
        while True:
            try:
                size = os.readv(self.stdout, [self._read_buffer])
            except BlockingIOError:
                await anyio.wait_readable(self.stdout)
                continue
            await cancel_shielded_checkpoint()  # the other tasks run even while data keeps coming
            return self._read_buffer[:size].tobytes()

    async def chunks(self) -> AsyncIterator[bytes]:
        """Raw stdout chunks until end of file."""
        while chunk := await self.receive():
            yield chunk

    async def send(self, data: bytes) -> None:
        """Write to stdin, waiting while the pipe is full (backpressure)."""
        stdin = self.process.stdin
        assert stdin is not None
        await stdin.send(data)

    async def close_stdin(self) -> None:
        """Signal end of input; a process that already went away is fine."""
        if self.process.stdin is not None:
            try:
                await self.process.stdin.aclose()
            except (anyio.BrokenResourceError, BrokenPipeError, OSError):
                pass

    def signal_group(self, signum: int) -> None:
        """Send `signum` to the connector's whole process group, if it still runs."""
        if self.process.returncode is not None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    async def stop(self, grace_s: float = DEFAULT_GRACE_S) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; returns the exit code once the process is reaped.

        Whatever the connector left running in its process group (background children) is killed too: Linux
        does not reuse a process id while it still names a group, so the group id stays safe to signal.
        """
        code: int | None = None
        if self.process.returncode is None:
            self.signal_group(signal.SIGTERM)
            with anyio.move_on_after(grace_s):
                code = await self.process.wait()
            self.signal_group(signal.SIGKILL)
        if code is None:
            code = await self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return code


async def _drain_stderr(stream: ByteReceiveStream, tail: StderrTail, done: anyio.Event) -> None:
    try:
        async for chunk in stream:
            tail.add(chunk)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    finally:
        done.set()


_F_SETPIPE_SZ = 1031


def _widen(fd: int) -> None:
    """Grow a pipe from 64 KiB to 1 MiB where the OS allows: fewer wake-ups per megabyte. Best effort."""
    try:
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, ValueError):  # not Linux, or the limit for unprivileged users reached
        pass


def _widen_stdin(process: Process) -> None:
    """Grow the stdin pipe, reached through the asyncio backend's transport (nothing elsewhere)."""
    inner = getattr(process.stdin, "_stream", None)
    transport = getattr(inner, "_transport", None) or getattr(inner, "transport", None)
    pipe = transport.get_extra_info("pipe") if transport is not None else None
    if pipe is not None:
        _widen(pipe.fileno())


def _write_private_json(directory: Path, name: str, value: Any) -> Path:
    path = directory / f"{name}.json"
    data = value.model_dump_json(exclude_none=True).encode() if isinstance(value, BaseModel) else orjson.dumps(value)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return path


@asynccontextmanager
async def open_connector(
    name: str,
    command: Sequence[str],
    subcommand: str,
    arguments: Mapping[str, Any],
    *,
    stdin: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    grace_s: float = DEFAULT_GRACE_S,
) -> AsyncIterator[ConnectorProcess]:
    """Start `command subcommand --name <file>...`, each argument in a private 0600 temp file.

    On exit from the block the process is stopped (if still running) and reaped, and the files are removed.
    """
    with tempfile.TemporaryDirectory(prefix="sync-engine-") as tmp:
        os.chmod(tmp, 0o700)
        argv = [locate(command[0]) or command[0], *command[1:], subcommand]
        for arg_name, value in arguments.items():
            if value is not None:
                argv += [f"--{arg_name}", str(_write_private_json(Path(tmp), arg_name, value))]
        stdout, child_stdout = os.pipe()
        try:
            _widen(stdout)
            os.set_blocking(stdout, False)
            with anyio.CancelScope(shield=True):  # cancelled half-way, a started process would be left unreaped
                process = await anyio.open_process(
                    argv,
                    stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=child_stdout,
                    start_new_session=True,
                    env={**os.environ, **env} if env is not None else None,
                    cwd=cwd,
                )
        except OSError as exc:
            os.close(stdout)
            raise ConnectorCommandError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from exc
        finally:
            os.close(child_stdout)
        _widen_stdin(process)
        connector = ConnectorProcess(name, process, StderrTail(), stdout)
        stderr_done = anyio.Event()
        failure: Exception | None = None
        try:
            async with anyio.create_task_group() as tasks:
                assert process.stderr is not None
                tasks.start_soon(_drain_stderr, process.stderr, connector.stderr_tail, stderr_done)
                try:
                    yield connector
                except Exception as exc:  # re-raised below as itself, not inside the task group's ExceptionGroup
                    failure = exc
                finally:
                    with anyio.CancelScope(shield=True):
                        await connector.close_stdin()
                        await connector.stop(grace_s)
                        with anyio.move_on_after(1.0):  # a grandchild may hold stderr open
                            await stderr_done.wait()
                    tasks.cancel_scope.cancel()
        finally:
            os.close(stdout)
            with anyio.CancelScope(shield=True):
                await process.aclose()
        if failure is not None:
            raise failure

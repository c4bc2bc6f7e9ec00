"""Running a connector executable: one-shot commands with captured output, and a live `write` session."""

from __future__ import annotations

import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class Capture:
    """How one command exited and exactly what it printed."""

    shown: str
    exit_code: int
    stdout: bytes
    stderr: bytes


class Invoker:
    """Starts `command` with argument files written (mode 0600) into a private work directory."""

    def __init__(self, command: Sequence[str], workdir: Path, *, timeout_s: float, env: dict[str, str] | None) -> None:
        self.command = list(command)
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.env = env
        self._files = 0

    def arg_file(self, name: str, value: Any) -> str:
        """A fresh file holding `value` as JSON; its path for `--config`/`--catalog`/`--state`."""
        self._files += 1
        path = self.workdir / f"{self._files:02d}-{name}.json"
        path.write_bytes(value if isinstance(value, bytes) else orjson.dumps(value))
        os.chmod(path, 0o600)
        return str(path)

    def show(self, args: Sequence[str]) -> str:
        """The command line as a person would type it (argument files by their short names)."""
        shown = [Path(a).name if a.startswith(str(self.workdir)) else a for a in args]
        return shlex.join([*self.command, *shown])

    def run(self, args: Sequence[str], stdin: bytes = b"") -> Capture:
        """Run to completion (killed after the timeout, then exit code -9)."""
        with subprocess.Popen(
            [*self.command, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        ) as process:
            try:
                out, err = process.communicate(stdin, timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
                err += f"\n[conformance: killed after {self.timeout_s:g} s]".encode()
        return Capture(self.show(args), process.returncode, out, err)

    def session(self, args: Sequence[str]) -> WriteSession:
        """Start a command whose stdin is fed bit by bit (a destination's `write`)."""
        process = subprocess.Popen(
            [*self.command, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        return WriteSession(process, self.show(args), self.timeout_s)


class WriteSession:
    """A running `write`: send lines, wait for echoes of states, close or kill it; stdout is collected as it comes."""

    def __init__(self, process: subprocess.Popen[bytes], shown: str, timeout_s: float) -> None:
        self.process = process
        self.shown = shown
        self.timeout_s = timeout_s
        self.stdout = bytearray()
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr = bytearray()
        self._readers = [
            threading.Thread(target=self._pump_stdout, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _pump_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout += line
            self._lines.put(line)
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.process.stderr is not None
        for chunk in iter(lambda: self.process.stderr.read(65536) if self.process.stderr else b"", b""):
            self._stderr += chunk

    def send(self, lines: Sequence[bytes]) -> None:
        """Write lines to the destination's stdin (it may have exited: then nothing is sent)."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(b"".join(line + b"\n" for line in lines))
            self.process.stdin.flush()
        except BrokenPipeError:
            pass

    def wait_for_states(self, count: int) -> bool:
        """Block until `count` source_state lines more have been echoed; False on exit or timeout."""
        deadline = time.monotonic() + self.timeout_s
        seen = 0
        while seen < count:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            try:
                if orjson.loads(line).get("type") == "source_state":
                    seen += 1
            except (orjson.JSONDecodeError, AttributeError):
                continue
        return True

    def finish(self) -> Capture:
        """Close stdin and wait for the exit."""
        if self.process.stdin is not None:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            code = self.process.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        return self._capture(code)

    def kill(self) -> Capture:
        """SIGKILL, as a crash or an operator would."""
        self.process.send_signal(signal.SIGKILL)
        return self._capture(self.process.wait())

    def _capture(self, code: int) -> Capture:
        for reader in self._readers:
            reader.join(5)
        if self.process.stdin is not None and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return Capture(self.shown, code, bytes(self.stdout), bytes(self._stderr))

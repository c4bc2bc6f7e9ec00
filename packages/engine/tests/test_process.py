"""The subprocess runner: private argument files, stderr tail, stop without zombies."""

from __future__ import annotations

import os
import stat
import sys
import time

import anyio
import pytest
from sync_engine import ConnectorCommandError
from sync_engine._process import StderrTail, open_connector, split_command


def test_split_command_like_a_shell_and_check_existence() -> None:
    assert split_command(f"{sys.executable} 'my script.py' --x") == [sys.executable, "my script.py", "--x"]
    with pytest.raises(ConnectorCommandError, match="not found"):
        split_command("definitely-not-a-command-xyz")
    with pytest.raises(ConnectorCommandError, match="empty"):
        split_command([])


def test_stderr_tail_keeps_only_the_end() -> None:
    tail = StderrTail(limit=10)
    tail.add(b"0123456789")
    tail.add(b"abc")
    assert tail.text() == "3456789abc"


def test_arguments_are_private_files_removed_afterwards() -> None:
    script = "import os,sys; p=sys.argv[sys.argv.index('--config')+1]; print(oct(os.stat(p).st_mode & 0o777), p)"

    async def main() -> tuple[str, str]:
        async with open_connector("t", [sys.executable, "-c", script], "read", {"config": {"k": 1}}) as proc:
            out = b"".join([c async for c in proc.chunks()]).decode().split()
            await proc.process.wait()
        return out[0], out[1]

    mode, path = anyio.run(main)
    assert mode == oct(stat.S_IRUSR | stat.S_IWUSR)
    assert not os.path.exists(path)


def test_stop_escalates_to_sigkill_and_reaps() -> None:
    stubborn = (
        "import signal,time,sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    )

    async def main() -> tuple[int, int, float]:
        async with open_connector("t", [sys.executable, "-c", stubborn], "x", {}, grace_s=0.3) as proc:
            await proc.receive()
            started = time.monotonic()
            code = await proc.stop(0.3)
            return proc.pid, code, time.monotonic() - started

    pid, code, took = anyio.run(main)
    assert code == -9 and took < 5
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_connector_env_adds_to_the_environment() -> None:
    script = "import os; print(os.environ.get('EXTRA'), bool(os.environ.get('PATH')))"

    async def main() -> str:
        async with open_connector("t", [sys.executable, "-c", script], "x", {}, env={"EXTRA": "1"}) as proc:
            out = b"".join([c async for c in proc.chunks()]).decode()
            await proc.process.wait()
        return out.strip()

    assert anyio.run(main) == "1 True"


def test_background_children_left_in_the_group_are_killed(tmp_path: object) -> None:
    import pathlib

    pid_file = pathlib.Path(str(tmp_path)) / "child.pid"
    script = f"sleep 60 & echo $! > {pid_file}; exit 0"

    async def main() -> None:
        async with open_connector("t", ["sh", "-c", script], "x", {}) as proc:
            await proc.process.wait()
            await proc.stop(0.5)

    anyio.run(main)
    child = int(pid_file.read_text())
    time.sleep(0.2)
    status = pathlib.Path(f"/proc/{child}/status")
    state = status.read_text().split("State:")[1].split()[0] if status.exists() else "gone"
    assert state in ("gone", "Z"), f"the background child still runs (state {state})"  # a zombie awaits its reaper


def test_stdout_is_read_whole_up_to_the_pipe_size_and_ends_with_nothing() -> None:
    script = "import sys; sys.stdout.buffer.write(b'x' * 600_000); sys.stdout.flush(); sys.stdin.read()"

    async def main() -> tuple[int, bytes]:
        async with open_connector("t", [sys.executable, "-c", script], "x", {}, stdin=True) as proc:
            received = 0
            while received < 600_000:  # several reads if the pipe could not be widened, one if it could
                received += len(await proc.receive())
            await proc.close_stdin()
            return received, await proc.receive()

    assert anyio.run(main) == (600_000, b"")

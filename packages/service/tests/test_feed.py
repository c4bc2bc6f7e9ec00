"""`sync-service-feed` gives a command a file as stdin by replacing itself with it (same process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sync_engine import ConnectorSettings
from sync_service._inputs import FEED, fed_source


def test_the_command_reads_the_inputs_file_on_stdin_in_the_same_process() -> None:
    settings = ConnectorSettings(
        command=[sys.executable, "-c", "import os, sys; print(os.getpid()); print(sys.stdin.read())"]
    )
    events = [{"id": "evt_1", "type": "customer.updated"}, {"id": "evt_2", "type": "customer.deleted"}]
    with fed_source(settings, events) as fed:
        assert isinstance(fed.command, list)
        path = Path(fed.command[fed.command.index("--") - 1])
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        process = subprocess.Popen(fed.command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        out, _ = process.communicate(timeout=30)
    pid, *lines = out.splitlines()
    assert int(pid) == process.pid  # exec'd, not a child: stopping the source stops the real one
    assert [line for line in lines if line] == [
        '{"type":"source_input","source_input":{"data":{"id":"evt_1","type":"customer.updated"}}}',
        '{"type":"source_input","source_input":{"data":{"id":"evt_2","type":"customer.deleted"}}}',
    ]
    assert not path.exists()


def test_no_inputs_leave_the_command_alone() -> None:
    settings = ConnectorSettings(command="source-x --flag")
    with fed_source(settings, []) as fed:
        assert fed is settings


def test_usage_errors_exit_2_with_one_line() -> None:
    done = subprocess.run([sys.executable, str(FEED), "only-a-file"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    done = subprocess.run(
        [sys.executable, str(FEED), "/nonexistent/inputs", "--", "true"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "cannot open" in done.stderr

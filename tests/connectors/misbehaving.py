"""Runs another test connector (`misbehaving.py <script> <command> …`), but fails one command the way the
`MISBEHAVE` variable says, `<command>:<how>`: `exit` (code 3, a line on stderr, no message), `garbage` (a line
that is not JSON), `hang`, `silent` (exit 0 having printed nothing) or `killed` (SIGKILL); or `wait`, which holds
the command until the `COMMAND_LOG` file lists `WAIT_FOR` (at most 60 s, then it exits 3).

With `COMMAND_LOG` set, every command appends `<script> <command>` to that file as it starts."""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
from pathlib import Path

WAIT_S = 60.0


def logged(log: str) -> list[str]:
    try:
        return Path(log).read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_for(line: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while line not in logged(os.environ["COMMAND_LOG"]):
        if time.monotonic() > deadline:
            sys.stderr.write(f"{line!r} never started\n")
            sys.exit(3)
        time.sleep(0.02)


def misbehave(how: str) -> None:
    if how == "exit":
        sys.stderr.write("misbehaving on purpose\n")
        sys.exit(3)
    if how == "garbage":
        sys.stdout.write("this is not json\n")
        sys.exit(0)
    if how == "hang":
        time.sleep(3600)
    if how == "silent":
        sys.exit(0)
    if how == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "wait":
        wait_for(os.environ["WAIT_FOR"])
        return
    raise SystemExit(f"unknown MISBEHAVE kind {how!r}")


def main() -> None:
    script, *argv = sys.argv[1:]
    log = os.environ.get("COMMAND_LOG")
    if log and argv:
        with open(log, "a") as out:
            out.write(f"{script} {argv[0]}\n")
    target, _, how = os.environ.get("MISBEHAVE", "").partition(":")
    if argv and argv[0] == target:
        misbehave(how)
    sys.argv = [script, *argv]
    runpy.run_path(str(Path(__file__).with_name(script)), run_name="__main__")


if __name__ == "__main__":
    main()

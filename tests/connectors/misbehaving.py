"""Runs another test connector (`misbehaving.py <script> <command> …`), but fails one command the way the
`MISBEHAVE` variable says, `<command>:<how>`: `exit` (code 3, a line on stderr, no message), `garbage` (a line
that is not JSON), `hang`, `silent` (exit 0 having printed nothing) or `killed` (SIGKILL)."""

from __future__ import annotations

import os
import runpy
import signal
import sys
import time
from pathlib import Path


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
    raise SystemExit(f"unknown MISBEHAVE kind {how!r}")


def main() -> None:
    script, *argv = sys.argv[1:]
    target, _, how = os.environ.get("MISBEHAVE", "").partition(":")
    if argv and argv[0] == target:
        misbehave(how)
    sys.argv = [script, *argv]
    runpy.run_path(str(Path(__file__).with_name(script)), run_name="__main__")


if __name__ == "__main__":
    main()

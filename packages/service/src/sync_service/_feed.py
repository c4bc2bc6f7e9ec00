"""`sync-service-feed FILE -- COMMAND…`: run a source with FILE (NDJSON `source_input` lines) as its stdin.

How the live lane hands pushed events to a source without the engine knowing about the service: the activity
wraps the source command with this launcher, which replaces itself with the real command (same process, same
process group, so the engine's stop and kill reach the source itself).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    """Point stdin at the file and exec the command; exit 2 with one line on stderr on a usage error."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        sys.stderr.write("usage: sync-service-feed INPUTS_FILE -- COMMAND [ARGS…]\n")
        sys.exit(2)
    path, command = args[0], args[2:]
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        sys.stderr.write(f"sync-service-feed: cannot open the inputs file: {exc.strerror}\n")
        sys.exit(2)
    os.dup2(fd, 0)
    os.close(fd)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"sync-service-feed: cannot start {command[0]!r}: {exc.strerror}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()

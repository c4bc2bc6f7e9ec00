"""A destination that parses every line with orjson and echoes each state (benchmark only; stores nothing).

With `{"echo_only": true}` as its config it parses nothing: it counts record lines and echoes state lines as they
come, so a sync through it measures everything but the destination's load.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

STATE = b'{"type":"source_state"'
RECORD = b'{"type":"record"'


def _config(argv: list[str]) -> dict[str, object]:
    if "--config" not in argv:
        return {}
    value = argv[argv.index("--config") + 1]
    config = orjson.loads(value if value.lstrip().startswith("{") else Path(value).read_bytes())
    return config if isinstance(config, dict) else {}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    out = sys.stdout.buffer
    if command == "spec":
        out.write(b'{"type":"spec","spec":{"config":{"type":"object"}}}\n')
    elif command == "check":
        out.write(b'{"type":"connection_status","connection_status":{"status":"succeeded"}}\n')
    elif command in ("setup", "teardown"):
        pass
    elif command == "write":
        records = 0
        rest = b""
        echo_only = bool(_config(argv).get("echo_only"))
        read = sys.stdin.buffer.read1
        while chunk := read(1 << 18):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if not line:
                    continue
                if echo_only:
                    if line.startswith(RECORD):
                        records += 1
                    elif line.startswith(STATE):
                        out.write(line + b"\n")
                        out.flush()
                    continue
                message = orjson.loads(line)
                if message["type"] == "record":
                    records += 1
                elif message["type"] == "source_state":
                    out.write(line + b"\n")
                    out.flush()
        sys.stderr.write(f"records={records}\n")
    else:
        sys.stderr.write(f"error: unsupported command {command}\n")
        return 2
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A minimal connector in plain Python (no SDK), source and destination, correct unless told which bug to have.

The broken variants beside it each switch on exactly one bug, so the conformance kit must name that bug.
"""

from __future__ import annotations

import io
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

SPEC = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "writeOnly": True},
        "path": {"type": "string"},
        "count": {"type": "integer"},
    },
}
PAGE = 10


class Usage(Exception):
    pass


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _load(value: str) -> Any:
    if value.lstrip().startswith("{"):
        return json.loads(value)
    try:
        with open(value) as f:
            return json.load(f)
    except OSError as exc:
        raise Usage(f"cannot read {value}: {exc.strerror}") from exc


def _args(argv: list[str]) -> tuple[str, dict[str, Any]]:
    if not argv:
        raise Usage("missing command")
    command, rest, found = argv[0], argv[1:], {}
    while rest:
        flag = rest.pop(0)
        if flag not in ("--config", "--catalog", "--state") or not rest:
            raise Usage(f"unknown argument {flag}")
        found[flag[2:]] = _load(rest.pop(0))
    return command, found


def main(bug: str | None = None) -> None:
    """Run the connector with `bug` switched on."""
    out: Any = sys.stdout
    if bug == "lost_output":  # like a Node process.exit(): queued output is written once, without waiting
        out = io.StringIO()
    try:
        command, args = _args(sys.argv[1:])
    except Usage as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    config = args.get("config", {})

    def emit(kind: str, payload: dict[str, Any]) -> None:
        if bug == "wrong_envelope" and kind == "record":
            out.write(json.dumps({"type": kind, **payload}) + "\n")
        else:
            out.write(json.dumps({"type": kind, kind: payload}) + "\n")

    if command == "spec":
        emit("spec", {"config": SPEC})
    elif command == "check":
        key = str(config.get("api_key", ""))
        if bug == "leaks_secret":
            emit("log", {"level": "info", "message": f"connecting with key {key}"})
        ok = "xxxx" not in key
        emit("connection_status", {"status": "succeeded" if ok else "failed"})
    elif command == "discover":
        schema = {"type": "object", "properties": {"id": {"type": "string"}}}
        emit("catalog", {"streams": [{"name": "items", "json_schema": schema, "primary_key": [["id"]]}]})
    elif command == "read":
        start = ((args.get("state") or {}).get("streams", {}).get("items", {}).get("data") or {}).get("next", 0)
        emit("stream_status", {"stream": "items", "status": "started"})
        count = int(config.get("count", 2000 if bug == "lost_output" else 30))
        for i in range(start, count):
            emit("record", {"stream": "items", "data": {"id": f"i{i}", "pad": "x" * 200}, "emitted_at": _now()})
            if (i + 1) % PAGE == 0 or i + 1 == count:
                emit("source_state", {"state_type": "stream", "stream": "items", "data": {"next": i + 1}})
        if bug != "no_terminal":
            emit("stream_status", {"stream": "items", "status": "complete"})
        if bug == "lost_output":
            os.set_blocking(1, False)
            try:
                os.write(1, out.getvalue().encode())  # a full pipe takes only part of it
            except BlockingIOError:
                pass
            os._exit(0)
    elif command == "write":
        _write(config, bug, out)
    elif command not in ("setup", "teardown"):
        sys.stderr.write(f"error: unknown command {command}\n")
        sys.exit(2)
    if bug == "lost_output":
        sys.stdout.write(out.getvalue())
    out.flush()


def _write(config: dict[str, Any], bug: str | None, out: Any) -> None:
    held: list[str] = []
    with open(config["path"], "a") as stored:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
                kind = message["type"]
                if kind == "record" and not isinstance(message["record"], dict):
                    raise ValueError("record is not an object")
            except (ValueError, KeyError, TypeError) as exc:
                out.write(
                    json.dumps(
                        {
                            "type": "error",
                            "error": {
                                "level": "global",
                                "failure_type": "system_error",
                                "message": f"bad input line: {exc}",
                            },
                        }
                    )
                    + "\n"
                )
                out.flush()
                sys.exit(1)
            if kind == "record":
                text = json.dumps({"stream": message["record"]["stream"], "data": message["record"]["data"]})
                if bug == "early_echo":
                    held.append(text)  # written only at the end, after the states were echoed
                else:
                    stored.write(text + "\n")
            elif kind == "source_state":
                stored.flush()
                os.fsync(stored.fileno())
                out.write(line if line.endswith("\n") else line + "\n")
                out.flush()
            elif kind != "stream_status":
                out.write(line if line.endswith("\n") else line + "\n")
                out.flush()
        for text in held:
            stored.write(text + "\n")

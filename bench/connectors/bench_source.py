"""A source that writes Stripe-shaped record lines as fast as the pipe takes them (benchmark only).

Config: {"records": N, "state_every": 1000, "fixtures": path}. Lines are built once per shape and only the id
changes, so the source itself costs little CPU: the benchmark measures what sits between it and the destination.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stripe_shapes import DEFAULT_FIXTURES, SHAPES, load_shapes, make_object


def schema_of(sample: dict[str, object]) -> dict[str, object]:
    """Every top-level field of the sample as a property, so the engine checks each record's field names."""
    return {"type": "object", "properties": {name: {} for name in sample}}


def _arg(argv: list[str], name: str) -> str:
    value = argv[argv.index(name) + 1]
    return value if value.lstrip().startswith("{") else Path(value).read_text()


def main(argv: list[str]) -> int:
    out = sys.stdout.buffer
    command = argv[0]
    if command == "spec":
        out.write(b'{"type":"spec","spec":{"config":{"type":"object"}}}\n')
    elif command == "discover":
        shapes = load_shapes(DEFAULT_FIXTURES)
        streams = [{"name": n, "json_schema": schema_of(shapes[n]), "primary_key": [["id"]]} for n in SHAPES]
        out.write(orjson.dumps({"type": "catalog", "catalog": {"streams": streams}}) + b"\n")
    elif command == "check":
        out.write(b'{"type":"connection_status","connection_status":{"status":"succeeded"}}\n')
    elif command == "read":
        config = orjson.loads(_arg(argv, "--config"))
        shapes = load_shapes(Path(config.get("fixtures", DEFAULT_FIXTURES)))
        total, every = int(config["records"]), int(config.get("state_every", 1000))
        templates = []
        for name in SHAPES:
            line = orjson.dumps(
                {
                    "type": "record",
                    "record": {
                        "stream": name,
                        "data": make_object(shapes[name], 0),
                        "emitted_at": "2026-01-01T00:00:00Z",
                    },
                }
            )
            templates.append(line.split(b'"id":"', 1))
        buffer: list[bytes] = []
        for i in range(total):
            head, tail = templates[i % 3]
            buffer.append(b"".join((head, b'"id":"x', str(i).encode(), tail[tail.index(b'"') :], b"\n")))
            if (i + 1) % every == 0:
                stream = SHAPES[i % 3]
                buffer.append(
                    b'{"type":"source_state","source_state":{"stream":"%s","data":{"n":%d}}}\n'
                    % (stream.encode(), i + 1)
                )
                out.write(b"".join(buffer))
                buffer.clear()
        complete = b'{"type":"stream_status","stream_status":{"stream":"%s","status":"complete"}}\n'
        buffer.extend(complete % name.encode() for name in SHAPES)  # every stream read to its end, or partial
        out.write(b"".join(buffer))
    elif command in ("setup", "teardown"):
        pass
    else:
        sys.stderr.write(f"error: unsupported command {command}\n")
        return 2
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

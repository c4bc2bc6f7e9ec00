"""A source that writes Stripe-shaped record lines (benchmark only).

Config: {"records": N, "state_every": 1000, "fixtures": path}. Lines are built once per shape and only the id
changes, so the source itself costs little CPU: the benchmark measures what sits between it and the destination.
By default it writes as fast as the pipe takes them. With `"pages_per_s": R` it writes like source-stripe at a
budget of R requests/s: through the SDK's `MessageWriter`, one stream's page of `state_every` records at a time
(each the object's JSON bytes), then a `stats` and a `source_state`, pages on a fixed schedule of R per second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from stripe_shapes import DEFAULT_FIXTURES, SHAPES, load_shapes, make_object


def schema_of(sample: dict[str, object]) -> dict[str, object]:
    """Every top-level field of the sample as a property, so the engine checks each record's field names."""
    return {"type": "object", "properties": {name: {} for name in sample}}


def paced(argv: list[str], templates: list[list[bytes]], total: int, page: int, pages_per_s: float) -> int:
    """`read` as an SDK connector: pages of one stream on a fixed schedule (late pages are not made up by bursts)."""
    from pydantic import BaseModel, ConfigDict
    from sync_protocol import SourceState, SourceStateMessage, Stats, StatsMessage, StreamStatus, StreamStatusMessage
    from sync_protocol.sdk import Connector, RawRecord, run

    bodies = [(SHAPES[n], head.split(b'"data":', 1)[1], tail) for n, (head, tail) in enumerate(templates)]

    class Config(BaseModel):
        model_config = ConfigDict(extra="allow")

    class Paced(Connector[Config]):
        config_model = Config

        def read(self, *_: object) -> Iterator[object]:
            due = time.monotonic()
            for first in range(0, total, page):
                due = max(due + 1 / pages_per_s, time.monotonic())
                stream, head, tail = bodies[(first // page) % 3]
                for i in range(first, min(first + page, total)):
                    end = tail.rindex(b',"emitted_at"')
                    data = b"".join((head, b'"id":"x', str(i).encode(), tail[tail.index(b'"') : end]))
                    yield RawRecord.from_json(stream, data, "2026-01-01T00:00:00Z")
                yield StatsMessage(stats=Stats(request_count=1))
                yield SourceStateMessage(source_state=SourceState(stream=stream, data={"n": first + page}))
                time.sleep(max(0.0, due - time.monotonic()))  # the next request's turn, as under a rate budget
            for name in SHAPES:
                yield StreamStatusMessage(stream_status=StreamStatus(stream=name, status="complete"))

    return run(Paced(), argv)


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
        if config.get("pages_per_s"):
            return paced(argv, templates, total, every, float(config["pages_per_s"]))
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

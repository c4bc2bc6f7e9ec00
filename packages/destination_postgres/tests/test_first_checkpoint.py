"""A stream's first checkpoint is committed at once, while the input stays open: the server starts loading the
first page while the rest is read, and a sync echoes its first state early. Later checkpoints wait for a full
batch (or `max_state_delay_s`), as before."""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time
from typing import Any

import orjson
from sync_protocol import encode_message
from sync_protocol.sdk import record, stream_state

from .conftest import ONE_STREAM_CATALOG, write_argv


def test_the_first_checkpoint_is_echoed_before_its_batch_fills(config: dict[str, Any]) -> None:
    settings = config | {"batch_size": 1_000, "max_state_delay_s": 600}  # neither fills nor times out here
    with tempfile.TemporaryDirectory() as tmp:
        argv = write_argv(tmp, settings, ONE_STREAM_CATALOG)
        with subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as process:
            assert process.stdin is not None and process.stdout is not None
            try:
                page = b"".join(encode_message(record("s", {"id": i})) for i in range(10))
                process.stdin.write(page + encode_message(stream_state("s", 10)))
                process.stdin.flush()
                first = _lines_within(process.stdout.fileno(), 60, until=b'"source_state"')
                assert [m["type"] for m in first] == ["stats", "source_state"], first
                assert first[0]["stats"]["inserted_count"] == 10
                assert first[1]["source_state"]["data"] == 10

                page = b"".join(encode_message(record("s", {"id": i})) for i in range(10, 20))
                process.stdin.write(page + encode_message(stream_state("s", 20)))
                process.stdin.flush()
                assert _lines_within(process.stdout.fileno(), 1.0) == [], "the second waits for a full batch"

                process.stdin.close()
                rest = [orjson.loads(line) for line in process.stdout.read().splitlines()]
                assert [m["source_state"]["data"] for m in rest if m["type"] == "source_state"] == [20]
                assert process.wait(60) == 0
            finally:
                process.kill()


def _lines_within(fd: int, seconds: float, until: bytes | None = None) -> list[dict[str, Any]]:
    """The messages the writer printed within `seconds` (stopping early at a line containing `until`)."""
    deadline = time.monotonic() + seconds
    buffer = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buffer += chunk
        if until is not None and until in buffer and buffer.endswith(b"\n"):
            break
    return [orjson.loads(line) for line in buffer.splitlines()]

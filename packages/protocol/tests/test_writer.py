"""The SDK's writer: a source's page leaves in one write, nothing waits longer than the linger, a destination's echo
leaves at once, failures reach the caller."""

from __future__ import annotations

import io
import os
import select
import threading
import time

import pytest
from sync_protocol import SourceState, SourceStateMessage, Stats, StatsMessage
from sync_protocol.sdk import MessageWriter, RawRecord
from sync_protocol.sdk._writer import FLUSH_BYTES

STATE = SourceStateMessage(source_state=SourceState(stream="charges", data={"page": 1}))


class Writes(io.BytesIO):
    """A stream that remembers each write separately."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[bytes] = []
        self.lock = threading.Lock()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        with self.lock:
            self.calls.append(bytes(data))
        return len(data)


def _page(writer: MessageWriter, records: int = 100) -> None:
    for i in range(records):
        writer.write(RawRecord.from_json("charges", b'{"id":"ch_%d","amount":100}' % i, "2024-01-01T00:00:00Z"))
    writer.write(StatsMessage(stats=Stats(request_count=1)))
    writer.write(STATE)


def _wait_for(condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_page_with_its_stats_and_state_leaves_in_one_write_without_a_flush() -> None:
    out = Writes()
    writer = MessageWriter(out, linger_s=1.0)  # long enough that a busy machine cannot split the page
    _page(writer)
    _wait_for(lambda: out.calls)
    time.sleep(0.05)
    assert len(out.calls) == 1
    lines = out.calls[0].splitlines()
    assert len(lines) == 102
    assert lines[-1].startswith(b'{"type":"source_state"')


def test_a_state_reaches_the_pipe_while_the_connector_blocks() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb") as stream, os.fdopen(read_end, "rb", buffering=0) as reader:
        writer = MessageWriter(stream, linger_s=0.05)
        writer.write(STATE)
        ready, _, _ = select.select([reader], [], [], 30.0)  # the writing thread waits here, as on the network
        assert ready
        assert reader.read(1 << 16).startswith(b'{"type":"source_state"')


def test_without_a_linger_each_line_leaves_at_once() -> None:
    out = Writes()
    writer = MessageWriter(out)  # what every command but `read` gets: an echo confirms a commit
    writer.write(STATE)
    writer.write(STATE)
    assert len(out.calls) == 2


def test_a_full_buffer_is_written_at_once() -> None:
    out = Writes()
    writer = MessageWriter(out, linger_s=3600.0)
    line = RawRecord.from_json("charges", b'{"blob":"%s"}' % (b"x" * 4000), "2024-01-01T00:00:00Z").line()
    for _ in range(FLUSH_BYTES // len(line) + 1):
        writer.write_line(line)
    assert len(out.calls) == 1
    assert len(out.calls[0]) >= FLUSH_BYTES


def test_a_failed_write_on_the_flusher_thread_is_raised_by_the_next_call() -> None:
    class Gone(Writes):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            super().write(data)
            raise BrokenPipeError

    out = Gone()
    writer = MessageWriter(out, linger_s=0.01)
    writer.write(STATE)
    _wait_for(lambda: out.calls)
    with pytest.raises(BrokenPipeError):
        writer.write(STATE)
    with pytest.raises(BrokenPipeError):
        writer.flush()

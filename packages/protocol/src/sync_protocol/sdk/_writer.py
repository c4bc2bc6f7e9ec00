"""The one way a connector writes to stdout: encoded, free text redacted, buffered, thread-safe."""

from __future__ import annotations

import threading
from typing import IO

import orjson

from .._messages import Message, RecordMessage
from .._ndjson import encode_message
from ._raw import RawRecord
from ._redact import Redactor

FLUSH_BYTES = 64 * 1024


def encode_record_fast(message: RecordMessage) -> bytes:
    """Encode a record with orjson directly: same wire form as `encode_message`, about 3x faster."""
    record = message.record
    payload: dict[str, object] = {
        "stream": record.stream,
        "data": record.data,
        "emitted_at": record.emitted_at,
    }
    if record.deleted:
        payload["deleted"] = True
    return orjson.dumps({"type": "record", "record": payload}, option=orjson.OPT_UTC_Z) + b"\n"


class MessageWriter:
    """Buffers lines and flushes at 64 KiB and after every non-record message, so checkpoints leave at once."""

    def __init__(self, stream: IO[bytes], redactor: Redactor | None = None) -> None:
        self._stream = stream
        self._redactor = redactor or Redactor()
        self._buffer = bytearray()
        self._lock = threading.Lock()

    def write(self, message: Message | RawRecord) -> None:
        """Encode and queue one message; non-record messages flush immediately."""
        if isinstance(message, RawRecord):
            self.write_line(message.line(), flush=False)
        elif isinstance(message, RecordMessage):
            self.write_line(encode_record_fast(message), flush=False)
        else:
            self.write_line(encode_message(self._redactor.message(message)))

    def write_line(self, line: bytes, *, flush: bool = True) -> None:
        """Queue one already-encoded line (newline included), e.g. a message passed through unchanged."""
        with self._lock:
            self._buffer += line
            if flush or len(self._buffer) >= FLUSH_BYTES:
                self._flush_locked()

    def flush(self) -> None:
        """Write out everything queued."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._buffer:
            self._stream.write(self._buffer)
            self._buffer.clear()
        self._stream.flush()

"""Python logging as `log` messages on stdout, installed only while a command runs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from .._messages import Log, LogLevel, LogMessage
from ._writer import MessageWriter

_LEVELS = {logging.DEBUG: LogLevel.DEBUG, logging.INFO: LogLevel.INFO, logging.WARNING: LogLevel.WARN}


class MessageLogHandler(logging.Handler):
    """Turns each log record into a `log` message (redaction happens in the writer)."""

    def __init__(self, writer: MessageWriter, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text = f"{text}\n{logging.Formatter().formatException(record.exc_info)}"
            level = _LEVELS.get(record.levelno, LogLevel.ERROR if record.levelno > logging.WARNING else LogLevel.DEBUG)
            self._writer.write(LogMessage(log=Log(level=level, message=text, data={"logger": record.name})))
        except Exception:  # a broken log line must not break the connector
            self.handleError(record)


@contextmanager
def logs_as_messages(writer: MessageWriter, level: int = logging.INFO) -> Iterator[None]:
    """Route the root logger to `writer` for the duration of the block, then restore it."""
    root = logging.getLogger()
    handler = MessageLogHandler(writer, level)
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, previous_level) if previous_level else level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)

"""Pushed events for one sync: written to a private temp file and fed to the source by `sync-service-feed`."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync_engine import ConnectorSettings
from sync_protocol import SourceInput, SourceInputMessage, encode_message

FEED = Path(__file__).with_name("_feed.py")
"""Run by path, not `-m`: the launcher then imports only `os` and `sys`, not this package (about 3 s cheaper)."""


@contextmanager
def fed_source(settings: ConnectorSettings, inputs: list[dict[str, Any]]) -> Iterator[ConnectorSettings]:
    """`settings` with its command wrapped to read `inputs` on stdin; the file (mode 0600) is removed after."""
    if not inputs:
        yield settings
        return
    fd, path = tempfile.mkstemp(prefix="sync-service-inputs-", suffix=".ndjson")
    try:
        with os.fdopen(fd, "wb") as out:
            for event in inputs:
                out.write(encode_message(SourceInputMessage(source_input=SourceInput(data=event))))
        command = shlex.split(settings.command) if isinstance(settings.command, str) else list(settings.command)
        wrapped = [sys.executable, str(FEED), path, "--", *command]
        yield settings.model_copy(update={"command": wrapped})
    finally:
        os.unlink(path)

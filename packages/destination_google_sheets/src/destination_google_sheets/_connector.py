"""`GoogleSheetsDestination`: check, setup, teardown and write, wired onto the SDK."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

from pydantic import BaseModel
from sync_protocol import (
    ConfigError,
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusValue,
    Control,
    ControlMessage,
    ControlType,
    Log,
    LogLevel,
    LogMessage,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamStatusMessage,
    StreamStatusValue,
)
from sync_protocol.sdk import Connector, Inbox

from . import _tabs
from ._cells import CHAR_LIMIT
from ._client import SheetsClient
from ._config import SheetsConfig
from ._tabs import tab_title
from ._writer import WriteSession

_IDLE_S = 0.2
"""How often the write loop wakes up while the input is quiet (to write batches whose checkpoint waited)."""


def _log(level: LogLevel, text: str) -> LogMessage:
    return LogMessage(log=Log(level=level, message=text))


class GoogleSheetsDestination(Connector[SheetsConfig]):
    """One tab per stream, upserts by primary key located by key cells, overwrite through a scratch tab."""

    config_model: ClassVar[type[BaseModel]] = SheetsConfig
    capabilities: ClassVar[dict[str, object]] = {"max_cell_chars": CHAR_LIMIT}

    def check(self, config: SheetsConfig) -> ConnectionStatus:
        """Get a token; read the spreadsheet when one is configured."""
        client = SheetsClient(config)
        if config.spreadsheet_id is None:
            client.refresh_token()
            return ConnectionStatus(
                status=ConnectionStatusValue.SUCCEEDED,
                message=f"{client.principal} can sign in; setup will create a spreadsheet",
            )
        book = _tabs.Book(client.get())
        return ConnectionStatus(
            status=ConnectionStatusValue.SUCCEEDED,
            message=f"{client.principal} can open spreadsheet {book.title!r} ({len(book.tabs)} tabs)",
        )

    def setup(self, config: SheetsConfig, catalog: ConfiguredCatalog) -> Iterable[Message]:
        """Create the spreadsheet if none is configured (and report it), then a tab with a header per stream."""
        client = SheetsClient(config)
        if config.spreadsheet_id is None:
            created = client.create({"properties": {"title": config.spreadsheet_title}})
            client.spreadsheet_id = spreadsheet_id = created["spreadsheetId"]
            yield ControlMessage(
                control=Control(
                    control_type=ControlType.DESTINATION_CONFIG, config=config.with_spreadsheet(spreadsheet_id)
                )
            )
            yield _log(LogLevel.INFO, f"created spreadsheet {spreadsheet_id} ({created.get('spreadsheetUrl', '')})")
        session = WriteSession(client, catalog)
        yield from session.drain()
        _tabs.ensure_tabs(client, session.columns)
        for stream in session.columns:
            yield _log(LogLevel.INFO, f"stream {stream!r} → tab {tab_title(stream)!r}")

    def teardown(self, config: SheetsConfig) -> Iterable[Message]:
        """Remove the tabs this connector created (never a tab a person made)."""
        if config.spreadsheet_id is None:
            yield _log(LogLevel.INFO, "no spreadsheet configured: nothing to remove")
            return
        removed = _tabs.teardown(SheetsClient(config))
        yield _log(LogLevel.INFO, f"removed tabs: {', '.join(removed) if removed else 'none'}")

    def write(self, config: SheetsConfig, catalog: ConfiguredCatalog, messages: Iterator[Message]) -> Iterable[Message]:
        """Write records in batches; echo each state once the rows before it are written; pass the rest on."""
        if config.spreadsheet_id is None:
            raise ConfigError("no spreadsheet_id: run setup first (it creates one and reports it)")
        client = SheetsClient(config)
        session = WriteSession(client, catalog)
        session.open(_tabs.ensure_tabs(client, session.columns))
        yield from session.drain()
        inbox = Inbox(messages)
        while True:
            try:
                message = inbox.get(_IDLE_S)
            except StopIteration:
                break
            if isinstance(message, RecordMessage):
                session.record(message.record)
            elif isinstance(message, SourceStateMessage):
                session.state(message)
            elif isinstance(message, StreamStatusMessage):
                if message.stream_status.status == StreamStatusValue.COMPLETE:
                    session.complete(message.stream_status.stream)
                yield from session.drain()
                yield message
            elif message is not None:
                yield message
            session.tick()
            yield from session.drain()
        session.close()
        yield from session.drain()

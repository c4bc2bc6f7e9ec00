"""The write session: per-stream batches, upserts located by key, overwrite through a scratch tab, truthful echoes.

One thread does every request: all streams share one spreadsheet and one per-minute budget, and Google asks for
at most about one request per second per spreadsheet, so parallel requests would buy nothing but 429s.

A stream's records collect in a batch (`_batch.py` writes it) until it is full or a checkpoint waited long
enough; the batch's states are echoed once it is written. A `stream` error fails that stream only: it is reported,
and nothing more of it is written or echoed in the run.

`overwrite` fills a scratch tab and swaps it in (delete the live tab, rename the scratch one: one atomic
`batchUpdate`) only when the source reports the stream `complete`; until then its states are held. At the end of
the input an unfinished overwrite is abandoned: its scratch tab is removed, the live tab is untouched and its
states are never echoed. A global state is echoed once every stream wrote what came before it and no overwrite
is still open.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from sync_protocol import (
    ConfiguredCatalog,
    Message,
    Record,
    SourceStateMessage,
    StreamError,
    error_message,
)

from ._batch import BatchWriter, StreamSink
from ._cells import RowEncoder, row_digest
from ._client import SheetsClient
from ._plan import Change
from ._tabs import (
    Book,
    add_tab_requests,
    header_cells,
    retry_ambiguous,
    scratch_title,
    tab_title,
)

log = logging.getLogger("destination_google_sheets")

_BATCH_SHARE = 0.9
"""A batch is written once its rows reach this share of `max_request_bytes`, so it fits in one request."""
_TICK_S = 0.05
"""How often `tick` looks for checkpoints that waited long enough."""


class WriteSession:
    """Routes messages to stream sinks, writes batches, and queues what goes out (`drain`)."""

    def __init__(self, client: SheetsClient, catalog: ConfiguredCatalog) -> None:
        self._client = client
        self._config = client.config
        self._batches = BatchWriter(client)
        self._book: Book | None = None
        self._sinks: dict[str, StreamSink] = {}
        self._unknown: set[str] = set()
        self._globals: list[SourceStateMessage] = []
        self._out: deque[Message] = deque()
        self._next_tick = 0.0
        for stream in catalog.streams:
            try:
                encoder = RowEncoder(stream, escape_formulas=self._config.escape_formulas)
            except StreamError as exc:
                self._out.append(error_message(exc, stream=stream.name))
                continue
            title = tab_title(stream.name)
            self._sinks[stream.name] = StreamSink(stream, encoder, title, title)

    def open(self, book: Book) -> None:
        """Start writing into `book` (the spreadsheet after `ensure_tabs`)."""
        self._book = book

    @property
    def columns(self) -> dict[str, list[str]]:
        """Each stream's columns, for `ensure_tabs`."""
        return {name: sink.encoder.columns for name, sink in self._sinks.items()}

    def drain(self) -> Iterator[Message]:
        """The messages ready to go out: echoed states, stream errors."""
        while self._out:
            yield self._out.popleft()

    # ---- messages in ------------------------------------------------------------------------------------------

    def record(self, record: Record) -> None:
        """Add a record to its stream's batch; write the batch when it is full."""
        sink = self._sinks.get(record.stream)
        if sink is None:
            self._unknown_stream(record.stream)
            return
        if sink.failed:
            return
        sink.open = sink.overwrite
        key, cells = sink.encoder.encode(record.data)
        if record.deleted:
            if not sink.encoder.key_fields:
                if not sink.tombstones_ignored:
                    log.warning("stream %r has no primary key: its deletions cannot be applied", sink.name)
                    sink.tombstones_ignored = True
                return
            change = Change(key, None)
        else:
            size = len(orjson.dumps(cells))
            if sink.rows and sink.bytes + size > self._config.max_request_bytes * _BATCH_SHARE:
                self.flush(sink)
                if sink.failed:
                    return
            change = Change(key, cells, row_digest(cells))
            sink.bytes += size
        if sink.dedup:
            sink.upserts.pop(key, None)  # the latest change of a key goes last
            sink.upserts[key] = change
        else:
            sink.appends.append(change)
        sink.rows += 1
        if sink.rows >= self._config.batch_rows:
            self.flush(sink)

    def state(self, message: SourceStateMessage) -> None:
        """A checkpoint: it goes out once the rows before it are written (a global one: of every stream)."""
        stream = message.source_state.stream
        if stream is None:
            for each in self._sinks.values():
                self.flush(each)
            self._globals.append(message)
            self._release_globals()
            return
        sink = self._sinks.get(stream)
        if sink is None:
            self._unknown_stream(stream)
            return
        if sink.failed:
            return
        sink.states.append(message)
        if sink.rows == 0:
            self.flush(sink)
        elif sink.oldest_state is None:
            sink.oldest_state = time.monotonic()

    def complete(self, stream: str) -> None:
        """The source finished the stream: write what is left, and swap an overwrite in."""
        sink = self._sinks.get(stream)
        if sink is None or sink.failed:
            return
        self.flush(sink)
        if sink.open and not sink.failed:  # an overwrite with nothing at all in this run keeps its tab
            self._guard(sink, self._swap)

    def tick(self) -> None:
        """Write the batches whose oldest checkpoint waited `max_state_delay_s` (looks at most every 50 ms)."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + _TICK_S
        for sink in self._sinks.values():
            if sink.oldest_state is not None and now - sink.oldest_state >= self._config.max_state_delay_s:
                self.flush(sink)

    def close(self) -> None:
        """End of input: write the rest; abandon open overwrites (their states and later globals never go out)."""
        abandoned = False
        for sink in self._sinks.values():
            if sink.open or sink.scratch_id is not None:
                abandoned |= sink.open and not sink.failed
                self._abandon(sink)
            elif not sink.failed:
                self.flush(sink)
        if abandoned:
            if self._globals:
                log.warning("%d global state(s) not echoed: an overwrite did not complete", len(self._globals))
            self._globals.clear()
        self._release_globals()
        for sink in self._sinks.values():
            if sink.encoder.truncated:
                log.warning(
                    "stream %r: %d value(s) were longer than Sheets' 50,000 characters per cell and were cut",
                    sink.name,
                    sink.encoder.truncated,
                )
        counts = self._client.counts
        log.info(
            "Sheets requests: %s",
            ", ".join(f"{method} {count}" for method, count in sorted(counts.items())) or "none",
        )

    # ---- batches -----------------------------------------------------------------------------------------------

    def flush(self, sink: StreamSink) -> None:
        """Write the stream's batch, then echo (or, in an open overwrite, hold) its states."""
        if sink.failed:
            return
        if sink.rows and not self._guard(sink, self._write):
            return
        states, sink.states = sink.states, []
        sink.upserts, sink.appends = {}, []
        sink.rows = sink.bytes = 0
        sink.oldest_state = None
        if sink.open:
            sink.held.extend(states)
        else:
            self._out.extend(states)

    def _guard(self, sink: StreamSink, step: Callable[[StreamSink], None]) -> bool:
        """Run `step(sink)`; a `stream` error fails only this stream (reported, nothing more of it written)."""
        try:
            step(sink)
            return True
        except StreamError as exc:
            self._fail(sink, exc)
            return False

    def _fail(self, sink: StreamSink, exc: StreamError) -> None:
        sink.failed, sink.open = True, False
        sink.upserts, sink.appends, sink.states, sink.held = {}, [], [], []
        sink.rows = sink.bytes = 0
        sink.oldest_state = None
        self._out.append(error_message(exc, stream=sink.name))

    def _unknown_stream(self, stream: str) -> None:
        if stream not in self._unknown:
            self._unknown.add(stream)
            error = StreamError(f"stream {stream!r} is not in the configured catalog", stream=stream)
            self._out.append(error_message(error, stream=stream))

    def _release_globals(self) -> None:
        if self._globals and not any(s.open for s in self._sinks.values()):
            self._out.extend(self._globals)
            self._globals = []

    def _write(self, sink: StreamSink) -> None:
        if sink.overwrite and sink.scratch_id is None:
            self._open_scratch(sink)
        book = self._book
        assert book is not None
        retry_ambiguous(self._client, lambda attempt: self._batches.write_once(sink, book))

    def _refresh_book(self) -> Book:
        """The spreadsheet's tabs read anew (after a write that may or may not have been applied)."""
        assert self._book is not None
        self._book.tabs = Book(self._client.get()).tabs
        return self._book

    def _open_scratch(self, sink: StreamSink) -> None:
        """A fresh scratch tab with the header (a leftover of an earlier, unfinished run is replaced)."""
        title = scratch_title(sink.name)

        def step(attempt: int) -> int:
            book = self._refresh_book() if attempt else self._book
            assert book is not None
            leftover = book.find(title)
            requests: list[dict[str, Any]] = []
            if leftover is not None:
                requests.append({"deleteSheet": {"sheetId": leftover.sheet_id}})
            sheet_id, add = add_tab_requests(title, sink.name, len(sink.encoder.columns))
            replies = self._client.batch_update([*requests, *add], stream=sink.name).get("replies") or []
            book.remove(title)
            book.add(*(r["addSheet"]["properties"] for r in replies if "addSheet" in r))
            return sheet_id

        sheet_id = retry_ambiguous(self._client, step)
        names = list(enumerate(sink.encoder.columns))
        self._client.values_batch_update(header_cells(title, names), stream=sink.name)
        sink.scratch_id, sink.target, sink.digests = sheet_id, title, {}
        sink.key_columns = list(range(len(sink.encoder.key_fields)))

    def _swap(self, sink: StreamSink) -> None:
        """Replace the live tab by the scratch tab in one atomic batchUpdate; then echo the held states."""
        if sink.scratch_id is None:
            self._open_scratch(sink)  # every record of the stream was a tombstone
        assert sink.scratch_id is not None
        scratch_id = sink.scratch_id

        def step(attempt: int) -> None:
            book = self._refresh_book() if attempt else self._book
            assert book is not None
            live = book.find(sink.title)
            if live is not None and live.sheet_id == scratch_id:
                return  # an earlier attempt went through
            if book.find(sink.target) is None:
                raise StreamError(f"the scratch tab of stream {sink.name!r} disappeared", stream=sink.name)
            props: dict[str, Any] = {"sheetId": scratch_id, "title": sink.title}
            requests: list[dict[str, Any]] = []
            if live is not None:
                requests.append({"deleteSheet": {"sheetId": live.sheet_id}})
                props["index"] = live.index
            fields = "title,index" if live is not None else "title"
            requests.append({"updateSheetProperties": {"properties": props, "fields": fields}})
            self._client.batch_update(requests, stream=sink.name)
            book.remove(sink.title)
            book.rename(sink.target, sink.title)

        retry_ambiguous(self._client, step)
        sink.scratch_id, sink.target, sink.open = None, sink.title, False
        self._out.extend(sink.held)
        sink.held = []
        self._release_globals()

    def _abandon(self, sink: StreamSink) -> None:
        """Drop an unfinished overwrite: remove its scratch tab; its states are never echoed."""
        if not sink.failed:
            log.warning("stream %r did not complete: its overwrite was abandoned and its tab left as it was", sink.name)
        book = self._book
        assert book is not None
        scratch = book.find(sink.target)
        sink.scratch_id, sink.target, sink.held, sink.states, sink.open = None, sink.title, [], [], False
        sink.upserts, sink.appends, sink.rows = {}, [], 0
        if scratch is None:
            return
        try:
            self._client.batch_update([{"deleteSheet": {"sheetId": scratch.sheet_id}}])
            book.remove(scratch.title)
        except Exception as exc:  # the next run replaces a leftover scratch tab anyway
            log.warning("could not remove the scratch tab %r: %s", scratch.title, exc)

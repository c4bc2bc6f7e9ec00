"""The write session: per-stream batches, upserts located by key, overwrite through a scratch tab, truthful echoes.

One thread does every request: all streams share one spreadsheet and one per-minute budget, and Google asks for
at most about one request per second per spreadsheet, so parallel requests would buy nothing but 429s.

A batch of a stream is written as: read the header and the key column(s) (the whole tab on the stream's first
batch of the run) → plan by key → update changed rows in place (one `values.batchUpdate`) → delete rows
(`deleteDimension`, highest first, one `batchUpdate`) → append new rows (`values.append`, INSERT_ROWS) → echo
the batch's states. Requests are cut at `max_request_bytes`. A write that may or may not have been applied makes
the batch start again from the read, so nothing is written twice. Before any write of a batch, its new cells are
checked against the 10M-cell limit: a batch that would pass it is a `stream` error, nothing of it is written.

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
from dataclasses import dataclass, field
from typing import Any

import orjson
from sync_protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    DestinationSyncMode,
    Message,
    Record,
    SourceStateMessage,
    StreamError,
    error_message,
)

from ._cells import Cell, Key, RowEncoder, column_letters, quote_title, row_digest
from ._client import SheetsClient
from ._plan import Change, Plan, plan_appends, plan_upserts, positions
from ._tabs import (
    Book,
    Tab,
    add_tab_requests,
    header_cells,
    header_range,
    place_columns,
    retry_ambiguous,
    scratch_title,
    tab_title,
)

log = logging.getLogger("destination_google_sheets")

CELL_LIMIT = 10_000_000
_ENVELOPE_BYTES = 1024
"""Room in a request for what surrounds the values (ranges, option names)."""
_BATCH_SHARE = 0.9
"""A batch is written once its rows reach this share of `max_request_bytes`, so it fits in one request."""
_TICK_S = 0.05
"""How often `tick` looks for checkpoints that waited long enough."""


@dataclass
class StreamSink:
    """One stream's batch, checkpoints and what this run knows of its tab."""

    config: ConfiguredStream
    encoder: RowEncoder
    title: str
    """The live tab."""
    target: str
    """The tab being written: the live one, or the scratch tab of an open overwrite."""
    upserts: dict[Key, Change] = field(default_factory=dict)
    appends: list[Change] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    states: list[SourceStateMessage] = field(default_factory=list)
    oldest_state: float | None = None
    held: list[SourceStateMessage] = field(default_factory=list)
    """Overwrite: states of rows written to the scratch tab, echoed after the swap."""
    digests: dict[Key, int] | None = None
    """Key → digest of the row in the target tab; None until the tab is read in this run."""
    key_columns: list[int] = field(default_factory=list)
    """Where the key columns were at the last read (a person may move them)."""
    scratch_id: int | None = None
    open: bool = False
    """Overwrite: a new copy of the stream is being written (since a record of this run)."""
    failed: bool = False
    tombstones_ignored: bool = False

    @property
    def name(self) -> str:
        """The stream's name."""
        return self.config.name

    @property
    def dedup(self) -> bool:
        """Whether records upsert by key (append_dedup, or overwrite with a key)."""
        return bool(self.encoder.key_fields) and self.config.destination_sync_mode != DestinationSyncMode.APPEND

    @property
    def overwrite(self) -> bool:
        """Whether the stream replaces its tab."""
        return self.config.destination_sync_mode == DestinationSyncMode.OVERWRITE


class WriteSession:
    """Routes messages to stream sinks, writes batches, and queues what goes out (`drain`)."""

    def __init__(self, client: SheetsClient, catalog: ConfiguredCatalog) -> None:
        self._client = client
        self._config = client.config
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
        retry_ambiguous(self._client, lambda attempt: self._write_once(sink))

    def _write_once(self, sink: StreamSink) -> None:
        """One attempt at the batch, from a fresh read (an attempt after an ambiguous failure re-plans from it)."""
        book = self._book
        assert book is not None
        tab = book.find(sink.target)
        if tab is None:
            raise StreamError(f"the tab {sink.target!r} of stream {sink.name!r} is gone", stream=sink.name)
        header, keys = self._read(sink, tab)
        where_columns, added = place_columns(header, sink.encoder.columns)
        where = positions(keys, 1)
        plan = (
            plan_upserts(where, sink.digests or {}, sink.upserts) if sink.dedup else plan_appends(where, sink.appends)
        )
        width = max(where_columns, default=0) + 1
        grow = max(0, width - tab.column_count)
        new_cells = grow * tab.row_count + len(plan.appends) * (tab.column_count + grow)
        if new_cells and book.cells + new_cells > CELL_LIMIT:
            raise StreamError(
                f"stream {sink.name!r}: {len(plan.appends):,} new rows ({new_cells:,} cells) would pass the "
                f"spreadsheet's limit of {CELL_LIMIT:,} cells ({book.cells:,} in use); nothing of this batch was "
                "written",
                stream=sink.name,
            )
        if grow:
            self._client.batch_update(
                [{"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": grow}}],
                stream=sink.name,
            )
            tab.column_count += grow
        self._update(sink, tab, plan, where_columns, header_cells(tab.title, added))
        self._delete(sink, tab, plan)
        self._append(sink, tab, plan, where_columns)
        assert sink.digests is not None
        for key, digest in plan.digests.items():
            if digest is None:
                sink.digests.pop(key, None)
            else:
                sink.digests[key] = digest

    def _read(self, sink: StreamSink, tab: Tab) -> tuple[list[Any], list[Key | None]]:
        """The header and the key of every data row (the whole tab, with digests, the first time in a run)."""
        title = quote_title(tab.title)
        if sink.digests is None:
            rows = self._client.values_get(title, stream=sink.name)
            header = rows[0] if rows else []
            _check_key_header(sink, header, len(rows) > 1)
            where, _ = place_columns(header, sink.encoder.columns)
            width = len(sink.encoder.key_fields)
            sink.key_columns = where[:width]
            sink.digests = {}
            keys: list[Key | None] = []
            for row in rows[1:]:
                cells = [row[p] if p < len(row) else "" for p in where]
                key = _key(cells[:width])
                keys.append(key)
                if key is not None and key not in sink.digests:
                    sink.digests[key] = row_digest(cells)
            return header, keys
        need_keys = sink.dedup or any(c.cells is None for c in sink.appends)
        header, key_rows = self._header_and_keys(sink, tab, sink.key_columns if need_keys else [])
        if need_keys:
            _check_key_header(sink, header, bool(key_rows))
            where, _ = place_columns(header, sink.encoder.key_fields)
            if where != sink.key_columns:  # a person moved the key column(s): read them where they are now
                sink.key_columns = where
                header, key_rows = self._header_and_keys(sink, tab, where)
        first = min(sink.key_columns, default=0)
        cut = [p - first for p in sink.key_columns]
        return header, [_key([row[p] if p < len(row) else "" for p in cut]) for row in key_rows]

    def _header_and_keys(self, sink: StreamSink, tab: Tab, where: list[int]) -> tuple[list[Any], list[list[Any]]]:
        if not where:
            (header_rows,) = self._client.values_batch_get([header_range(tab.title)], stream=sink.name)
            return (header_rows[0] if header_rows else []), []
        span = f"{quote_title(tab.title)}!{column_letters(min(where))}2:{column_letters(max(where))}"
        header_rows, key_rows = self._client.values_batch_get([header_range(tab.title), span], stream=sink.name)
        return (header_rows[0] if header_rows else []), key_rows

    def _update(self, sink: StreamSink, tab: Tab, plan: Plan, where: list[int], header: list[dict[str, Any]]) -> None:
        if not plan.updates and not header:
            return
        title = quote_title(tab.title)
        data = list(header)
        run: list[list[Any]] = []
        start = -2
        for row, cells in sorted(plan.updates, key=lambda u: u[0]):
            if run and row == start + len(run):
                run.append(_place(cells, where))
                continue
            if run:
                data.append({"range": f"{title}!A{start + 1}", "values": run})
            start, run = row, [_place(cells, where)]
        if run:
            data.append({"range": f"{title}!A{start + 1}", "values": run})
        for chunk in _chunks(data, self._config.max_request_bytes, lambda d: _size(d["values"])):
            self._client.values_batch_update(chunk, stream=sink.name)

    def _delete(self, sink: StreamSink, tab: Tab, plan: Plan) -> None:
        if not plan.deletes:
            return
        requests: list[dict[str, Any]] = []
        if tab.row_count - len(plan.deletes) <= tab.frozen_rows:
            # Sheets refuses to delete every non-frozen row: keep one blank row at the bottom
            requests.append({"appendDimension": {"sheetId": tab.sheet_id, "dimension": "ROWS", "length": 1}})
            tab.row_count += 1
        for row in plan.deletes:
            span = {"sheetId": tab.sheet_id, "dimension": "ROWS", "startIndex": row, "endIndex": row + 1}
            requests.append({"deleteDimension": {"range": span}})
        self._client.batch_update(requests, stream=sink.name)
        tab.row_count -= len(plan.deletes)

    def _append(self, sink: StreamSink, tab: Tab, plan: Plan, where: list[int]) -> None:
        if not plan.appends:
            return
        rows = [_place(cells, where) for cells in plan.appends]
        for chunk in _chunks(rows, self._config.max_request_bytes, _size):
            self._client.values_append(f"{quote_title(tab.title)}!A1", chunk, stream=sink.name)
            tab.row_count += len(chunk)

    # ---- overwrite ----------------------------------------------------------------------------------------------

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


def _check_key_header(sink: StreamSink, header: list[Any], has_rows: bool) -> None:
    """Rows are found by their key cells: a tab with rows but without a key column cannot be upserted into."""
    missing = [name for name in sink.encoder.key_fields if name not in header]
    if missing and has_rows:
        raise StreamError(
            f"the tab {sink.target!r} of stream {sink.name!r} has rows but no header cell "
            f"{', '.join(map(repr, missing))}: its rows cannot be matched by key (restore the header cell)",
            stream=sink.name,
        )


def _key(cells: list[Any]) -> Key | None:
    return None if all(c == "" for c in cells) else tuple(cells)


def _place(cells: list[Cell], where: list[int]) -> list[Any]:
    """The cells at their sheet columns; a column not ours stays untouched (JSON null skips a cell)."""
    if where == list(range(len(where))):
        return list(cells)
    row: list[Any] = [None] * (max(where) + 1)
    for value, column in zip(cells, where, strict=False):
        row[column] = value
    return row


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _chunks(items: list[Any], limit: int, size: Callable[[Any], int]) -> Iterator[list[Any]]:
    """`items` in runs whose request stays under `limit` bytes (an item larger than that goes alone)."""
    limit -= _ENVELOPE_BYTES
    chunk: list[Any] = []
    total = 0
    for item in items:
        n = size(item) + 1
        if chunk and total + n > limit:
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += n
    if chunk:
        yield chunk

"""One batch of one stream written to its tab: read the keys, plan, update, delete, append.

A batch is written as: read the header and the key column(s) (the whole tab, with a digest of every row, on the
stream's first batch of the run) → plan by key → update changed rows in place (`values.batchUpdate`) → delete rows
(`deleteDimension`, highest first, one `batchUpdate`) → append new rows (`values.append`, INSERT_ROWS). Requests
are cut at `max_request_bytes`. Before any write, the batch's new cells are checked against the 10M-cell limit of
a spreadsheet: a batch that would pass it is a `stream` error and nothing of it is written. A write that may or
may not have been applied raises `AmbiguousWriteError`; the caller runs `write_once` again, which re-reads and
re-plans, so nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sync_protocol import ConfiguredStream, DestinationSyncMode, SourceStateMessage, StreamError

from ._cells import Cell, Key, RowEncoder, column_letters, quote_title, row_digest
from ._client import SheetsClient
from ._plan import Change, Plan, plan_appends, plan_upserts, positions
from ._tabs import Book, Tab, header_cells, header_range, place_columns

CELL_LIMIT = 10_000_000
_ENVELOPE_BYTES = 1024
"""Room in a request for what surrounds the values (ranges, option names)."""


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


class BatchWriter:
    """Writes the batches of every stream through one client."""

    def __init__(self, client: SheetsClient) -> None:
        self._client = client
        self._config = client.config

    def write_once(self, sink: StreamSink, book: Book) -> None:
        """One attempt at the batch, from a fresh read (an attempt after an ambiguous failure re-plans from it)."""
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

"""The spreadsheet's tabs: one per stream with a frozen header row; creating, finding, widening, removing them.

Tabs are found by title (the stream's name). Every tab this connector creates carries developer metadata
`sync-toolkit:stream` = the stream's name, so `teardown` removes exactly those and never a tab a person made.
Header cells are matched by name on every batch, so a person may move, insert or delete columns: a column of ours
whose header is missing is added after the last header cell.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._cells import column_letters, quote_title
from ._client import SheetsClient
from ._errors import AmbiguousWriteError

MARKER_KEY = "sync-toolkit:stream"
MAX_TITLE = 100
SCRATCH_SUFFIX = "__sync_tmp"

T = TypeVar("T")


@dataclass
class Tab:
    """One sheet of the spreadsheet as last seen."""

    title: str
    sheet_id: int
    index: int
    row_count: int
    column_count: int
    frozen_rows: int
    ours: bool
    """Created by this connector (carries the marker)."""

    @property
    def cells(self) -> int:
        """Cells of its grid, filled or not."""
        return self.row_count * self.column_count


class Book:
    """The spreadsheet's tabs by title (case-insensitive, like Sheets)."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.title = str((resource.get("properties") or {}).get("title", ""))
        self.tabs: dict[str, Tab] = {}
        for sheet in resource.get("sheets") or []:
            ours = any(m.get("metadataKey") == MARKER_KEY for m in sheet.get("developerMetadata") or [])
            self._put(sheet.get("properties") or {}, ours)

    def add(self, *properties: dict[str, Any]) -> None:
        """Record tabs this connector just added (from `addSheet` replies)."""
        for props in properties:
            self._put(props, True)

    def _put(self, props: dict[str, Any], ours: bool) -> None:
        grid = props.get("gridProperties") or {}
        tab = Tab(
            str(props.get("title", "")),
            int(props.get("sheetId", 0)),
            int(props.get("index", 0)),
            int(grid.get("rowCount", 0)),
            int(grid.get("columnCount", 0)),
            int(grid.get("frozenRowCount", 0)),
            ours,
        )
        self.tabs[tab.title.casefold()] = tab

    def remove(self, title: str) -> None:
        """Forget a tab that was deleted."""
        self.tabs.pop(title.casefold(), None)

    def rename(self, old: str, new: str) -> None:
        """Follow a tab renamed by this connector."""
        tab = self.tabs.pop(old.casefold())
        tab.title = new
        self.tabs[new.casefold()] = tab

    def find(self, title: str) -> Tab | None:
        """The tab with this title."""
        return self.tabs.get(title.casefold())

    @property
    def cells(self) -> int:
        """Cells of every grid: what counts against the 10M-cell limit."""
        return sum(t.cells for t in self.tabs.values())


def tab_title(stream: str) -> str:
    """The tab of a stream: its name, cut to Sheets' title length."""
    return stream[:MAX_TITLE]


def scratch_title(stream: str) -> str:
    """The tab an `overwrite` of the stream fills before it is swapped in."""
    return stream[: MAX_TITLE - len(SCRATCH_SUFFIX)] + SCRATCH_SUFFIX


def header_range(title: str) -> str:
    """The header row of a tab."""
    return f"{quote_title(title)}!1:1"


def add_tab_requests(title: str, stream: str, width: int) -> tuple[int, list[dict[str, Any]]]:
    """(new sheet id, the requests that add a marked tab of one frozen header row `width` columns wide)."""
    sheet_id = random.randrange(1, 2**31 - 1)
    grid = {"rowCount": 1, "columnCount": max(1, width), "frozenRowCount": 1}
    return sheet_id, [
        {"addSheet": {"properties": {"sheetId": sheet_id, "title": title, "gridProperties": grid}}},
        {
            "createDeveloperMetadata": {
                "developerMetadata": {
                    "metadataKey": MARKER_KEY,
                    "metadataValue": stream,
                    "location": {"sheetId": sheet_id},
                    "visibility": "DOCUMENT",
                }
            }
        },
    ]


def place_columns(header: list[Any], columns: list[str]) -> tuple[list[int], list[tuple[int, str]]]:
    """Where each of `columns` is in the sheet (by header name), and the header cells to add for the missing."""
    found: dict[str, int] = {}
    for i, name in enumerate(header):
        if isinstance(name, str) and name and name not in found:
            found[name] = i
    next_free = len(header)
    where: list[int] = []
    added: list[tuple[int, str]] = []
    for name in columns:
        if name in found:
            where.append(found[name])
        else:
            where.append(next_free)
            added.append((next_free, name))
            next_free += 1
    return where, added


def header_cells(title: str, added: list[tuple[int, str]]) -> list[dict[str, Any]]:
    """`values.batchUpdate` data writing the added header names (each run of adjacent cells as one range)."""
    runs: list[tuple[int, list[str]]] = []
    for position, name in added:
        if runs and runs[-1][0] + len(runs[-1][1]) == position:
            runs[-1][1].append(name)
        else:
            runs.append((position, [name]))
    return [{"range": f"{quote_title(title)}!{column_letters(start)}1", "values": [names]} for start, names in runs]


def retry_ambiguous(client: SheetsClient, step: Callable[[int], T]) -> T:
    """Run `step(attempt)` again after a write that may or may not have been applied; it re-reads what it needs."""
    attempt = 0
    while True:
        try:
            return step(attempt)
        except AmbiguousWriteError:
            if attempt >= client.config.max_retries:
                raise
            client.backoff(attempt)
            attempt += 1


def ensure_tabs(client: SheetsClient, columns: dict[str, list[str]]) -> Book:
    """Every stream has its tab, and every tab a header naming the stream's columns; returns the book after."""

    def step(attempt: int) -> Book:
        book = Book(client.get())
        requests: list[dict[str, Any]] = []
        for stream, names in columns.items():
            if book.find(tab_title(stream)) is None:
                requests.extend(add_tab_requests(tab_title(stream), stream, len(names))[1])
        if requests:
            replies = client.batch_update(requests).get("replies") or []
            book.add(*(r["addSheet"]["properties"] for r in replies if "addSheet" in r))
        titles = [tab_title(s) for s in columns]
        headers = client.values_batch_get([header_range(t) for t in titles]) if titles else []
        widen: list[dict[str, Any]] = []
        data: list[dict[str, Any]] = []
        for title, names, rows in zip(titles, columns.values(), headers, strict=True):
            where, added = place_columns(rows[0] if rows else [], names)
            tab = book.find(title)
            assert tab is not None
            if added and max(where) + 1 > tab.column_count:
                grow = max(where) + 1 - tab.column_count
                widen.append({"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": grow}})
                tab.column_count += grow
            data.extend(header_cells(title, added))
        if widen:
            client.batch_update(widen)
        if data:
            client.values_batch_update(data)
        return book

    return retry_ambiguous(client, step)


def teardown(client: SheetsClient) -> list[str]:
    """Remove every tab this connector created (a blank `Sheet1` stays if nothing else would); their titles."""

    def step(attempt: int) -> list[str]:
        book = Book(client.get())
        ours = [t for t in book.tabs.values() if t.ours]
        if not ours:
            return []
        requests: list[dict[str, Any]] = []
        if len(ours) == len(book.tabs):
            title = "Sheet1"
            while book.find(title) is not None:
                title += "_"
            requests.append({"addSheet": {"properties": {"title": title}}})
        requests.extend({"deleteSheet": {"sheetId": t.sheet_id}} for t in ours)
        client.batch_update(requests)
        return [t.title for t in ours]

    return retry_ambiguous(client, step)

"""Records as rows of cells, and cells as values to compare: pure functions, no I/O.

A stream's columns are its primary-key fields, then the schema's other properties in schema order, then any field
that shows up in data without being declared. A cell is written RAW, so Sheets never evaluates it:
- None → "" (an empty cell); booleans and numbers as themselves; an integer beyond 2^53 as text (Sheets keeps
  doubles and would round it); NaN and infinities as text;
- objects and arrays → compact JSON text;
- a `date-time` string → ISO 8601 in UTC (`2024-01-01T12:00:00Z`); an integer Unix time (the stream's integer
  cursor field, or `format: unix-time`) → the same form;
- text starting with = + - @ (or a tab or CR) gets a leading `'` when `escape_formulas` is on, so a CSV export
  opened elsewhere does not run it either;
- text longer than 50,000 characters (Sheets' cell limit) is cut, ending with a visible marker, and counted.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from sync_protocol import ConfiguredStream, StreamError

CHAR_LIMIT = 50_000
TRUNCATED_MARKER = "…[truncated by sync]"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGERS = frozenset(FORMULA_TRIGGERS)
_MAX_EXACT_INT = 2**53

Cell = str | int | float | bool
Key = tuple[Any, ...]


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def quote_title(title: str) -> str:
    """A sheet title for A1 notation: always quoted, quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


def row_digest(cells: list[Any]) -> int:
    """A digest of a row's cells in column order, trailing empty cells left out.

    Cells are compared as written and as `values.get` (unformatted) returns them: text as text, booleans, and
    numbers as Sheets' doubles print (an integral number without a fraction, which is why the encoder writes 5.0
    as 5).
    """
    end = len(cells)
    while end and cells[end - 1] == "":
        end -= 1
    return hash(orjson.dumps(cells[:end] if end < len(cells) else cells))


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else set()


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


class RowEncoder:
    """The columns of one stream and how each record becomes a row of them."""

    def __init__(self, stream: ConfiguredStream, *, escape_formulas: bool = True) -> None:
        self.stream = stream.name
        for path in stream.primary_key:
            if len(path) != 1:
                raise StreamError(
                    f"stream {stream.name!r}: primary key {'.'.join(path)!r} is nested; only top-level fields can"
                    " be key columns",
                    stream=stream.name,
                )
        self.key_fields = [path[0] for path in stream.primary_key]
        properties = stream.json_schema.get("properties")
        declared = list(properties) if isinstance(properties, dict) else []
        self.columns: list[str] = [*self.key_fields, *(p for p in declared if p not in self.key_fields)]
        self._index = {name: i for i, name in enumerate(self.columns)}
        self._escape = escape_formulas
        self._dates: set[str] = set()
        self._unix: set[str] = set()
        for name, schema in (properties or {}).items():
            if not isinstance(schema, dict):
                continue
            types = _types(schema)
            if "string" in types and schema.get("format") == "date-time":
                self._dates.add(name)
            elif "integer" in types and (
                schema.get("format") in ("unix-time", "unix-timestamp") or [name] == stream.cursor_field
            ):
                self._unix.add(name)
        self.truncated = 0
        """Values cut at the cell limit so far."""

    def encode(self, data: dict[str, Any]) -> tuple[Key, list[Cell]]:
        """The record's key (as compared with key cells read back) and its cells in column order.

        A field not seen before becomes a new last column.
        """
        index = self._index
        for name in data:
            if name not in index:
                index[name] = len(self.columns)
                self.columns.append(name)
        cells: list[Cell] = [""] * len(self.columns)
        cell = self._cell
        for name, value in data.items():
            cells[index[name]] = cell(name, value)
        return tuple(cells[: len(self.key_fields)]), cells

    def _cell(self, name: str, value: Any) -> Cell:
        kind = type(value)
        if kind is str:
            if name in self._dates:
                try:
                    value = _iso(datetime.fromisoformat(value))
                except ValueError:
                    pass
            return self._text(value)
        if value is None:
            return ""
        if kind is bool:
            return bool(value)
        if kind is int:
            if name in self._unix and -62135596800 <= value <= 253402300799:
                return self._text(_iso(datetime.fromtimestamp(value, UTC)))
            return int(value) if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT else str(value)
        if kind is float:
            if not math.isfinite(value):
                return str(value)
            return int(value) if value.is_integer() and abs(value) <= _MAX_EXACT_INT else float(value)
        return self._text(orjson.dumps(value).decode())

    def _text(self, text: str) -> str:
        if self._escape and text and text[0] in _TRIGGERS:
            text = "'" + text
        if len(text) > CHAR_LIMIT:
            self.truncated += 1
            text = text[: CHAR_LIMIT - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER
        return text

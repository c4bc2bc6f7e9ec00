"""A1 notation as the Sheets API reads and writes it: `'My tab'!A2:C`, `Sheet1!1:1`, `A1:B2`, `Sheet1`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ENDPOINT = re.compile(r"^([A-Za-z]{0,3})([0-9]*)$")
_PLAIN_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class A1Error(ValueError):
    """Text that is not a range of this spreadsheet; the API answers `Unable to parse range: <text>`."""


@dataclass(frozen=True)
class CellRange:
    """A parsed range: 0-based, end-exclusive; None means open (to the edge of the grid)."""

    title: str | None
    """The sheet's title; None when the text named no sheet (the first sheet)."""
    row0: int | None
    row1: int | None
    col0: int | None
    col1: int | None
    anchor: bool = False
    """A single cell (`A1`): a write starting there may spill over to the right and down."""


def column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """A → 0, Z → 25, AA → 26."""
    value = 0
    for char in letters.upper():
        value = value * 26 + ord(char) - 64
    return value - 1


def quote_title(title: str) -> str:
    """A sheet title as it appears in A1 text: quoted (quotes doubled) unless it is a plain word."""
    if _PLAIN_TITLE.match(title) and not _ENDPOINT.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_title(text: str) -> tuple[str | None, str]:
    """(`title` or None, the cell part) of an A1 text."""
    if text.startswith("'"):
        i = 1
        title = []
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(text[i])
            i += 1
        else:
            raise A1Error(text)
        rest = text[i + 1 :]
        if rest == "":
            return "".join(title), ""
        if not rest.startswith("!"):
            raise A1Error(text)
        return "".join(title), rest[1:]
    if "!" in text:
        name, _, cells = text.partition("!")
        return name, cells
    return None, text


def parse(text: str, titles: set[str]) -> CellRange:
    """Parse `text`; a bare word that is a sheet's title means that whole sheet."""
    title, cells = split_title(text)
    if title is None and text in titles:
        return CellRange(text, None, None, None, None)
    if cells == "":
        if title is None:
            raise A1Error(text)
        return CellRange(title, None, None, None, None)
    start, sep, end = cells.partition(":")
    first = _ENDPOINT.match(start)
    last = _ENDPOINT.match(end) if sep else first
    if first is None or last is None or (start == "" or (sep and end == "")):
        raise A1Error(text)
    c0, r0 = first.groups()
    c1, r1 = last.groups()
    if (not c0 and not r0) or (not c1 and not r1):
        raise A1Error(text)
    if not sep and (not c0 or not r0):
        raise A1Error(text)  # a single cell needs both a column and a row
    row0 = int(r0) - 1 if r0 else 0
    col0 = column_index(c0) if c0 else 0
    row1 = int(r1) if r1 else None
    col1 = column_index(c1) + 1 if c1 else None
    if (r0 and int(r0) < 1) or (r1 and int(r1) < 1):
        raise A1Error(text)
    if row1 is not None and row1 <= row0:
        row0, row1 = row1 - 1, row0 + 1  # the API accepts corners in either order
    if col1 is not None and col1 <= col0:
        col0, col1 = col1 - 1, col0 + 1
    return CellRange(title, row0, row1, col0, col1, anchor=not sep)


def render(title: str, row0: int, row1: int, col0: int, col1: int) -> str:
    """`'title'!A1:C3` for the 0-based end-exclusive box (a single cell renders as `A1`)."""
    top_left = f"{column_letters(col0)}{row0 + 1}"
    bottom_right = f"{column_letters(col1 - 1)}{row1}"
    cells = top_left if (row1 - row0, col1 - col0) == (1, 1) else f"{top_left}:{bottom_right}"
    return f"{quote_title(title)}!{cells}"

"""The state of the fake Sheets API: spreadsheets, their sheets' grids and cells, and the values operations.

Semantics kept from the real API: a grid has a row and column count apart from its data (cells count against the
10M-cell limit whether filled or not); a cell holds at most 50,000 characters; numbers are doubles (an integer
beyond 2^53 loses precision); `RAW` input is stored as given, `USER_ENTERED` input is parsed (`=…` becomes a
formula, `'…` text, numbers and booleans their type); a JSON `null` in written values skips the cell and `""`
clears it; reads trim trailing empty rows and cells. Of formulas only arithmetic on numbers is evaluated (`=1+2`
reads as 3); any other formula reads as `#NAME?`.
"""

from __future__ import annotations

import ast
import random
import string
from dataclasses import dataclass, field
from typing import Any

from . import _a1

CELL_LIMIT = 10_000_000
CHAR_LIMIT = 50_000
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
CELL_LIMIT_MESSAGE = (
    f"This action would increase the number of cells in the workbook above the limit of {CELL_LIMIT} cells."
)
CHAR_LIMIT_MESSAGE = f"Your input contains more than the maximum of {CHAR_LIMIT} characters in a single cell."


class ApiError(Exception):
    """An error response: `{"error": {"code", "message", "status"}}` as Google APIs send it."""

    def __init__(self, code: int, message: str, status: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    @property
    def body(self) -> dict[str, Any]:
        """The JSON body of the response."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def invalid(message: str) -> ApiError:
    """A 400 INVALID_ARGUMENT."""
    return ApiError(400, message, "INVALID_ARGUMENT")


@dataclass(frozen=True)
class Formula:
    """A cell that holds a formula (entered with USER_ENTERED and a leading `=`)."""

    text: str


Cell = str | int | float | bool | Formula


def _random_id(length: int = 44) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits + "-_", k=length))


@dataclass
class Sheet:
    """One tab: its properties, its grid size and its cells (`rows[r][c]`, None = empty, ragged)."""

    sheet_id: int
    title: str
    row_count: int = DEFAULT_ROWS
    column_count: int = DEFAULT_COLUMNS
    frozen_rows: int = 0
    frozen_columns: int = 0
    hidden: bool = False
    rows: list[list[Cell | None]] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)

    def clone(self) -> Sheet:
        """A copy whose row list can be restructured; rows themselves are shared (never mutated in place)."""
        return Sheet(
            self.sheet_id,
            self.title,
            self.row_count,
            self.column_count,
            self.frozen_rows,
            self.frozen_columns,
            self.hidden,
            list(self.rows),
            [dict(m) for m in self.metadata],
        )

    @property
    def cells(self) -> int:
        """Cells of the grid, filled or not."""
        return self.row_count * self.column_count

    def cell(self, r: int, c: int) -> Cell | None:
        """The value at row r, column c (0-based), or None."""
        if r >= len(self.rows):
            return None
        row = self.rows[r]
        return row[c] if c < len(row) else None

    def last_filled_row(self, row0: int, col0: int, col1: int) -> int:
        """One past the last row at or below `row0` with a value in columns [col0, col1); `row0` if none."""
        for r in range(len(self.rows) - 1, row0 - 1, -1):
            if any(v is not None for v in self.rows[r][col0:col1]):
                return r + 1
        return row0

    def put(self, r: int, c: int, value: Cell | None) -> None:
        """Set one cell (copying the row first: rows may be shared with a snapshot)."""
        while len(self.rows) <= r:
            self.rows.append([])
        row = list(self.rows[r])
        if value is None and c >= len(row):
            return
        while len(row) <= c:
            row.append(None)
        row[c] = value
        while row and row[-1] is None:
            row.pop()
        self.rows[r] = row

    def properties(self, index: int) -> dict[str, Any]:
        """The sheet's `properties` object (zero values omitted, as proto3 JSON does)."""
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.column_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_columns:
            grid["frozenColumnCount"] = self.frozen_columns
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True
        return props


@dataclass
class Spreadsheet:
    """A spreadsheet: title, ordered sheets, spreadsheet-level developer metadata."""

    spreadsheet_id: str
    title: str
    sheets: list[Sheet]
    metadata: list[dict[str, Any]] = field(default_factory=list)
    next_metadata_id: int = 1

    @classmethod
    def create(cls, body: dict[str, Any]) -> Spreadsheet:
        """A new spreadsheet from a `spreadsheets.create` body (one `Sheet1` when it names no sheets)."""
        title = (body.get("properties") or {}).get("title") or "Untitled spreadsheet"
        spreadsheet = cls(_random_id(), title, [])
        specs = body.get("sheets") or [{"properties": {"title": "Sheet1", "sheetId": 0}}]
        for spec in specs:
            spreadsheet.sheets.append(spreadsheet.new_sheet(spec.get("properties") or {}))
        return spreadsheet

    def clone(self) -> Spreadsheet:
        """A snapshot to apply a batch of requests to; swapped in only if every request succeeds."""
        return Spreadsheet(
            self.spreadsheet_id,
            self.title,
            [s.clone() for s in self.sheets],
            [dict(m) for m in self.metadata],
            self.next_metadata_id,
        )

    @property
    def cells(self) -> int:
        """Cells of every grid, filled or not (the 10M limit counts these)."""
        return sum(s.cells for s in self.sheets)

    def check_cells(self, added: int) -> None:
        """Raise the real API's error if `added` more cells would pass the limit."""
        if added > 0 and self.cells + added > CELL_LIMIT:
            raise invalid(CELL_LIMIT_MESSAGE)

    def new_sheet(self, props: dict[str, Any]) -> Sheet:
        """A sheet built from `properties` (not yet inserted); checks the title and the cell limit."""
        title = props.get("title")
        if title is None:
            n = len(self.sheets) + 1
            while self.find_title(f"Sheet{n}") is not None:
                n += 1
            title = f"Sheet{n}"
        if self.find_title(title) is not None:
            raise invalid(f'A sheet with the name "{title}" already exists. Please enter another name.')
        grid = props.get("gridProperties") or {}
        sheet_id = props.get("sheetId")
        if sheet_id is None:
            sheet_id = random.randrange(1, 2**31 - 1)
        elif self.by_id(sheet_id) is not None:
            raise invalid(f"Invalid sheetId: a sheet with id {sheet_id} already exists.")
        sheet = Sheet(
            sheet_id,
            title,
            row_count=grid.get("rowCount", DEFAULT_ROWS),
            column_count=grid.get("columnCount", DEFAULT_COLUMNS),
            frozen_rows=grid.get("frozenRowCount", 0),
            frozen_columns=grid.get("frozenColumnCount", 0),
            hidden=bool(props.get("hidden", False)),
        )
        if sheet.row_count < 1 or sheet.column_count < 1:
            raise invalid("Invalid grid size: a sheet needs at least one row and one column.")
        self.check_cells(sheet.cells)
        return sheet

    def find_title(self, title: str) -> Sheet | None:
        """The sheet with this title (titles are unique regardless of case)."""
        folded = title.casefold()
        return next((s for s in self.sheets if s.title.casefold() == folded), None)

    def by_id(self, sheet_id: int) -> Sheet | None:
        """The sheet with this id."""
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def resolve(self, text: str) -> tuple[Sheet, _a1.CellRange]:
        """The sheet and box an A1 text names; 400 `Unable to parse range` otherwise."""
        try:
            parsed = _a1.parse(text, {s.title for s in self.sheets})
        except _a1.A1Error:
            raise invalid(f"Unable to parse range: {text}") from None
        sheet = self.sheets[0] if parsed.title is None else self.find_title(parsed.title)
        if sheet is None:
            raise invalid(f"Unable to parse range: {text}")
        return sheet, parsed

    def resource(self) -> dict[str, Any]:
        """The `Spreadsheet` JSON resource (no grid data)."""
        sheets = []
        for index, sheet in enumerate(self.sheets):
            entry: dict[str, Any] = {"properties": sheet.properties(index)}
            if sheet.metadata:
                entry["developerMetadata"] = [dict(m) for m in sheet.metadata]
            sheets.append(entry)
        out: dict[str, Any] = {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {"title": self.title, "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT"},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }
        if self.metadata:
            out["developerMetadata"] = [dict(m) for m in self.metadata]
        return out


# ---- values ---------------------------------------------------------------------------------------------------


def parse_input(value: Any, option: str) -> Cell | None:
    """One written value as the cell it becomes; None leaves the cell as it is, "" clears it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else float(value)  # Sheets keeps doubles
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) <= 2**53 else value
    if not isinstance(value, str):
        raise invalid(f"Invalid value at 'data.values' ({type(value).__name__}): cells hold strings, numbers, bools")
    if len(value) > CHAR_LIMIT:
        raise invalid(CHAR_LIMIT_MESSAGE)
    if option == "RAW" or value == "":
        return value
    if value.startswith("="):
        return Formula(value)
    if value.startswith("'"):
        return value[1:]
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return value
    return int(number) if number.is_integer() and abs(number) <= 2**53 else number


_OPERATORS: dict[type[ast.AST], Any] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _arithmetic(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _arithmetic(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_arithmetic(node.left), _arithmetic(node.right)))
    raise ValueError("not arithmetic")


def evaluate(formula: Formula) -> Cell:
    """The value of a formula: arithmetic on numbers is computed, anything else is `#NAME?`."""
    try:
        value = _arithmetic(ast.parse(formula.text[1:], mode="eval").body)
    except SyntaxError:
        return "#ERROR!"
    except ValueError:
        return "#NAME?"
    except ZeroDivisionError:
        return "#DIV/0!"
    return int(value) if value.is_integer() else value


def render_value(value: Cell | None, option: str) -> Any:
    """A cell as `values.get` returns it under `valueRenderOption`."""
    if value is None:
        return ""
    if isinstance(value, Formula):
        if option == "FORMULA":
            return value.text
        value = evaluate(value)
    if option == "FORMATTED_VALUE":
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, float):
            return repr(value)
        return str(value)
    return value


def _box(sheet: Sheet, parsed: _a1.CellRange) -> tuple[int, int, int, int]:
    return (
        parsed.row0 or 0,
        sheet.row_count if parsed.row1 is None else parsed.row1,
        parsed.col0 or 0,
        sheet.column_count if parsed.col1 is None else parsed.col1,
    )


def get_values(ss: Spreadsheet, text: str, render: str = "FORMATTED_VALUE", major: str = "ROWS") -> dict[str, Any]:
    """`values.get`: the box clamped to open edges; explicit bounds past the grid are an error."""
    if major != "ROWS":
        raise invalid("This fake answers majorDimension=ROWS only.")
    sheet, parsed = ss.resolve(text)
    row0, row1, col0, col1 = _box(sheet, parsed)
    if row1 > sheet.row_count or col1 > sheet.column_count:
        raise invalid(
            f"Range ({_a1.quote_title(sheet.title)}!{text.rpartition('!')[2]}) exceeds grid limits. "
            f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}"
        )
    out: dict[str, Any] = {"range": _a1.render(sheet.title, row0, row1, col0, col1), "majorDimension": "ROWS"}
    values: list[list[Any]] = []
    for r in range(row0, min(row1, len(sheet.rows))):
        cells = sheet.rows[r][col0:col1]
        while cells and cells[-1] is None:
            cells = cells[:-1]
        values.append([render_value(v, render) for v in cells])
    while values and not values[-1]:
        values.pop()
    if values:
        out["values"] = values
    return out


@dataclass
class _Write:
    sheet: Sheet
    row0: int
    col0: int
    cells: list[list[Cell | None]]
    rendered: str


def _plan_write(ss: Spreadsheet, text: str, values: list[list[Any]], option: str) -> _Write:
    """Validate one range write without changing anything."""
    if option not in ("RAW", "USER_ENTERED"):
        raise invalid(f"Invalid valueInputOption: {option!r}")
    sheet, parsed = ss.resolve(text)
    row0, col0 = parsed.row0 or 0, parsed.col0 or 0
    width = max((len(r) for r in values), default=0)
    if parsed.row1 is not None and not parsed.anchor and row0 + len(values) > parsed.row1:
        raise invalid(f"Requested writing within range [{text}], but tried writing to row [{row0 + len(values)}]")
    if parsed.col1 is not None and not parsed.anchor and col0 + width > parsed.col1:
        column = _a1.column_letters(col0 + width - 1)
        raise invalid(f"Requested writing within range [{text}], but tried writing to column [{column}]")
    cells = [[parse_input(v, option) for v in row] for row in values]
    rows_needed = max(0, row0 + len(values) - sheet.row_count)
    cols_needed = max(0, col0 + width - sheet.column_count)
    added = rows_needed * sheet.column_count + cols_needed * (sheet.row_count + rows_needed)
    ss.check_cells(added)
    rendered = _a1.render(sheet.title, row0, row0 + max(len(values), 1), col0, col0 + max(width, 1))
    return _Write(sheet, row0, col0, cells, rendered)


def _apply_write(write: _Write) -> dict[str, Any]:
    sheet = write.sheet
    width = max((len(r) for r in write.cells), default=0)
    sheet.row_count = max(sheet.row_count, write.row0 + len(write.cells))
    sheet.column_count = max(sheet.column_count, write.col0 + width)
    for i, row in enumerate(write.cells):
        for j, value in enumerate(row):
            if value is not None:
                sheet.put(write.row0 + i, write.col0 + j, None if value == "" else value)
    cells = sum(1 for row in write.cells for v in row if v is not None)
    return {
        "updatedRange": write.rendered,
        "updatedRows": sum(1 for row in write.cells if any(v is not None for v in row)),
        "updatedColumns": width,
        "updatedCells": cells,
    }


def update_values(ss: Spreadsheet, text: str, values: list[list[Any]], option: str) -> dict[str, Any]:
    """`values.update`: write one range (the grid grows if the data reaches past it)."""
    return {"spreadsheetId": ss.spreadsheet_id, **_apply_write(_plan_write(ss, text, values, option))}


def batch_update_values(ss: Spreadsheet, data: list[dict[str, Any]], option: str) -> dict[str, Any]:
    """`values.batchUpdate`: every range is validated before any is written (all or nothing)."""
    plans = [_plan_write(ss, item.get("range", ""), item.get("values") or [], option) for item in data]
    responses = [{"spreadsheetId": ss.spreadsheet_id, **_apply_write(plan)} for plan in plans]
    return {
        "spreadsheetId": ss.spreadsheet_id,
        "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
        "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
        "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
        "totalUpdatedSheets": len({id(p.sheet) for p in plans}),
        "responses": responses,
    }


def append_values(
    ss: Spreadsheet, text: str, values: list[list[Any]], option: str, insert: str = "OVERWRITE"
) -> dict[str, Any]:
    """`values.append`: after the last row with data in the range's columns; INSERT_ROWS inserts grid rows."""
    if insert not in ("OVERWRITE", "INSERT_ROWS"):
        raise invalid(f"Invalid insertDataOption: {insert!r}")
    if option not in ("RAW", "USER_ENTERED"):
        raise invalid(f"Invalid valueInputOption: {option!r}")
    sheet, parsed = ss.resolve(text)
    row0, _, col0, col1 = _box(sheet, parsed)
    if parsed.anchor:  # a single cell: the table around it may be as wide as the sheet
        col1 = sheet.column_count
    end = sheet.last_filled_row(row0, col0, col1)
    cells = [[parse_input(v, option) for v in row] for row in values]
    width = max((len(r) for r in cells), default=0)
    inserted = len(cells) if insert == "INSERT_ROWS" else max(0, end + len(cells) - sheet.row_count)
    cols_needed = max(0, col0 + width - sheet.column_count)
    ss.check_cells(inserted * sheet.column_count + cols_needed * (sheet.row_count + inserted))
    if insert == "INSERT_ROWS" and end < len(sheet.rows):
        sheet.rows[end:end] = [[] for _ in cells]
    sheet.row_count += inserted
    rendered = _a1.render(sheet.title, end, end + max(len(cells), 1), col0, col0 + max(width, 1))
    out: dict[str, Any] = {"spreadsheetId": ss.spreadsheet_id, "updates": {"spreadsheetId": ss.spreadsheet_id}}
    out["updates"].update(_apply_write(_Write(sheet, end, col0, cells, rendered)))
    if end > row0:
        filled = max(min(len(r), col1) for r in sheet.rows[row0:end])
        out["tableRange"] = _a1.render(sheet.title, row0, end, col0, max(filled, col0 + 1))
    return out


def clear_values(ss: Spreadsheet, text: str) -> dict[str, Any]:
    """`values.clear`: empty the box (the grid keeps its size)."""
    sheet, parsed = ss.resolve(text)
    row0, row1, col0, col1 = _box(sheet, parsed)
    for r in range(row0, min(row1, len(sheet.rows))):
        row = list(sheet.rows[r])
        for c in range(col0, min(col1, len(row))):
            row[c] = None
        while row and row[-1] is None:
            row.pop()
        sheet.rows[r] = row
    return {"spreadsheetId": ss.spreadsheet_id, "clearedRange": _a1.render(sheet.title, row0, row1, col0, col1)}

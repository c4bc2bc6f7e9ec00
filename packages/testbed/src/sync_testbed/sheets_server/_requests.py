"""`spreadsheets.batchUpdate`: the structural requests, applied to a snapshot so a batch is all or nothing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ._model import ApiError, Cell, Formula, Sheet, Spreadsheet, invalid


class _RequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


Handler = Callable[[Spreadsheet, dict[str, Any]], dict[str, Any] | None]


def batch_update(ss: Spreadsheet, requests: list[dict[str, Any]]) -> tuple[Spreadsheet, list[dict[str, Any]]]:
    """Apply `requests` in order to a copy of `ss`; the copy and the replies, or 400 naming the failed request."""
    draft = ss.clone()
    replies: list[dict[str, Any]] = []
    for i, request in enumerate(requests):
        if len(request) != 1:
            raise invalid(f"Invalid requests[{i}]: exactly one kind of request is allowed per entry.")
        ((kind, body),) = request.items()
        handler = HANDLERS.get(kind)
        if handler is None:
            unknown = f"Unknown name {kind!r} at 'requests[{i}]': Cannot find field."
            raise invalid(f"Invalid JSON payload received. {unknown}")
        try:
            reply = handler(draft, body or {})
        except (_RequestError, ApiError) as exc:
            raise invalid(f"Invalid requests[{i}].{kind}: {exc.message}") from None
        replies.append({kind: reply} if reply is not None else {})
    return draft, replies


def _sheet(ss: Spreadsheet, sheet_id: Any) -> Sheet:
    sheet = ss.by_id(int(sheet_id or 0))
    if sheet is None:
        raise _RequestError(f"No grid with id: {sheet_id}")
    return sheet


def _add_sheet(ss: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    sheet = ss.new_sheet(props)
    index = props.get("index")
    ss.sheets.insert(len(ss.sheets) if index is None else min(int(index), len(ss.sheets)), sheet)
    return {"properties": sheet.properties(ss.sheets.index(sheet))}


def _delete_sheet(ss: Spreadsheet, body: dict[str, Any]) -> None:
    sheet = _sheet(ss, body.get("sheetId"))
    if len(ss.sheets) == 1:
        raise _RequestError("You can't remove all the sheets in a document.")
    ss.sheets.remove(sheet)


def _fields(mask: str) -> set[str]:
    return {f.strip() for f in mask.split(",") if f.strip()}


def _update_sheet_properties(ss: Spreadsheet, body: dict[str, Any]) -> None:
    props = body.get("properties") or {}
    sheet = _sheet(ss, props.get("sheetId"))
    fields = _fields(body.get("fields") or "")
    if not fields:
        raise _RequestError("At least one field must be updated, but 'fields' is empty.")
    grid = props.get("gridProperties") or {}
    every = "*" in fields
    if every or "title" in fields:
        title = props.get("title") or ""
        other = ss.find_title(title)
        if not title or (other is not None and other is not sheet):
            raise _RequestError(f'A sheet with the name "{title}" already exists. Please enter another name.')
        sheet.title = title
    if every or "hidden" in fields:
        sheet.hidden = bool(props.get("hidden", False))
    if every or "gridProperties.frozenRowCount" in fields or "gridProperties" in fields:
        sheet.frozen_rows = int(grid.get("frozenRowCount", 0))
    if every or "gridProperties.frozenColumnCount" in fields or "gridProperties" in fields:
        sheet.frozen_columns = int(grid.get("frozenColumnCount", 0))
    for name, attr in (("rowCount", "row_count"), ("columnCount", "column_count")):
        if every or f"gridProperties.{name}" in fields or "gridProperties" in fields:
            new = int(grid.get(name, getattr(sheet, attr)))
            grow = new - getattr(sheet, attr)
            other_side = sheet.column_count if attr == "row_count" else sheet.row_count
            ss.check_cells(grow * other_side)
            setattr(sheet, attr, new)
            if attr == "row_count":
                del sheet.rows[new:]
            else:
                sheet.rows = [row[:new] for row in sheet.rows]
    if every or "index" in fields:
        ss.sheets.remove(sheet)
        ss.sheets.insert(min(int(props.get("index", 0)), len(ss.sheets)), sheet)


def _span(ss: Spreadsheet, rng: dict[str, Any]) -> tuple[Sheet, str, int, int]:
    sheet = _sheet(ss, rng.get("sheetId"))
    dimension = rng.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise _RequestError("range.dimension must be ROWS or COLUMNS.")
    size = sheet.row_count if dimension == "ROWS" else sheet.column_count
    start = int(rng.get("startIndex", 0))
    end = int(rng.get("endIndex", size))
    if start < 0 or end <= start:
        raise _RequestError(f"Invalid dimension range: [{start}, {end}).")
    return sheet, dimension, start, end


def _insert_dimension(ss: Spreadsheet, body: dict[str, Any]) -> None:
    sheet, dimension, start, end = _span(ss, body.get("range") or {})
    n = end - start
    if dimension == "ROWS":
        if start > sheet.row_count:
            raise _RequestError(f"Cannot insert rows starting at {start}: the sheet has {sheet.row_count} rows.")
        ss.check_cells(n * sheet.column_count)
        if start < len(sheet.rows):
            sheet.rows[start:start] = [[] for _ in range(n)]
        sheet.row_count += n
    else:
        if start > sheet.column_count:
            raise _RequestError(f"Cannot insert columns at {start}: the sheet has {sheet.column_count} columns.")
        ss.check_cells(n * sheet.row_count)
        sheet.rows = [row[:start] + [None] * n + row[start:] if len(row) > start else row for row in sheet.rows]
        sheet.column_count += n


def _delete_dimension(ss: Spreadsheet, body: dict[str, Any]) -> None:
    sheet, dimension, start, end = _span(ss, body.get("range") or {})
    if dimension == "ROWS":
        if end > sheet.row_count:
            raise _RequestError(f"Cannot delete rows [{start}, {end}): the sheet has {sheet.row_count} rows.")
        if sheet.row_count - (end - start) <= sheet.frozen_rows:
            raise _RequestError("Sorry, it is not possible to delete all non-frozen rows.")
        del sheet.rows[start:end]
        sheet.row_count -= end - start
    else:
        if end > sheet.column_count:
            raise _RequestError(f"Cannot delete columns [{start}, {end}): the sheet has {sheet.column_count}.")
        if sheet.column_count - (end - start) <= sheet.frozen_columns:
            raise _RequestError("Sorry, it is not possible to delete all non-frozen columns.")
        sheet.rows = [row[:start] + row[end:] for row in sheet.rows]
        sheet.column_count -= end - start


def _append_dimension(ss: Spreadsheet, body: dict[str, Any]) -> None:
    sheet = _sheet(ss, body.get("sheetId"))
    length = int(body.get("length", 0))
    if length < 1:
        raise _RequestError("length must be at least 1.")
    if body.get("dimension") == "ROWS":
        ss.check_cells(length * sheet.column_count)
        sheet.row_count += length
    elif body.get("dimension") == "COLUMNS":
        ss.check_cells(length * sheet.row_count)
        sheet.column_count += length
    else:
        raise _RequestError("dimension must be ROWS or COLUMNS.")


def _rank(value: Cell) -> tuple[int, Any]:
    """The order Sheets sorts by: numbers, then text (ignoring case), then booleans."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, Formula):
        return (1, value.text.casefold())
    return (1, value.casefold())


def _sort_range(ss: Spreadsheet, body: dict[str, Any]) -> None:
    rng = body.get("range") or {}
    sheet = _sheet(ss, rng.get("sheetId"))
    row0, row1 = int(rng.get("startRowIndex", 0)), int(rng.get("endRowIndex", sheet.row_count))
    col0, col1 = int(rng.get("startColumnIndex", 0)), int(rng.get("endColumnIndex", sheet.column_count))
    specs = body.get("sortSpecs") or []
    if not specs:
        raise _RequestError("At least one sort spec is required.")

    def cell(row: list[Cell | None], column: int) -> Cell | None:
        return row[column] if column < len(row) else None

    def compare(a: list[Cell | None], b: list[Cell | None]) -> int:
        for spec in specs:
            column = int(spec.get("dimensionIndex", 0))
            x, y = cell(a, column), cell(b, column)
            if x is None or y is None:
                if x is None and y is None:
                    continue
                return 1 if x is None else -1  # blanks go last in either order
            kx, ky = _rank(x), _rank(y)
            if kx != ky:
                less = kx < ky
                return (-1 if less else 1) * (-1 if spec.get("sortOrder") == "DESCENDING" else 1)
        return 0

    while len(sheet.rows) < min(row1, sheet.row_count):
        sheet.rows.append([])
    full = [list(r) + [None] * max(0, col1 - len(r)) for r in sheet.rows[row0:row1]]
    ordered = sorted(full, key=functools.cmp_to_key(compare))
    for offset, (old, new) in enumerate(zip(sheet.rows[row0:row1], ordered, strict=True)):
        row = list(old) + [None] * max(0, col1 - len(old))
        row[col0:col1] = new[col0:col1]
        while row and row[-1] is None:
            row.pop()
        sheet.rows[row0 + offset] = row
    while sheet.rows and not sheet.rows[-1]:
        sheet.rows.pop()


def _location(ss: Spreadsheet, location: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if location.get("spreadsheet"):
        return ss.metadata, {"locationType": "SPREADSHEET", "spreadsheet": True}
    if "sheetId" in location:
        sheet = _sheet(ss, location["sheetId"])
        return sheet.metadata, {"locationType": "SHEET", "sheetId": sheet.sheet_id}
    raise _RequestError("This fake keeps developer metadata on spreadsheets and sheets only.")


def _create_developer_metadata(ss: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("developerMetadata") or {}
    if meta.get("visibility") not in ("DOCUMENT", "PROJECT"):
        raise _RequestError("developerMetadata.visibility must be DOCUMENT or PROJECT.")
    if not meta.get("metadataKey"):
        raise _RequestError("developerMetadata.metadataKey is required.")
    target, location = _location(ss, meta.get("location") or {})
    created = {
        "metadataId": ss.next_metadata_id,
        "metadataKey": meta["metadataKey"],
        "location": location,
        "visibility": meta["visibility"],
    }
    if meta.get("metadataValue") is not None:
        created["metadataValue"] = meta["metadataValue"]
    ss.next_metadata_id += 1
    target.append(created)
    return {"developerMetadata": created}


def _delete_developer_metadata(ss: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    lookup = (body.get("dataFilter") or {}).get("developerMetadataLookup") or {}
    deleted = []
    for target in [ss.metadata, *(s.metadata for s in ss.sheets)]:
        for meta in list(target):
            if ("metadataId" in lookup and meta["metadataId"] == lookup["metadataId"]) or (
                "metadataKey" in lookup and meta["metadataKey"] == lookup["metadataKey"]
            ):
                target.remove(meta)
                deleted.append(meta)
    return {"deletedDeveloperMetadata": deleted}


def _update_spreadsheet_properties(ss: Spreadsheet, body: dict[str, Any]) -> None:
    if "title" in _fields(body.get("fields") or "") or "*" in _fields(body.get("fields") or ""):
        ss.title = (body.get("properties") or {}).get("title") or ss.title


HANDLERS: dict[str, Handler] = {
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSheetProperties": _update_sheet_properties,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "appendDimension": _append_dimension,
    "sortRange": _sort_range,
    "createDeveloperMetadata": _create_developer_metadata,
    "deleteDeveloperMetadata": _delete_developer_metadata,
    "updateSpreadsheetProperties": _update_spreadsheet_properties,
}

"""The fake Sheets API keeps the real API's semantics, through the real googleapiclient and a real token exchange."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from googleapiclient.discovery import build  # type: ignore[import-untyped]
from googleapiclient.errors import HttpError  # type: ignore[import-untyped]
from sync_testbed.sheets_server import CELL_LIMIT, Formula, generate_private_key
from sync_testbed.sheets_server._a1 import A1Error, parse, quote_title, render

from tests.fixtures.sheets_server import LocalSheets

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]


@contextmanager
def client(sheets: LocalSheets, key: dict[str, Any] | None = None) -> Iterator[Any]:
    """`spreadsheets()` of a googleapiclient service signed in with the key (connections closed afterwards)."""
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        key or sheets.key, scopes=SCOPES
    )
    service = build(
        "sheets", "v4", credentials=credentials, static_discovery=True, client_options={"api_endpoint": sheets.url}
    )
    try:
        yield service.spreadsheets()
    finally:
        service.close()


@pytest.fixture
def api(sheets: LocalSheets) -> Iterator[Any]:
    with client(sheets) as spreadsheets:
        yield spreadsheets


@pytest.fixture
def sid(sheets: LocalSheets) -> str:
    return sheets.api.create_spreadsheet()


def error_of(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as caught:
        call()
    return caught.value.resp.status, orjson.loads(caught.value.content)["error"]


def test_a1_notation() -> None:
    assert parse("'it''s'!B2:C", {"x"}) == parse("'it''s'!B2:C", set())
    cells = parse("'it''s'!B2:C", set())
    assert (cells.title, cells.row0, cells.row1, cells.col0, cells.col1) == ("it's", 1, None, 1, 3)
    assert parse("Sheet1", {"Sheet1"}).row0 is None
    assert (parse("A1", set()).title, parse("A1", set()).anchor) == (None, True)
    assert parse("s!3:1", set()).row0 == 0 and parse("s!3:1", set()).row1 == 3
    for bad in ("", "'open", "s!A", "s!A1:", "s!1A"):
        with pytest.raises(A1Error):
            parse(bad, set())
    assert render("my tab", 0, 3, 0, 27) == "'my tab'!A1:AA3"
    assert quote_title("Sheet1") == "Sheet1" and quote_title("AB12") == "'AB12'"


def test_values_round_trip_and_the_input_options(api: Any, sid: str) -> None:
    values = api.values()
    body = {"values": [["=1+2", "'7", "12", "TRUE", 2**53 + 1, None, "x"]]}
    values.update(spreadsheetId=sid, range="Sheet1!A1", valueInputOption="RAW", body=body).execute()
    values.update(spreadsheetId=sid, range="Sheet1!A2", valueInputOption="USER_ENTERED", body=body).execute()
    got = values.get(spreadsheetId=sid, range="Sheet1", valueRenderOption="UNFORMATTED_VALUE").execute()
    assert got["range"] == "Sheet1!A1:Z1000"
    assert got["values"] == [
        ["=1+2", "'7", "12", "TRUE", float(2**53), "", "x"],  # RAW: text stays text; doubles round
        [3, "7", 12, True, float(2**53), "", "x"],  # USER_ENTERED: parsed as a person typing
    ]
    formulas = values.get(spreadsheetId=sid, range="Sheet1!A1:A2", valueRenderOption="FORMULA").execute()
    assert formulas["values"] == [["=1+2"], ["=1+2"]]
    formatted = values.get(spreadsheetId=sid, range="Sheet1!B1:D2").execute()["values"]
    assert formatted == [["'7", "12", "TRUE"], ["7", "12", "TRUE"]]
    values.update(spreadsheetId=sid, range="Sheet1!A1", valueInputOption="RAW", body={"values": [[None, ""]]}).execute()
    assert values.get(spreadsheetId=sid, range="Sheet1!A1:B1").execute()["values"] == [
        ["=1+2"]
    ]  # null skips, "" clears


def test_reads_past_the_grid_fail_open_ranges_clamp(api: Any, sid: str) -> None:
    values = api.values()
    status, error = error_of(lambda: values.get(spreadsheetId=sid, range="Sheet1!A1:B1001").execute())
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT") and "exceeds grid limits" in error["message"]
    assert "values" not in values.get(spreadsheetId=sid, range="Sheet1!A5:B").execute()
    status, error = error_of(lambda: values.get(spreadsheetId=sid, range="Nope!A1").execute())
    assert error["message"] == "Unable to parse range: Nope!A1"


def test_append_finds_the_table_and_insert_rows_grows_the_grid(api: Any, sid: str, sheets: LocalSheets) -> None:
    sheet = sheets.api.spreadsheets[sid].sheets[0]
    sheet.row_count = 2
    values = api.values()
    values.update(spreadsheetId=sid, range="Sheet1!A1", valueInputOption="RAW", body={"values": [["h"]]}).execute()
    answer = values.append(
        spreadsheetId=sid,
        range="Sheet1!A1",
        valueInputOption="RAW",
        insertDataOption="INSERT_ROWS",
        body={"values": [["a"], ["b"]]},
    ).execute()
    assert answer["tableRange"] == "Sheet1!A1" and answer["updates"]["updatedRange"] == "Sheet1!A2:A3"
    assert sheet.row_count == 4 and sheets.api.values(sid, "Sheet1") == [["h"], ["a"], ["b"]]


def test_batch_update_is_atomic_and_keeps_the_real_rules(api: Any, sid: str, sheets: LocalSheets) -> None:
    def batch(*requests: dict[str, Any]) -> Any:
        return api.batchUpdate(spreadsheetId=sid, body={"requests": list(requests)}).execute()

    reply = batch({"addSheet": {"properties": {"title": "t", "gridProperties": {"rowCount": 3, "frozenRowCount": 1}}}})
    tab = reply["replies"][0]["addSheet"]["properties"]
    assert tab["gridProperties"] == {"rowCount": 3, "columnCount": 26, "frozenRowCount": 1}
    add_x, add_t = ({"addSheet": {"properties": {"title": t}}} for t in ("x", "T"))
    status, error = error_of(lambda: batch(add_x, add_t))
    assert status == 400 and 'A sheet with the name "T" already exists' in error["message"]
    assert [s.title for s in sheets.api.spreadsheets[sid].sheets] == ["Sheet1", "t"], "nothing of a failed batch"
    rows = {"sheetId": tab["sheetId"], "dimension": "ROWS"}
    _, error = error_of(lambda: batch({"deleteDimension": {"range": {**rows, "startIndex": 1, "endIndex": 3}}}))
    assert error["message"].endswith("Sorry, it is not possible to delete all non-frozen rows.")
    batch({"deleteSheet": {"sheetId": tab["sheetId"]}})
    only = sheets.api.spreadsheets[sid].sheets[0].sheet_id
    _, error = error_of(lambda: batch({"deleteSheet": {"sheetId": only}}))
    assert error["message"] == "Invalid requests[0].deleteSheet: You can't remove all the sheets in a document."


def test_sort_puts_numbers_before_text_and_blanks_last(api: Any, sid: str, sheets: LocalSheets) -> None:
    column = [["h"], [3], ["b"], [""], [True], [1], ["A"]]
    api.values().update(spreadsheetId=sid, range="Sheet1!A1", valueInputOption="RAW", body={"values": column}).execute()
    sheet_id = sheets.api.spreadsheets[sid].sheets[0].sheet_id
    sort = {"range": {"sheetId": sheet_id, "startRowIndex": 1, "endRowIndex": 7}, "sortSpecs": [{"dimensionIndex": 0}]}
    api.batchUpdate(spreadsheetId=sid, body={"requests": [{"sortRange": sort}]}).execute()
    assert [r[0] if r else "" for r in sheets.api.values(sid, "Sheet1")] == ["h", 1, 3, "A", "b", True]


def test_the_limits_answer_as_google_does(api: Any, sid: str) -> None:
    grid = {"rowCount": CELL_LIMIT // 26, "columnCount": 26}
    status, error = error_of(
        lambda: api.batchUpdate(
            spreadsheetId=sid, body={"requests": [{"addSheet": {"properties": {"gridProperties": grid}}}]}
        ).execute()
    )
    assert status == 400 and error["message"].endswith(
        "This action would increase the number of cells in the workbook above the limit of 10000000 cells."
    )
    long = {"values": [["x" * 50_001]]}
    _, error = error_of(
        lambda: api.values().update(spreadsheetId=sid, range="A1", valueInputOption="RAW", body=long).execute()
    )
    assert error["message"] == "Your input contains more than the maximum of 50000 characters in a single cell."
    huge = {"values": [["y" * 40_000] for _ in range(270)]}
    _, error = error_of(
        lambda: api.values().update(spreadsheetId=sid, range="A1", valueInputOption="RAW", body=huge).execute()
    )
    assert error["message"] == "Request payload size exceeds the limit: 10485760 bytes."


def test_credentials_and_spreadsheets_fail_as_google_says(sheets: LocalSheets, api: Any, sid: str) -> None:
    stranger = dict(sheets.key)  # the right account, signed with another key
    from cryptography.hazmat.primitives import serialization

    stranger["private_key"] = (
        generate_private_key()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    with client(sheets, stranger) as other, pytest.raises(RefreshError, match="invalid_grant"):
        other.get(spreadsheetId=sid).execute()
    sheets.api.delete_spreadsheet(sid)
    assert error_of(lambda: api.get(spreadsheetId=sid).execute()) == (
        404,
        {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"},
    )
    other = sheets.api.create_spreadsheet(editors={"someone@else"})
    assert error_of(lambda: api.get(spreadsheetId=other).execute())[1]["status"] == "PERMISSION_DENIED"


def test_per_minute_quota_and_injected_faults(sheets: LocalSheets, api: Any, sid: str) -> None:
    sheets.api.quota_per_minute[False] = 2
    api.get(spreadsheetId=sid).execute()
    api.get(spreadsheetId=sid).execute()
    status, error = error_of(lambda: api.get(spreadsheetId=sid).execute())
    assert (status, error["status"]) == (429, "RESOURCE_EXHAUSTED") and "per minute per user" in error["message"]
    sheets.api.quota_per_minute[False] = None
    sheets.api.faults.script = ["503-after:values.update"]
    body = {"values": [["applied"]]}
    request = api.values().update(spreadsheetId=sid, range="A1", valueInputOption="RAW", body=body)
    assert error_of(request.execute)[0] == 503
    assert sheets.api.values(sid, "Sheet1") == [["applied"]], "applied, though the answer said otherwise"
    assert not any(isinstance(v, Formula) for v in sheets.api.spreadsheets[sid].sheets[0].rows[0])

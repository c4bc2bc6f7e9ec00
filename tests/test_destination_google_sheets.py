"""destination-google-sheets over real pipes against the local fake Sheets API (real googleapiclient, real OAuth)."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import pytest
from sync_protocol import (
    ConnectionStatusValue,
    ControlMessage,
    ErrorMessage,
    LogMessage,
    Message,
    SourceStateMessage,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
    encode_message,
)
from sync_protocol.sdk import record, stream_state
from sync_protocol.testing import ConnectorHarness, Invocation
from sync_testbed.sheets_server import CELL_LIMIT, Call, Formula

from tests.fixtures.sheets_server import LocalSheets

COMMAND = [sys.executable, "-m", "destination_google_sheets"]
HARNESS = ConnectorHarness(COMMAND, timeout_s=90)
HEADER_SCHEMA: dict[str, Any] = {
    "name": {"type": ["string", "null"]},
    "id": {"type": "string"},
    "amount": {"type": ["integer", "null"]},
    "meta": {"type": ["object", "null"]},
}
SCHEMA = {"type": "object", "properties": HEADER_SCHEMA}
HEADER = ["id", "name", "amount", "meta"]


def catalog(*names: str, mode: str = "append_dedup") -> dict[str, Any]:
    return {
        "streams": [
            {"name": n, "json_schema": SCHEMA, "primary_key": [["id"]], "destination_sync_mode": mode} for n in names
        ]
    }


def item(stream: str, i: int, **fields: Any) -> Message:
    return record(stream, {"id": f"{stream}-{i}", "name": f"n{i}", "amount": i, "meta": {"i": i}, **fields})


def feed(*messages: Message | bytes) -> bytes:
    return b"".join(m if isinstance(m, bytes) else encode_message(m) for m in messages)


def complete(stream: str) -> Message:
    return StreamStatusMessage(stream_status=StreamStatus(stream=stream, status=StreamStatusValue.COMPLETE))


def write(config: dict[str, Any], cat: dict[str, Any], *messages: Message | bytes, exit_code: int = 0) -> Invocation:
    return HARNESS.invoke("write", config=config, catalog=cat, stdin=feed(*messages), expect_exit=exit_code)


def table(sheets: LocalSheets, sid: str, title: str) -> dict[str, dict[str, Any]]:
    """The tab as {id: {column: value}}; fails on a duplicated id."""
    values = sheets.api.values(sid, title)
    header, rows = values[0], values[1:]
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if not any(v != "" for v in row):
            continue
        cells = dict(zip(header, [*row, *[""] * (len(header) - len(row))], strict=True))
        assert cells["id"] not in out, f"duplicated row {cells['id']}"
        out[cells["id"]] = cells
    return out


def expected_row(stream: str, i: int, **fields: Any) -> dict[str, Any]:
    return {"id": f"{stream}-{i}", "name": f"n{i}", "amount": i, "meta": orjson.dumps({"i": i}).decode(), **fields}


def echoed(result: Invocation) -> list[Any]:
    return [m.source_state.data for m in result.of_type(SourceStateMessage)]


@pytest.fixture
def sid(sheets: LocalSheets) -> str:
    return sheets.api.create_spreadsheet()


def test_spec_marks_every_credential_secret() -> None:
    properties = HARNESS.spec().config["properties"]
    for name in ("service_account_json", "oauth_client_secret", "oauth_refresh_token"):
        assert any(alternative.get("writeOnly") for alternative in properties[name]["anyOf"])


def test_setup_creates_a_spreadsheet_reports_it_and_is_idempotent(sheets: LocalSheets) -> None:
    config = sheets.config()
    result = HARNESS.invoke("setup", config=config, catalog=catalog("customers", "charges"))
    (control,) = result.of_type(ControlMessage)
    new_config = control.control.config
    assert new_config["service_account_json"] == config["service_account_json"], "the engine stores it: in clear"
    sid = new_config["spreadsheet_id"]
    assert sheets.api.values(sid, "customers") == [HEADER] == sheets.api.values(sid, "charges")
    sheet = sheets.api.spreadsheets[sid].find_title("customers")
    assert sheet is not None and sheet.frozen_rows == 1 and (sheet.row_count, sheet.column_count) == (1, 4)
    assert "file_cache" not in result.stderr and not [m for m in result.of_type(LogMessage) if "cache" in m.log.message]

    sheets.api.reset_calls()
    again = HARNESS.invoke("setup", config=new_config, catalog=catalog("customers", "charges"))
    assert not again.of_type(ControlMessage)
    assert sheets.api.count(write=True) == 0 and len(sheets.api.spreadsheets) == 1


def test_setup_extends_a_header_and_leaves_a_persons_columns(sheets: LocalSheets, sid: str) -> None:
    HARNESS.invoke("setup", config=sheets.config(sid), catalog=catalog("s"))
    ss = sheets.api.spreadsheets[sid]
    sheet = ss.find_title("s")
    assert sheet is not None
    sheet.rows[0] = ["id", "notes", "name"]  # a person renamed, reordered and dropped header cells
    bigger = {**SCHEMA, "properties": {**HEADER_SCHEMA, "email": {"type": "string"}}}
    cat = {"streams": [{"name": "s", "json_schema": bigger, "primary_key": [["id"]]}]}
    HARNESS.invoke("setup", config=sheets.config(sid), catalog=cat)
    assert sheets.api.values(sid, "s") == [["id", "notes", "name", "amount", "meta", "email"]]


def test_upserts_updates_and_deletes_leave_the_tab_equal_to_the_source(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid, batch_rows=7), catalog("a", "b")
    first = write(
        config,
        cat,
        *(item("a", i) for i in range(20)),
        stream_state("a", 20),
        *(item("b", i) for i in range(5)),
        stream_state("b", 5),
    )
    assert echoed(first) == [20, 5]
    second = write(
        config,
        cat,
        item("a", 3, name="renamed", meta=None),
        record("a", {"id": "a-4"}, deleted=True),
        item("a", 20),
        record("a", {"id": "a-5"}, deleted=True),
        item("a", 5, amount=55),  # deleted, then created again in the same batch
        stream_state("a", 21),
        record("b", {"id": "b-0"}, deleted=True),
        record("b", {"id": "b-99"}, deleted=True),  # a tombstone for a row that never was
        stream_state("b", 6),
    )
    assert echoed(second) == [21, 6]
    want_a = {f"a-{i}": expected_row("a", i) for i in range(21) if i != 4}
    want_a["a-3"] = expected_row("a", 3, name="renamed", meta="")
    want_a["a-5"] = expected_row("a", 5, amount=55)
    assert table(sheets, sid, "a") == want_a
    assert table(sheets, sid, "b") == {f"b-{i}": expected_row("b", i) for i in range(1, 5)}


def test_a_rerun_with_unchanged_data_makes_no_write_request(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid), catalog("a")
    messages = [*(item("a", i) for i in range(300)), stream_state("a", 1)]
    write(config, cat, *messages)
    sheets.api.reset_calls()
    assert echoed(write(config, cat, *messages)) == [1]
    assert sheets.api.count(write=True) == 0
    assert sheets.api.count(write=False) == 3  # the spreadsheet, the headers, the tab


def test_sorting_and_inserting_rows_between_runs_still_upserts_the_right_rows(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid), catalog("s")
    write(config, cat, *(item("s", i) for i in range(50)), stream_state("s", 1))
    sheet_id = sheets.api.spreadsheets[sid].find_title("s").sheet_id  # type: ignore[union-attr]
    person = sheets.api.spreadsheets[sid]
    from sync_testbed.sheets_server._requests import batch_update  # a person's edits, applied as the API would

    rows = {"sheetId": sheet_id, "dimension": "ROWS"}
    edited, _ = batch_update(
        person,
        [
            {
                "sortRange": {
                    "range": {"sheetId": sheet_id, "startRowIndex": 1},
                    "sortSpecs": [{"dimensionIndex": 2, "sortOrder": "DESCENDING"}],
                }
            },
            {"insertDimension": {"range": {**rows, "startIndex": 5, "endIndex": 8}}},
            {
                "insertDimension": {
                    "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": 1, "endIndex": 2}
                }
            },
        ],
    )
    sheets.api.spreadsheets[sid] = edited
    tab = edited.find_title("s")
    assert tab is not None
    tab.put(0, 1, "notes")
    tab.put(10, 1, "a person's note")
    noted = sheets.api.values(sid, "s")[10][0]
    write(
        config,
        cat,
        *(item("s", i, name=f"second {i}") for i in range(0, 60, 3)),
        record("s", {"id": "s-7"}, deleted=True),
        stream_state("s", 2),
    )
    got = table(sheets, sid, "s")
    want = {f"s-{i}": {**expected_row("s", i), "notes": ""} for i in range(60) if i != 7 and (i < 50 or i % 3 == 0)}
    for i in range(0, 60, 3):
        want[f"s-{i}"]["name"] = f"second {i}"
    want[noted]["notes"] = "a person's note"
    assert got == want
    assert sheets.api.values(sid, "s")[0] == ["id", "notes", "name", "amount", "meta"]


def test_a_column_inserted_before_the_key_during_a_run_is_followed(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid, batch_rows=10), catalog("s")
    write(config, cat, *(item("s", i) for i in range(10)), stream_state("s", 1))
    from sync_testbed.sheets_server._requests import batch_update

    def insert_column(call: Call) -> None:
        if call.method == "values.append" and sheets.api.on_write is not None:
            sheets.api.on_write = None
            with sheets.api.lock:
                tab = sheets.api.spreadsheets[sid].find_title("s")
                assert tab is not None
                span = {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "startIndex": 0, "endIndex": 1}
                sheets.api.spreadsheets[sid], _ = batch_update(
                    sheets.api.spreadsheets[sid], [{"insertDimension": {"range": span}}]
                )

    sheets.api.on_write = insert_column
    result = write(
        config,
        cat,
        *(item("s", i) for i in range(10, 20)),  # appended; then a person inserts column A
        stream_state("s", 2),
        *(item("s", i, name="later") for i in range(0, 30, 2)),  # located by key in column B now
        stream_state("s", 3),
    )
    assert echoed(result) == [2, 3]
    want = {f"s-{i}": {**expected_row("s", i), "": ""} for i in range(30) if i < 20 or i % 2 == 0}
    for i in range(0, 30, 2):
        want[f"s-{i}"]["name"] = "later"
    assert table(sheets, sid, "s") == want


def test_a_429_storm_is_survived(sheets: LocalSheets, sid: str) -> None:
    sheets.api.faults.script = ["429"] * 6 + ["429:values.append"] * 6
    sheets.api.faults.retry_after = "0"
    result = write(sheets.config(sid), catalog("s"), *(item("s", i) for i in range(100)), stream_state("s", 1))
    assert echoed(result) == [1]
    assert len(table(sheets, sid, "s")) == 100
    assert sum(1 for c in sheets.api.calls if c.status == 429) == 12


@pytest.mark.parametrize(
    "fault", ["503-after:values.append", "reset-after:values.append", "503-after:spreadsheets.batchUpdate"]
)
def test_a_write_applied_but_unanswered_is_not_repeated(sheets: LocalSheets, sid: str, fault: str) -> None:
    config, cat = sheets.config(sid), catalog("s")
    write(config, cat, *(item("s", i) for i in range(10)), stream_state("s", 1))
    sheets.api.faults.script = [fault]
    result = write(
        config,
        cat,
        *(item("s", i) for i in range(10, 20)),
        *(record("s", {"id": f"s-{i}"}, deleted=True) for i in range(0, 10, 2)),
        stream_state("s", 2),
    )
    assert echoed(result) == [2] and not sheets.api.faults.script
    assert set(table(sheets, sid, "s")) == {f"s-{i}" for i in range(20) if i >= 10 or i % 2}


def test_formula_like_values_stay_text(sheets: LocalSheets, sid: str) -> None:
    values = ["=1+1", "+33 1 23", "-5", "@SUM(A1)", '=HYPERLINK("http://x")']
    rows = [{"id": f"k{i}", "name": v} for i, v in enumerate(values)]
    write(sheets.config(sid), catalog("s"), *(record("s", r) for r in rows), stream_state("s", 1))
    write(sheets.config(sid, escape_formulas=False), catalog("raw"), *(record("raw", r) for r in rows))
    escaped = [row[1] for row in sheets.api.values(sid, "s")[1:]]
    raw = [row[1] for row in sheets.api.values(sid, "raw")[1:]]
    assert escaped == ["'" + v for v in values]
    assert raw == values
    for title in ("s", "raw"):
        sheet = sheets.api.spreadsheets[sid].find_title(title)
        assert sheet is not None and not any(isinstance(v, Formula) for row in sheet.rows for v in row)


def test_values_longer_than_a_cell_holds_are_cut_visibly_and_reported(sheets: LocalSheets, sid: str) -> None:
    long = "x" * 60_000
    result = write(sheets.config(sid), catalog("s"), record("s", {"id": "k", "name": long}), stream_state("s", 1))
    cell = sheets.api.values(sid, "s")[1][1]
    assert len(cell) == 50_000 and cell.endswith("…[truncated by sync]")
    assert any("1 value(s) were longer" in m.log.message for m in result.of_type(LogMessage))
    assert echoed(result) == [1]


def test_the_cell_limit_is_a_stream_error_and_the_other_streams_finish(sheets: LocalSheets, sid: str) -> None:
    HARNESS.invoke("setup", config=sheets.config(sid), catalog=catalog("big", "small"))
    ss = sheets.api.spreadsheets[sid]
    free = 2_000
    filler = ss.sheets[0]  # the person's Sheet1 takes all but `free` cells
    filler.column_count = 10
    filler.row_count = (CELL_LIMIT - (ss.cells - filler.cells) - free) // 10
    result = write(
        sheets.config(sid, batch_rows=150),
        catalog("big", "small"),
        *(item("small", i) for i in range(20)),  # 80 cells
        stream_state("small", 1),
        *(item("big", i) for i in range(600)),  # 2,400 cells: the first batch of 150 fits, the rest not
        stream_state("big", 1),
        *(item("small", i) for i in range(20, 40)),
        stream_state("small", 2),
    )
    errors = result.of_type(ErrorMessage)
    assert [(e.error.level, e.error.stream) for e in errors] == [("stream", "big")]
    assert "10,000,000 cells" in errors[0].error.message
    assert echoed(result) == [1, 2]
    assert len(table(sheets, sid, "small")) == 40
    assert len(table(sheets, sid, "big")) in (150, 300, 450)  # whole batches only, never part of one
    assert ss.cells <= CELL_LIMIT


def test_overwrite_swaps_the_new_tab_in_only_when_the_stream_is_complete(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid, batch_rows=10), catalog("s", mode="overwrite")
    write(config, cat, *(item("s", i) for i in range(30)), stream_state("s", 1), complete("s"))
    result = write(config, cat, *(item("s", i, name="new") for i in range(5)), stream_state("s", 2), complete("s"))
    assert table(sheets, sid, "s") == {f"s-{i}": expected_row("s", i, name="new") for i in range(5)}
    assert [s.title for s in sheets.api.spreadsheets[sid].sheets] == ["Sheet1", "s"]
    kinds = [m.type for m in result.messages if m.type in ("source_state", "stream_status")]
    assert kinds == ["source_state", "stream_status"], "the state goes out after the swap"


def test_overwrite_not_complete_at_the_end_of_input_leaves_the_old_tab(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid, batch_rows=10), catalog("s", "t", mode="overwrite")
    write(config, cat, *(item("s", i) for i in range(30)), stream_state("s", 1), complete("s"))
    before = sheets.api.values(sid, "s")
    result = write(
        config,
        cat,
        *(item("s", i, name="new") for i in range(25)),
        stream_state("s", 2),
        *(item("t", i) for i in range(3)),
        stream_state("t", 1),
        complete("t"),
    )
    assert sheets.api.values(sid, "s") == before
    assert [s.title for s in sheets.api.spreadsheets[sid].sheets] == ["Sheet1", "s", "t"], "scratch tab removed"
    assert echoed(result) == [1], "only the completed stream's state"
    assert any("did not complete" in m.log.message for m in result.of_type(LogMessage))


def test_deleting_every_row_keeps_the_header(sheets: LocalSheets, sid: str) -> None:
    config, cat = sheets.config(sid), catalog("s")
    write(config, cat, *(item("s", i) for i in range(5)), stream_state("s", 1))
    result = write(config, cat, *(record("s", {"id": f"s-{i}"}, deleted=True) for i in range(5)), stream_state("s", 2))
    assert echoed(result) == [2]
    assert sheets.api.values(sid, "s") == [HEADER]
    write(config, cat, item("s", 9), stream_state("s", 3))
    assert table(sheets, sid, "s") == {"s-9": expected_row("s", 9)}


def test_unknown_messages_pass_through_and_unknown_streams_are_stream_errors(sheets: LocalSheets, sid: str) -> None:
    odd = b'{"type":"hologram","hologram":{"x":1}}\n'
    result = write(sheets.config(sid), catalog("s"), odd, item("zz", 1), item("s", 1), stream_state("s", 1))
    assert [e.error.stream for e in result.of_type(ErrorMessage)] == ["zz"]
    assert echoed(result) == [1]
    raw = HARNESS.invoke("write", config=sheets.config(sid), catalog=catalog("s"), stdin=odd)
    assert any(m.type == "hologram" for m in raw.messages)


def test_requests_are_cut_at_the_payload_budget(sheets: LocalSheets, sid: str) -> None:
    config = sheets.config(sid, max_request_bytes=64 * 1024)
    write(config, catalog("s"), *(item("s", i, name="y" * 200) for i in range(1000)), stream_state("s", 1))
    assert len(table(sheets, sid, "s")) == 1000
    appends = [c for c in sheets.api.calls if c.method == "values.append"]
    assert len(appends) >= 4 and all(c.size <= 64 * 1024 for c in appends)  # ≈ 250 KB of rows


@pytest.mark.parametrize("when", ["before", "during"])
def test_revoked_credentials_are_a_global_auth_error(sheets: LocalSheets, sid: str, when: str) -> None:
    email = sheets.key["client_email"]
    if when == "before":
        sheets.api.auth.revoke(email)
    else:
        sheets.api.on_write = lambda call: sheets.api.auth.revoke(email)
    result = write(
        sheets.config(sid, batch_rows=10),
        catalog("s"),
        *(item("s", i) for i in range(30)),
        stream_state("s", 1),
        exit_code=1,
    )
    error = result.of_type(ErrorMessage)[-1].error
    assert (error.level, error.failure_type) == ("global", "auth_error")
    assert (
        sheets.key["private_key"][40:80]
        not in orjson.dumps([m.model_dump(mode="json") for m in result.messages]).decode()
    )
    assert echoed(result) == []


def test_a_deleted_spreadsheet_is_a_global_config_error(sheets: LocalSheets, sid: str) -> None:
    sheets.api.delete_spreadsheet(sid)
    result = write(sheets.config(sid), catalog("s"), item("s", 1), exit_code=1)
    error = result.of_type(ErrorMessage)[-1].error
    assert (error.level, error.failure_type) == ("global", "config_error") and "not found" in error.message


def test_check_reports_what_works(sheets: LocalSheets, sid: str) -> None:
    assert HARNESS.check(sheets.config(sid)).status is ConnectionStatusValue.SUCCEEDED
    assert HARNESS.check(sheets.config()).status is ConnectionStatusValue.SUCCEEDED
    sheets.api.auth.revoke(sheets.key["client_email"])
    failed = HARNESS.check(sheets.config(sid))
    assert failed.status is ConnectionStatusValue.FAILED and "refused" in (failed.message or "")


def test_oauth_refresh_token_credentials_work(sheets: LocalSheets, sid: str) -> None:
    client = sheets.api.auth.oauth_client()
    config = {
        **{k: v for k, v in sheets.config(sid).items() if k != "service_account_json"},
        "oauth_client_id": client["client_id"],
        "oauth_client_secret": client["client_secret"],
        "oauth_refresh_token": client["refresh_token"],
        "oauth_token_uri": sheets.server.token_uri,
    }
    assert echoed(write(config, catalog("s"), item("s", 1), stream_state("s", 1))) == [1]
    assert table(sheets, sid, "s") == {"s-1": expected_row("s", 1)}


def test_teardown_removes_only_the_tabs_it_created(sheets: LocalSheets, sid: str) -> None:
    HARNESS.invoke("setup", config=sheets.config(sid), catalog=catalog("a", "b"))
    HARNESS.invoke("teardown", config=sheets.config(sid))
    assert [s.title for s in sheets.api.spreadsheets[sid].sheets] == ["Sheet1"]
    created = HARNESS.invoke("setup", config=sheets.config(), catalog=catalog("only"))
    new_config = created.of_type(ControlMessage)[0].control.config
    HARNESS.invoke("teardown", config=new_config)
    assert [s.title for s in sheets.api.spreadsheets[new_config["spreadsheet_id"]].sheets] == ["Sheet1"]

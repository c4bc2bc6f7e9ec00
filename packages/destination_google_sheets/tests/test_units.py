"""Pure parts of the Sheets destination: cell encoding, comparison, batch plans, header placement, budgets, config."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from destination_google_sheets import (
    CHAR_LIMIT,
    TRUNCATED_MARKER,
    Change,
    MinuteBudget,
    RowEncoder,
    SheetsConfig,
    plan_appends,
    plan_upserts,
    positions,
)
from destination_google_sheets._cells import row_digest
from destination_google_sheets._tabs import header_cells, place_columns
from pydantic import ValidationError
from sync_protocol import ConfiguredStream, StreamError

KEY = orjson.dumps(
    {"type": "service_account", "client_email": "a@b.iam", "private_key": "-----BEGIN…", "token_uri": "http://t"}
).decode()


def stream(properties: dict[str, Any], **extra: Any) -> ConfiguredStream:
    return ConfiguredStream(
        name="s",
        json_schema={"type": "object", "properties": properties},
        primary_key=extra.pop("primary_key", [["id"]]),
        **extra,
    )


def test_columns_put_the_key_first_then_the_schema_then_new_fields() -> None:
    encoder = RowEncoder(stream({"name": {}, "id": {}, "amount": {}}))
    assert encoder.columns == ["id", "name", "amount"]
    _, cells = encoder.encode({"id": "x", "surprise": 1})
    assert encoder.columns == ["id", "name", "amount", "surprise"]
    assert cells == ["x", "", "", 1]


def test_cells_are_text_numbers_and_booleans_that_sheets_keeps_exactly() -> None:
    encoder = RowEncoder(
        stream(
            {
                "id": {"type": "string"},
                "created": {"type": ["integer", "null"]},
                "at": {"type": "string", "format": "date-time"},
                "when": {"type": "integer", "format": "unix-time"},
                "nested": {"type": "object"},
            },
            cursor_field=["created"],
        )
    )
    key, cells = encoder.encode(
        {
            "id": "cus_1",
            "created": 1704067200,
            "at": "2024-01-01T13:00:00+01:00",
            "when": 0,
            "nested": {"a": [1, 2], "b": None},
            "big": 2**60,
            "flag": False,
            "ratio": 0.5,
            "nan": math.nan,
            "nothing": None,
        }
    )
    assert key == ("cus_1",)
    assert cells == [
        "cus_1",
        "2024-01-01T00:00:00Z",
        "2024-01-01T12:00:00Z",
        "1970-01-01T00:00:00Z",
        '{"a":[1,2],"b":null}',
        str(2**60),
        False,
        0.5,
        "nan",
        "",
    ]


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1 555", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_text_is_escaped_for_exports(text: str) -> None:
    assert RowEncoder(stream({"id": {}, "v": {}})).encode({"id": 1, "v": text})[1] == [1, "'" + text]
    assert RowEncoder(stream({"id": {}, "v": {}}), escape_formulas=False).encode({"id": 1, "v": text})[1] == [1, text]


def test_values_over_the_cell_limit_are_cut_with_a_marker_and_counted() -> None:
    encoder = RowEncoder(stream({"id": {}, "v": {}, "o": {}}))
    _, cells = encoder.encode({"id": 1, "v": "x" * (CHAR_LIMIT + 1), "o": {"k": "y" * CHAR_LIMIT}})
    assert len(str(cells[1])) == len(str(cells[2])) == CHAR_LIMIT
    assert str(cells[1]).endswith(TRUNCATED_MARKER) and str(cells[2]).startswith('{"k":"yyy')
    assert encoder.truncated == 2
    _, cells = encoder.encode({"id": 2, "v": "x" * CHAR_LIMIT})
    assert cells[1] == "x" * CHAR_LIMIT and encoder.truncated == 2


def test_a_nested_primary_key_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="nested"):
        RowEncoder(stream({"a": {}}, primary_key=[["a", "b"]]))


def test_written_and_read_back_cells_compare_equal() -> None:
    encoder = RowEncoder(stream({"id": {}, "n": {}, "b": {}, "x": {}}))
    _, cells = encoder.encode({"id": "a", "n": 5.0, "b": True, "x": None})
    assert cells == ["a", 5, True, ""]  # Sheets keeps doubles and prints 5.0 as 5: so is it written
    read_back = ["a", 5, True]  # values.get drops trailing empty cells
    assert row_digest(cells) == row_digest(read_back)
    assert row_digest(["a", 1]) != row_digest(["a", True]) and row_digest(["a", 1]) != row_digest(["a", "1"])


def change(key: str, value: int | None) -> Change:
    cells: list[str | int | float | bool] | None = None if value is None else [key, value]
    return Change((key,), cells, row_digest(cells) if cells else 0)


def test_upserts_update_changed_rows_append_new_ones_and_delete_tombstones() -> None:
    keys: list[tuple[Any, ...] | None] = [("a",), ("b",), None, ("c",), ("b",)]
    where = positions(keys, 1)
    assert where == {("a",): [1], ("b",): [2, 5], ("c",): [4]}
    digests = {("a",): row_digest(["a", 1]), ("b",): row_digest(["b", 2])}
    changes = {c.key: c for c in [change("a", 1), change("b", 20), change("c", None), change("d", 4)]}
    plan = plan_upserts(where, digests, changes)
    assert plan.updates == [(2, ["b", 20])]  # "a" is unchanged: not written
    assert plan.appends == [["d", 4]]
    assert plan.deletes == [5, 4]  # the duplicate of "b" and the tombstone of "c", highest first
    assert plan.digests[("c",)] is None and plan.digests[("d",)] == row_digest(["d", 4])
    assert plan_upserts(where, digests, {("a",): change("a", 1)}).empty


def test_appends_keep_every_record_and_tombstones_remove_earlier_ones() -> None:
    where = positions([("a",), ("b",)], 1)
    plan = plan_appends(where, [change("a", 1), change("x", 2), change("a", None), change("a", 3)])
    assert plan.appends == [["x", 2], ["a", 3]]
    assert plan.deletes == [1]


def test_columns_are_placed_by_header_name_and_missing_ones_added_at_the_end() -> None:
    where, added = place_columns(["id", "notes", "amount", ""], ["id", "amount", "name", "email"])
    assert where == [0, 2, 4, 5] and added == [(4, "name"), (5, "email")]
    assert header_cells("my tab", added) == [{"range": "'my tab'!E1", "values": [["name", "email"]]}]
    assert header_cells("t", [(0, "a"), (2, "c")]) == [
        {"range": "'t'!A1", "values": [["a"]]},
        {"range": "'t'!C1", "values": [["c"]]},
    ]


def test_the_minute_budget_waits_for_the_oldest_request_to_leave_the_window() -> None:
    now = [0.0]
    budget = MinuteBudget(2, clock=lambda: now[0])
    assert budget.delay() == 0.0 and budget.delay() == 0.0
    now[0] = 10.0
    assert budget.delay() == 50.0
    now[0] = 60.0
    assert budget.delay() == 0.0
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    budget.acquire(sleep)  # the second slot of the window that began at 60 s
    assert slept == []
    budget.acquire(sleep)
    assert slept == [60.0] and budget.waited_s == 60.0


def test_config_takes_one_kind_of_credentials() -> None:
    SheetsConfig.model_validate({"service_account_json": KEY})
    SheetsConfig.model_validate({"oauth_client_id": "c", "oauth_client_secret": "s", "oauth_refresh_token": "r"})
    for bad in (
        {},
        {"service_account_json": KEY, "oauth_client_id": "c"},
        {"oauth_client_id": "c", "oauth_refresh_token": "r"},
        {"service_account_json": "{not json"},
        {"service_account_json": '{"type": "authorized_user"}'},
    ):
        with pytest.raises(ValidationError):
            SheetsConfig.model_validate(bad)


def test_the_reported_config_keeps_what_was_given_with_secrets_in_clear() -> None:
    config = SheetsConfig.model_validate({"service_account_json": KEY, "batch_rows": 10})
    assert config.with_spreadsheet("sid") == {"service_account_json": KEY, "batch_rows": 10, "spreadsheet_id": "sid"}

"""A local fake of the Google Sheets API v4 and Google's token endpoint (needs the `sheets` extra).

Run it standalone with `python -m sync_testbed.sheets_server` (`--help` lists its flags).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from .. import _serving
from ._a1 import column_letters, quote_title
from ._app import Call, FakeSheets, Faults, SheetsHTTPServer, classify
from ._auth import Auth, generate_private_key
from ._model import CELL_LIMIT, CHAR_LIMIT, ApiError, Formula, Sheet, Spreadsheet

__all__ = [
    "CELL_LIMIT",
    "CHAR_LIMIT",
    "ApiError",
    "Auth",
    "Call",
    "FakeSheets",
    "Faults",
    "Formula",
    "Sheet",
    "SheetsHTTPServer",
    "Spreadsheet",
    "classify",
    "column_letters",
    "generate_private_key",
    "quote_title",
    "running_server",
]


def running_server(api: FakeSheets | None = None, port: int = 0) -> AbstractContextManager[SheetsHTTPServer]:
    """Serve `api` (a fresh fake by default) on 127.0.0.1 in a background thread."""
    return _serving.serving(SheetsHTTPServer(api or FakeSheets(), port))

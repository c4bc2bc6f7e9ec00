"""destination_google_sheets: a tab per stream, upserts by key that survive people editing the sheet (DESIGN §5)."""

from ._cells import CHAR_LIMIT, TRUNCATED_MARKER, RowEncoder
from ._client import MinuteBudget, SheetsClient
from ._config import SheetsConfig
from ._connector import GoogleSheetsDestination
from ._errors import AmbiguousWriteError
from ._plan import Change, Plan, plan_appends, plan_upserts, positions
from ._tabs import MARKER_KEY, scratch_title, tab_title

__all__ = [
    "CHAR_LIMIT",
    "MARKER_KEY",
    "TRUNCATED_MARKER",
    "AmbiguousWriteError",
    "Change",
    "GoogleSheetsDestination",
    "MinuteBudget",
    "Plan",
    "RowEncoder",
    "SheetsClient",
    "SheetsConfig",
    "plan_appends",
    "plan_upserts",
    "positions",
    "scratch_title",
    "tab_title",
]

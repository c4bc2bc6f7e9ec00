"""Google Sheets destination: so far only its spec; `write` and friends are not implemented yet."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr
from sync_protocol.sdk import Connector


class SheetsConfig(BaseModel):
    """Where to write: a spreadsheet (created by `setup` when absent) and service-account credentials."""

    spreadsheet_id: str | None = Field(default=None, description="Target spreadsheet; setup creates one if absent.")
    service_account_json: SecretStr = Field(description="The service account key file's JSON content.")
    api_endpoint: str | None = Field(default=None, description="Override of the Sheets API address (tests).")


class GoogleSheetsDestination(Connector[SheetsConfig]):
    """Only `spec`, `check` and no-op `setup`/`teardown` exist until the Sheets issue lands."""

    config_model: ClassVar[type[BaseModel]] = SheetsConfig
    capabilities: ClassVar[dict[str, object]] = {"max_cell_chars": 50_000}

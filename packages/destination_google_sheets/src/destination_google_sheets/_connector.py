"""Google Sheets destination: so far only its spec. Every other command says plainly that it is not built yet."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr
from sync_protocol import (
    ConfigError,
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusValue,
    Message,
)
from sync_protocol.sdk import Connector


class SheetsConfig(BaseModel):
    """Where to write: a spreadsheet (created by `setup` when absent) and service-account credentials."""

    spreadsheet_id: str | None = Field(default=None, description="Target spreadsheet; setup creates one if absent.")
    service_account_json: SecretStr = Field(description="The service account key file's JSON content.")
    api_endpoint: str | None = Field(default=None, description="Override of the Sheets API address (tests).")


NOT_BUILT = "destination-google-sheets is not implemented yet: only `spec` works"


class GoogleSheetsDestination(Connector[SheetsConfig]):
    """Publishes its config schema; `check`, `setup` and `teardown` fail with a clear message, `write` is absent."""

    config_model: ClassVar[type[BaseModel]] = SheetsConfig
    capabilities: ClassVar[dict[str, object]] = {"max_cell_chars": 50_000}

    def check(self, config: SheetsConfig) -> ConnectionStatus:
        return ConnectionStatus(status=ConnectionStatusValue.FAILED, message=NOT_BUILT)

    def setup(self, config: SheetsConfig, catalog: ConfiguredCatalog) -> Iterable[Message]:
        raise ConfigError(NOT_BUILT)

    def teardown(self, config: SheetsConfig) -> Iterable[Message]:
        raise ConfigError(NOT_BUILT)

"""The connector's config: which spreadsheet, whose credentials, and the budgets and batch sizes to write with."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
_KEY_FIELDS = ("type", "client_email", "private_key", "token_uri")


class SheetsConfig(BaseModel):
    """Where to write (a spreadsheet, created by `setup` when absent) and as whom (a service account or OAuth)."""

    model_config = ConfigDict(extra="forbid")

    spreadsheet_id: str | None = Field(
        default=None, min_length=1, description="Target spreadsheet; `setup` creates one when absent and reports it."
    )
    spreadsheet_title: str = Field(
        default="sync-toolkit", min_length=1, description="Title of the spreadsheet `setup` creates."
    )
    service_account_json: SecretStr | None = Field(
        default=None, description="A service account's key file, its JSON text (secret)."
    )
    oauth_client_id: str | None = Field(default=None, description="OAuth client id, with a user's refresh token.")
    oauth_client_secret: SecretStr | None = Field(default=None, description="OAuth client secret (secret).")
    oauth_refresh_token: SecretStr | None = Field(default=None, description="The user's refresh token (secret).")
    oauth_token_uri: str = Field(default=GOOGLE_TOKEN_URI, description="Token endpoint for the refresh token.")
    api_endpoint: str | None = Field(
        default=None, description="Address of the Sheets API, e.g. a local fake (default: Google's)."
    )
    write_requests_per_minute: int = Field(
        default=60, ge=1, description="Client-side budget of write requests per minute (Google's default quota)."
    )
    read_requests_per_minute: int = Field(default=60, ge=1, description="Client-side budget of read requests.")
    batch_rows: int = Field(default=5_000, ge=1, description="Rows of one stream written per batch (at most).")
    max_request_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=64 * 1024,
        le=10 * 1024 * 1024,
        description="Encoded values per request (at most); Google refuses payloads over 10 MiB.",
    )
    max_state_delay_s: float = Field(
        default=5.0, ge=0, description="A checkpoint waits at most this long for its batch to fill."
    )
    escape_formulas: bool = Field(
        default=True,
        description="Prefix text starting with = + - @ (or a tab/CR) with ' so exports (CSV) never run it as a "
        "formula; Sheets itself never does (values are written RAW).",
    )
    max_retries: int = Field(default=8, ge=0, description="Retries of a request after 429, 5xx or network errors.")
    retry_base_s: float = Field(default=1.0, ge=0, description="First backoff delay; doubles per retry.")
    retry_max_s: float = Field(default=64.0, ge=0, description="Longest backoff delay (Retry-After may be longer).")
    timeout_s: float = Field(default=120.0, gt=0, description="Socket timeout of one request.")

    @field_validator("service_account_json")
    @classmethod
    def _key_file(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        try:
            info = orjson.loads(value.get_secret_value())
        except orjson.JSONDecodeError:
            raise ValueError("not JSON: paste the content of the key file") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise ValueError('not a service account key (its "type" must be "service_account")')
        missing = [name for name in _KEY_FIELDS if not info.get(name)]
        if missing:
            raise ValueError(f"the key lacks {', '.join(missing)}")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> SheetsConfig:
        oauth = [self.oauth_client_id, self.oauth_client_secret, self.oauth_refresh_token]
        if self.service_account_json is not None and any(v is not None for v in oauth):
            raise ValueError("give either service_account_json or the oauth_* fields, not both")
        if self.service_account_json is None and not all(v is not None for v in oauth):
            raise ValueError(
                "give service_account_json, or oauth_client_id, oauth_client_secret and oauth_refresh_token"
            )
        return self

    def service_account_info(self) -> dict[str, Any] | None:
        """The parsed key file, if the config uses a service account."""
        if self.service_account_json is None:
            return None
        info: dict[str, Any] = orjson.loads(self.service_account_json.get_secret_value())
        return info

    def principal(self) -> str:
        """Who writes, for messages: the service account's email or the OAuth client id."""
        info = self.service_account_info()
        return str(info["client_email"]) if info else f"OAuth client {self.oauth_client_id}"

    def with_spreadsheet(self, spreadsheet_id: str) -> dict[str, Any]:
        """The full config (secrets in clear, for the engine to store) naming `spreadsheet_id`."""
        raw: dict[str, Any] = {}
        for name in self.model_fields_set | {"spreadsheet_id"}:
            value = getattr(self, name)
            raw[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        raw["spreadsheet_id"] = spreadsheet_id
        return raw

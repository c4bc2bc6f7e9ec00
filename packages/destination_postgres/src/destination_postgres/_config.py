"""The connector's config: where the database is, which schema to write to, and how to batch."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sync_protocol import ConfigError
from sync_protocol.sdk import Redactor

SYSTEM_SCHEMAS = frozenset({"information_schema"})

UNPARSABLE_URL = (
    "the connection URL cannot be parsed (expected postgresql://user:password@host:5432/database): a password"
    " with special characters such as '%', '@', '/' or spaces must be percent-encoded ('%25', '%40', '%2F',"
    " '%20'), or give host, user and password as separate fields"
)


def is_system_schema(name: str) -> bool:
    """PostgreSQL's own schemas (`pg_*`, `information_schema`): never written to nor torn down."""
    return name in SYSTEM_SCHEMAS or name.startswith("pg_")


class PostgresConfig(BaseModel):
    """How to reach PostgreSQL: a URL, or host/port/user/password/database; plus the target schema."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    url: SecretStr | None = Field(
        default=None, description="Connection URL, e.g. postgresql://user:password@host:5432/db (secret)."
    )
    host: str | None = Field(default=None, description="Server host, when no URL is given.")
    port: int = Field(default=5432, ge=1, le=65535, description="Server port, when no URL is given.")
    user: str | None = Field(default=None, description="User name, when no URL is given.")
    password: SecretStr | None = Field(default=None, description="Password (secret).")
    database: str | None = Field(default=None, description="Database name, when no URL is given.")
    sslmode: str | None = Field(default=None, description="libpq sslmode, e.g. require or verify-full.")
    target_schema: str = Field(
        default="public",
        alias="schema",
        min_length=1,
        max_length=63,
        description="Schema that holds the stream tables and the _sync_state table; created if missing.",
    )
    batch_size: int = Field(default=2_000, ge=1, description="Records per COPY batch and transaction (at most).")
    batch_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Encoded bytes per COPY batch (at most), bounds memory."
    )
    parallel_streams: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Connections (and streams loaded at the same time); more streams queue behind them.",
    )
    max_state_delay_s: float = Field(
        default=1.0, ge=0, description="A checkpoint waits at most this long for its batch to fill."
    )
    connect_timeout_s: int = Field(default=10, ge=1, description="Seconds to wait for a connection.")
    connect_retry_s: float = Field(
        default=60.0,
        ge=0,
        description="How long the first connection keeps retrying a server that refuses or does not answer"
        " (e.g. while it restarts); after that the command fails with a global error.",
    )

    @field_validator("target_schema")
    @classmethod
    def _not_system(cls, value: str) -> str:
        if is_system_schema(value):
            raise ValueError("a system schema cannot be the target")
        return value

    @model_validator(mode="after")
    def _has_server(self) -> PostgresConfig:
        if self.url is None and self.host is None:
            raise ValueError("give either url or host")
        return self

    def conninfo(self) -> str:
        """A libpq connection string; contains the password, so never print it. `ConfigError` (quoting nothing)
        when the URL cannot be parsed."""
        params: dict[str, Any] = {"application_name": "destination-postgres", "connect_timeout": self.connect_timeout_s}
        if self.url is None:
            params.update(host=self.host, port=self.port)
        parts = {"user": self.user, "dbname": self.database, "sslmode": self.sslmode}
        params.update({key: value for key, value in parts.items() if value is not None})
        if self.password is not None:
            params["password"] = self.password.get_secret_value()
        try:
            return make_conninfo(self.url.get_secret_value() if self.url else "", **params)
        except psycopg.ProgrammingError:
            raise ConfigError(UNPARSABLE_URL) from None  # psycopg's text quotes the offending part of the URL

    def secrets(self) -> list[str]:
        """Every secret value: the URL, the password field, and the URL's password (raw, decoded and as libpq
        reads it), found even when the URL cannot be parsed."""
        found: list[str] = []
        if self.password is not None:
            found.append(self.password.get_secret_value())
        if self.url is not None:
            url = self.url.get_secret_value()
            found.append(url)
            try:
                password = urlsplit(url).password
            except ValueError:
                password = None
            if password:
                found += [password, unquote(password)]
            try:
                parsed = conninfo_to_dict(url).get("password")
            except psycopg.Error:
                parsed = None
            if isinstance(parsed, str):
                found.append(parsed)
        return [s for s in found if s]

    def redactor(self) -> Redactor:
        """The SDK's redactor over `secrets()`: what every error text passes through."""
        return Redactor(self.secrets())

"""Flags that fill in the common connectors without a config file: `--stripe-api-key`, `--postgres-url`,
`--sheets-spreadsheet-id`, `--google-credentials` and the options beside them, from one table.

A connector is chosen by any of its selecting flags; given bare, such a flag means its conventional variable
(`${STRIPE_API_KEY}`, ...), read like any `${VAR}` in a config. A file flag puts the content of the file it names
into the config (Google's `GOOGLE_APPLICATION_CREDENTIALS` names the key file; the config holds its JSON).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._env import interpolate
from ._errors import PipelineConfigError


@dataclass(frozen=True)
class Field:
    """One flag and the config key it sets."""

    flag: str
    key: str
    help: str
    variable: str | None = None
    """Given bare, the flag means `${variable}`; a flag with a variable chooses its connector."""
    required: bool = False
    """When the connector is chosen without this flag, the flag's variable is used."""
    file: bool = False
    """The value names a file whose text goes into the config."""

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Shorthand:
    """A connector the flags in `fields` fill in."""

    role: str
    command: str
    fields: tuple[Field, ...]


SHORTHANDS = (
    Shorthand(
        "source",
        "source-stripe",
        (
            Field("--stripe-api-key", "api_key", "source: source-stripe with this key", "STRIPE_API_KEY"),
            Field("--stripe-api-base", "api_base", "source-stripe's API base URL (e.g. a local Stripe API)"),
        ),
    ),
    Shorthand(
        "destination",
        "destination-postgres",
        (
            Field("--postgres-url", "url", "destination: destination-postgres at this URL", "DATABASE_URL"),
            Field("--postgres-schema", "schema", "destination-postgres's schema"),
        ),
    ),
    Shorthand(
        "destination",
        "destination-google-sheets",
        (
            Field(
                "--sheets-spreadsheet-id",
                "spreadsheet_id",
                "destination: destination-google-sheets into this spreadsheet (none: setup creates one)",
                "GOOGLE_SHEETS_SPREADSHEET_ID",
            ),
            Field(
                "--google-credentials",
                "service_account_json",
                "destination: destination-google-sheets as the service account of this key file",
                "GOOGLE_APPLICATION_CREDENTIALS",
                required=True,
                file=True,
            ),
            Field("--sheets-api-endpoint", "api_endpoint", "destination-google-sheets's API (e.g. a local fake)"),
        ),
    ),
)


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Every shorthand flag; those with a variable may be given bare."""
    for shorthand in SHORTHANDS:
        for field in shorthand.fields:
            if field.variable is None:
                parser.add_argument(field.flag, help=field.help)
            else:
                when = "alone, or left out beside the other flags" if field.required else "alone"
                text = f"{field.help} ({when}: ${field.variable})"
                parser.add_argument(field.flag, nargs="?", const=f"${{{field.variable}}}", help=text)


def apply(args: argparse.Namespace, raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Put the connectors the flags choose into `raw` (a pipeline as JSON); `PipelineConfigError` for flags that
    contradict each other or name a file that cannot be read."""
    chosen: dict[str, str] = {}
    for shorthand in SHORTHANDS:
        given = [f for f in shorthand.fields if getattr(args, f.dest, None) is not None]
        selectors = [f.flag for f in given if f.variable is not None]
        if not selectors:
            if given:
                wanted = " or ".join(f.flag for f in shorthand.fields if f.variable is not None)
                raise PipelineConfigError(f"{given[0].flag} needs {wanted}")
            continue
        if shorthand.role in chosen:
            raise PipelineConfigError(f"{chosen[shorthand.role]} and {selectors[0]} both choose the {shorthand.role}")
        chosen[shorthand.role] = selectors[0]
        config: dict[str, Any] = {}
        for field in shorthand.fields:
            value = getattr(args, field.dest, None)
            if value is None and field.required:
                value = f"${{{field.variable}}}"
            if value is not None:
                config[field.key] = _read(field, value, env) if field.file else value
        raw[shorthand.role] = {"command": shorthand.command, "config": config}


def _read(field: Field, value: str, env: Mapping[str, str]) -> str:
    path = Path(interpolate(value, env, field.flag))
    try:
        return path.read_text()
    except OSError as exc:
        raise PipelineConfigError(f"{field.flag}: cannot read {str(path)!r}: {exc.strerror}") from None

"""Pure pieces: identifiers, the type mapping, secret scrubbing, config rules, the public surface."""

from __future__ import annotations

import destination_postgres
import pytest
from destination_postgres import PostgresConfig, pg_type_for
from destination_postgres._errors import scrub
from destination_postgres._naming import column_name, fit_identifier, table_name
from pydantic import ValidationError


def test_exported_members() -> None:
    assert sorted(destination_postgres.__all__) == destination_postgres.__all__
    for name in destination_postgres.__all__:
        assert hasattr(destination_postgres, name)


def test_identifiers_fit_63_bytes_without_splitting_characters() -> None:
    assert fit_identifier("select") == "select"
    long = "é" * 100
    fitted = fit_identifier(long)
    assert len(fitted.encode()) <= 63
    assert fitted.startswith("é" * 26)
    assert fitted != fit_identifier("é" * 101)
    assert fit_identifier(long) == fitted  # stable across runs
    assert column_name("_sync_raw") != "_sync_raw"
    assert table_name("_sync_state") != "_sync_state"
    assert fit_identifier("") and fit_identifier("a\x00b") != "a\x00b"


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, "text"),
        ({"type": ["string", "null"], "format": "date-time"}, "timestamp with time zone"),
        ({"type": "string", "format": "date"}, "date"),
        ({"type": "integer"}, "bigint"),
        ({"type": ["number", "null"]}, "numeric"),
        ({"type": ["integer", "number"]}, "numeric"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "object"}, "jsonb"),
        ({"type": "array"}, "jsonb"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "text"),
        ({"type": ["string", "integer"]}, "jsonb"),
        ({}, "jsonb"),
    ],
)
def test_type_mapping(schema: dict[str, object], expected: str) -> None:
    assert pg_type_for(schema) == expected


def test_scrub_masks_passwords_in_any_form() -> None:
    text = "bad dsn postgresql://bob:hunter22@h/db and password=hunter22 and password='x y'"
    cleaned = scrub(text, ["hunter22"])
    assert "hunter22" not in cleaned
    assert "x y" not in cleaned
    assert "bob" in cleaned


def test_config_rules() -> None:
    config = PostgresConfig.model_validate({"url": "postgresql://u:pw123456@h/db", "schema": "stripe"})
    assert config.target_schema == "stripe"
    assert "pw123456" in config.secrets()
    assert "pw123456" not in repr(config)
    with pytest.raises(ValidationError):
        PostgresConfig.model_validate({"url": "postgresql://h/db", "schema": "pg_catalog"})
    with pytest.raises(ValidationError):
        PostgresConfig.model_validate({"schema": "x"})

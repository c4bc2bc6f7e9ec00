"""Pure pieces: identifiers, the type mapping, secret scrubbing, config rules, the public surface."""

from __future__ import annotations

import destination_postgres
import pytest
from destination_postgres import PostgresConfig, pg_type_for
from destination_postgres._batch import Batch, RowEncoder
from destination_postgres._naming import column_name, fit_identifier, table_name
from pydantic import ValidationError
from sync_protocol import ConfigError, StreamError


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


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://bob:hunter22@h/db", "hunter22"),
        ("postgresql://bob:p%ss word@h/db", "p%ss word"),  # unparsable: still found
        ("postgresql://bob:h%40nter%2022@h/db", "h@nter 22"),  # percent-encoded: both spellings
    ],
)
def test_the_url_password_is_a_secret_in_every_spelling(url: str, password: str) -> None:
    config = PostgresConfig.model_validate({"url": url})
    redactor = config.redactor()
    text = f"failed for {url} with {password}"
    assert password not in redactor.text(text) and url not in redactor.text(text) and "bob" not in password


def test_an_unparsable_url_is_refused_without_quoting_it() -> None:
    config = PostgresConfig.model_validate({"url": "postgresql://bob:p%ss word@h/db"})
    with pytest.raises(ConfigError) as caught:
        config.conninfo()
    assert "p%ss" not in str(caught.value) and "percent-encoded" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_config_rules() -> None:
    config = PostgresConfig.model_validate({"url": "postgresql://u:pw123456@h/db", "schema": "stripe"})
    assert config.target_schema == "stripe"
    assert "pw123456" in config.secrets()
    assert "pw123456" not in repr(config)
    with pytest.raises(ValidationError):
        PostgresConfig.model_validate({"url": "postgresql://h/db", "schema": "pg_catalog"})
    with pytest.raises(ValidationError):
        PostgresConfig.model_validate({"schema": "x"})


def _staged_keys(records: list[bytes]) -> tuple[list[bytes], bool]:
    encoder, batch = RowEncoder("s", ("id",)), Batch()
    for data in records:
        encoder.add(batch, data, False)
    return batch.tail_keys, batch.has_duplicates


def test_a_key_has_one_spelling_so_repeats_are_found_however_they_are_escaped() -> None:
    keys, duplicates = _staged_keys([b'{"id":"cus_A","n":1}', b'{"n":2,"id":"cus_\\u0041"}'])
    assert keys == [b'["cus_A"]', b'["cus_A"]'] and duplicates
    keys, duplicates = _staged_keys([b'{"id":"a\\u0000b"}', b'{"id": 7}', b'{"id":"x y"}'])
    assert keys == ['["a\ufffdb"]'.encode(), b"[7]", b'["x y"]'] and not duplicates


def test_a_record_without_its_key_or_with_broken_json_is_a_stream_error() -> None:
    with pytest.raises(StreamError, match="no value for primary key"):
        _staged_keys([b'{"id":null}'])
    with pytest.raises(StreamError, match="no value for primary key"):
        _staged_keys([b'{"name":"x"}'])
    with pytest.raises(StreamError, match="not valid JSON"):
        _staged_keys([b'{"id":"a",}'])

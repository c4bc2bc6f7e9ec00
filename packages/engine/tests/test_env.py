"""`${VAR}` interpolation and `.env` files: strict, and never showing a value in an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_engine._env import environment, interpolate, parse_env_file
from sync_engine._errors import PipelineConfigError


def test_references_are_replaced_in_nested_strings_only() -> None:
    env = {"KEY": "sk_test_123", "HOST": "db"}
    config = {"api_key": "${KEY}", "url": "postgresql://${HOST}:5432/x", "n": 3, "list": ["${HOST}", True]}
    assert interpolate(config, env) == {
        "api_key": "sk_test_123", "url": "postgresql://db:5432/x", "n": 3, "list": ["db", True],
    }  # fmt: skip


def test_a_missing_variable_names_variable_and_place_but_no_value() -> None:
    with pytest.raises(PipelineConfigError) as caught:
        interpolate({"api_key": "${STRIPE_API_KEY}", "other": "${SET}"}, {"SET": "s3cret-value"}, "source.config")
    text = str(caught.value)
    assert "STRIPE_API_KEY" in text and "source.config.api_key" in text
    assert "s3cret-value" not in text


def test_dollar_dollar_escapes_and_bare_dollars_stay() -> None:
    assert interpolate("pa$$word $HOME $${KEEP}", {}) == "pa$$word $HOME ${KEEP}"


def test_a_malformed_reference_is_an_error() -> None:
    with pytest.raises(PipelineConfigError, match="not a variable reference"):
        interpolate("${not a name}", {})


def test_env_file_syntax() -> None:
    text = "# comment\nexport A=1\nB = 'two words'\nC=\"x\\ny\"\nD=plain # trailing\n\nE=\n"
    assert parse_env_file(text) == {"A": "1", "B": "two words", "C": "x\ny", "D": "plain", "E": ""}


def test_env_file_errors_name_the_line_not_the_value() -> None:
    with pytest.raises(PipelineConfigError, match=r"\.env:2: unbalanced") as caught:
        parse_env_file("A=1\nSECRET='sk_live_abc\n")
    assert "sk_live_abc" not in str(caught.value)
    with pytest.raises(PipelineConfigError, match=r"\.env:1: expected KEY=value"):
        parse_env_file("not an assignment")


def test_the_process_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=from-file\nB=from-file\n")
    assert environment({"A": "from-process"}, path) == {"A": "from-process", "B": "from-file"}
    with pytest.raises(PipelineConfigError, match="cannot read env file"):
        environment({}, tmp_path / "missing.env")

"""Checkpoint identity: what makes two pipelines different, and what a mismatch says."""

from __future__ import annotations

import pytest
from sync_engine import CheckpointMismatchError, PipelineConfigError
from sync_engine._identity import check_identity, default_pipeline_name, pipeline_identity

SOURCE = ["source-stripe"]
DESTINATION = ["destination-postgres"]


def test_secrets_do_not_count_but_the_database_a_secret_url_names_does() -> None:
    one = "postgresql://u:pw1@db-one:5432/app"
    two = "postgresql://u:pw1@db-two:5432/app"
    rotated = "postgresql://u:new-password@db-one:5432/app"
    base = pipeline_identity(SOURCE, {"api_key": "sk_1"}, DESTINATION, {"url": one}, {"sk_1", one})
    key_rotated = pipeline_identity(SOURCE, {"api_key": "sk_2"}, DESTINATION, {"url": rotated}, {"sk_2", rotated})
    other_db = pipeline_identity(SOURCE, {"api_key": "sk_1"}, DESTINATION, {"url": two}, {"sk_1", two})
    assert base.fingerprint == key_rotated.fingerprint, "rotating a key or password is the same pipeline"
    assert base.fingerprint != other_db.fingerprint, "a second database is a second pipeline"
    assert "pw1" not in base.model_dump_json() and "sk_1" not in base.model_dump_json()


def test_a_mismatch_names_the_keys_that_differ_and_how_to_proceed() -> None:
    stored = pipeline_identity(SOURCE, {"start_date": "2024-01-01"}, DESTINATION, {"schema": "a"}, set())
    current = pipeline_identity(SOURCE, {"start_date": "2024-01-01"}, DESTINATION, {"schema": "b"}, set())
    with pytest.raises(PipelineConfigError, match=r"destination\.config\.schema differ") as raised:
        check_identity("nightly", stored, current, adopt=False)
    assert "--adopt-checkpoint" in str(raised.value) and "'b'" not in str(raised.value)
    check_identity("nightly", stored, current, adopt=True)
    check_identity("nightly", None, current, adopt=False)  # a checkpoint from before identities: adopted


def test_adopting_source_changes_only_still_refuses_another_destination() -> None:
    stored = pipeline_identity(SOURCE, {"start_date": "2024-01-01"}, DESTINATION, {"schema": "a"}, set())
    source_changed = pipeline_identity(["wrapper", *SOURCE], {"start_date": "2023-01-01"}, DESTINATION,
                                       {"schema": "a"}, set())  # fmt: skip
    both_changed = pipeline_identity(SOURCE, {"start_date": "2023-01-01"}, DESTINATION, {"schema": "b"}, set())
    check_identity("svc", stored, source_changed, adopt="source")
    with pytest.raises(CheckpointMismatchError, match=r"\(destination\.config\.schema differ\)"):
        check_identity("svc", stored, both_changed, adopt="source")  # names only what it does not adopt
    check_identity("svc", stored, both_changed, adopt=True)


def test_default_names_differ_per_pipeline_and_selection() -> None:
    a = pipeline_identity(SOURCE, {}, DESTINATION, {"schema": "a"}, set())
    b = pipeline_identity(SOURCE, {}, DESTINATION, {"schema": "b"}, set())
    assert default_pipeline_name(a, SOURCE, ["*"]).startswith("source-stripe-")
    assert default_pipeline_name(a, SOURCE, ["*"]) != default_pipeline_name(b, SOURCE, ["*"])
    assert default_pipeline_name(a, SOURCE, ["customers"]) != default_pipeline_name(a, SOURCE, ["charges"])
    assert default_pipeline_name(a, [".venv/bin/python", "./my_source.py"], ["*"]).startswith("my_source-")

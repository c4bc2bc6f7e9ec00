"""The one rule from reported errors to run statuses."""

from __future__ import annotations

import pytest
from sync_protocol import Error, ErrorLevel, FailureType, RunStatus
from sync_service import error_kind, run_status


def _error(level: str, failure: str, stream: str | None = None) -> Error:
    return Error(level=ErrorLevel(level), failure_type=FailureType(failure), message="m", stream=stream)


@pytest.mark.parametrize(
    ("failure", "kind"),
    [("config_error", "error"), ("auth_error", "error"), ("system_error", "system_error"),
     ("transient_error", "system_error")],
)  # fmt: skip
def test_the_user_owns_config_and_credentials_everything_else_is_ours(failure: str, kind: str) -> None:
    assert error_kind(failure) == kind


def test_a_failed_run_is_judged_by_its_first_global_error() -> None:
    errors = [
        _error("stream", "system_error", "charges"),
        _error("global", "auth_error"),
        _error("global", "system_error"),
    ]
    assert run_status(RunStatus.FAILED, errors) == "error"


def test_exhausted_transient_retries_are_a_system_error() -> None:
    assert run_status(RunStatus.FAILED, [_error("transient", "transient_error")]) == "system_error"
    assert run_status(RunStatus.FAILED, []) == "system_error"


def test_partial_needs_a_stream_error_of_this_invocation() -> None:
    assert run_status(RunStatus.PARTIAL, [_error("stream", "system_error", "charges")]) == "partial"
    assert run_status(RunStatus.PARTIAL, []) == "succeeded"  # streams errored in an earlier chunk of the run
    assert run_status(RunStatus.SUCCEEDED, []) == "succeeded"

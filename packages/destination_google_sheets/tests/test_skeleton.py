"""Until it is built, the Sheets destination publishes its spec and refuses everything else plainly."""

from __future__ import annotations

import sys

from sync_protocol import ConnectionStatusValue
from sync_protocol.testing import ConnectorHarness

HARNESS = ConnectorHarness([sys.executable, "-m", "destination_google_sheets"])
CONFIG = {"service_account_json": "{}"}
CATALOG = {"streams": []}


def test_spec_marks_the_credentials_secret() -> None:
    spec = HARNESS.spec()
    assert spec.config["properties"]["service_account_json"]["writeOnly"] is True


def test_check_fails_honestly() -> None:
    status = HARNESS.check(CONFIG)
    assert status.status is ConnectionStatusValue.FAILED and "not implemented" in (status.message or "")


def test_setup_and_write_are_refused() -> None:
    assert (
        "not implemented"
        in HARNESS.invoke("setup", config=CONFIG, catalog=CATALOG, expect_exit=1).messages[-1].error.message
    )  # type: ignore[union-attr]
    assert "does not support `write`" in HARNESS.invoke("write", config=CONFIG, catalog=CATALOG, expect_exit=2).stderr

"""The pytest fixture of the conformance kit, used as a connector author would, in a pytest run of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.connectors import CONNECTORS_DIR

AUTHOR_TESTS = """
import sys

def test_good(conformance):
    report = conformance([{shell!r}], {{"count": 2}}, role="source")
    assert report.ok

def test_broken(conformance):
    conformance([sys.executable, {broken!r}], {{"api_key": "k-0123456789", "path": "x"}}, role="source")
"""


def test_the_fixture_passes_a_good_connector_and_fails_a_broken_one_with_the_report(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["sync_engine.conformance.pytest_plugin"]\n')
    (tmp_path / "test_author.py").write_text(
        AUTHOR_TESTS.format(
            shell=str(CONNECTORS_DIR / "shell_connector.sh"), broken=str(CONNECTORS_DIR / "broken" / "no_terminal.py")
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,
        check=False,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout + done.stderr
    assert "FAIL  source.terminal_status: missing terminal status: stream 'items'" in done.stdout

"""The code standards as tests: ruff and `mypy --strict` are clean on every package's source and the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "packages").glob("*/src"))


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("tool", ["check", "format"])
def test_ruff_is_clean(tool: str) -> None:
    args = ["check"] if tool == "check" else ["format", "--check"]
    done = run(sys.executable, "-m", "ruff", *args, "packages", "tests", "bench", "demo")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean_on_packages_and_tests() -> None:
    done = run(sys.executable, "-m", "mypy", "--strict", *SOURCES, "tests")
    assert done.returncode == 0, done.stdout + done.stderr

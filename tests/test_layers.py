"""The layer rule: connectors import only `sync_protocol` from this project; the engine imports no connector;
nothing imports the service, and the service imports no connector. The testbed stands beside them all, imports
none of them and is imported by none; no package and not the demo import (or run) anything under `tests/`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "packages"
CONNECTORS = ["source_stripe", "destination_postgres", "destination_google_sheets"]
PROJECT_MODULES = {"sync_protocol", "sync_engine", "sync_service", "sync_testbed", *CONNECTORS}


def imported_roots(package_dir: Path) -> set[str]:
    """Top-level modules that the package's `src` imports, or runs by name (`python -m tests.x` as a string)."""
    return _roots(package_dir / "src")


def _roots(folder: Path) -> set[str]:
    roots: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("tests."):
                roots.add("tests")
    return roots


@pytest.mark.parametrize("connector", CONNECTORS)
def test_connectors_import_only_the_protocol(connector: str) -> None:
    own = imported_roots(PACKAGES / connector) & PROJECT_MODULES
    assert own <= {"sync_protocol", connector}


def test_engine_imports_no_connector() -> None:
    assert imported_roots(PACKAGES / "engine") & PROJECT_MODULES <= {"sync_protocol", "sync_engine"}


def test_protocol_imports_nothing_else_of_the_project() -> None:
    assert imported_roots(PACKAGES / "protocol") & PROJECT_MODULES <= {"sync_protocol"}


def test_service_imports_no_connector() -> None:
    assert imported_roots(PACKAGES / "service") & PROJECT_MODULES <= {"sync_protocol", "sync_engine", "sync_service"}


@pytest.mark.parametrize("package", ["protocol", "engine", *CONNECTORS])
def test_nothing_imports_the_service(package: str) -> None:
    assert "sync_service" not in imported_roots(PACKAGES / package)


def test_testbed_imports_nothing_else_of_the_project() -> None:
    assert imported_roots(PACKAGES / "testbed") & PROJECT_MODULES <= {"sync_testbed"}


@pytest.mark.parametrize("package", sorted(p.name for p in PACKAGES.iterdir() if (p / "src").is_dir()))
def test_no_package_imports_the_tests(package: str) -> None:
    assert "tests" not in imported_roots(PACKAGES / package)


def test_the_demo_imports_only_installed_packages() -> None:
    roots = _roots(ROOT / "demo")
    assert roots, "the demo's sources were not found"
    assert "tests" not in roots
    assert "bench" not in roots


def test_the_scan_sees_a_module_run_by_name(tmp_path: Path) -> None:
    (tmp_path / "job.py").write_text('import subprocess\nsubprocess.run(["python", "-m", "tests.stripe_server"])\n')
    assert "tests" in _roots(tmp_path)

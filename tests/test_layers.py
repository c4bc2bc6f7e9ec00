"""The layer rule: connectors import only `sync_protocol` from this project; the engine imports no connector;
nothing imports the service, and the service imports no connector."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[1] / "packages"
CONNECTORS = ["source_stripe", "destination_postgres", "destination_google_sheets"]
PROJECT_MODULES = {"sync_protocol", "sync_engine", "sync_service", *CONNECTORS}


def imported_roots(package_dir: Path) -> set[str]:
    roots: set[str] = set()
    for path in (package_dir / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
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

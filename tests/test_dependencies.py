"""Each package imports only what it declares: a clean install of one package (the main job installs no test
tools) must never meet a module that only the development environment happened to provide."""

from __future__ import annotations

import ast
import importlib.metadata as md
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGES = Path(__file__).resolve().parents[1] / "packages"
ALLOWED = {("sync_engine", "pytest")}
"""(package, module) imported without a declaration: the conformance pytest plugin only ever runs inside pytest."""


def _import_names() -> dict[str, str]:
    """Import name → distribution name of every workspace package (editable installs record no top-level names)."""
    names: dict[str, str] = {}
    for pyproject in PACKAGES.glob("*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())
        for package in project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
            names[package.rsplit("/", 1)[-1]] = canonicalize_name(project["project"]["name"])
    return names


OWN = _import_names()


def _installable(distribution: str) -> set[str]:
    """Every distribution that installing `distribution` with all its extras brings, itself included."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(canonicalize_name(distribution), frozenset(md.metadata(distribution).get_all("Provides-Extra") or []))]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for line in md.requires(name) or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""}):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in seen}


def _imported(package: str) -> set[str]:
    roots: set[str] = set()
    for path in next(PACKAGES.glob(f"*/src/{package}")).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots - set(sys.stdlib_module_names) - {"__future__"}


@pytest.mark.parametrize("package", sorted(OWN))
def test_every_import_is_a_declared_dependency(package: str) -> None:
    providers = {name: [canonicalize_name(d) for d in dists] for name, dists in md.packages_distributions().items()}
    installable = _installable(OWN[package])
    undeclared = {
        module
        for module in _imported(package)
        if (package, module) not in ALLOWED
        and not ({OWN[module]} if module in OWN else set(providers.get(module, []))) & installable
    }
    assert undeclared == set()

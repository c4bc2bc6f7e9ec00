"""`__all__` matches the public namespace; workflow code imports nothing but the SDK and its payloads."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest
import sync_service


def test_all_lists_every_public_name() -> None:
    public = {n for n, v in vars(sync_service).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert set(sync_service.__all__) == public


@pytest.mark.parametrize("module", ["_workflows.py", "_payloads.py"])
def test_workflow_code_imports_only_the_sdk_and_the_payloads(module: str) -> None:
    """What the sandbox re-imports for every workflow run stays deterministic and light."""
    tree = ast.parse((Path(sync_service.__file__).parent / module).read_text())
    absolute: set[str] = set()
    relative: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            (relative if node.level else absolute).add(node.module.split(".")[0])
    assert absolute <= {"__future__", "asyncio", "dataclasses", "datetime", "typing", "temporalio"}
    assert relative <= {"_payloads"}

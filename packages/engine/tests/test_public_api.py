"""`__all__` matches each public module, and the engine never imports a connector."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest
import sync_engine
import sync_engine.blocking


@pytest.mark.parametrize("module", [sync_engine, sync_engine.blocking])
def test_all_lists_every_public_name(module: ModuleType) -> None:
    public = {n for n, v in vars(module).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert set(module.__all__) == public


def test_engine_imports_no_connector_package() -> None:
    code = "import sys, sync_engine, sync_engine.blocking, sync_engine._cli; print(','.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True).stdout.split(",")
    roots = {m.split(".")[0] for m in loaded}
    assert not roots & {"source_stripe", "destination_postgres", "destination_google_sheets", "stripe", "psycopg"}

"""`__all__` matches what each public module exports, and importing the protocol pulls in no heavy deps."""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType

import pytest
import sync_protocol
import sync_protocol.sdk
import sync_protocol.testing


@pytest.mark.parametrize("module", [sync_protocol, sync_protocol.sdk, sync_protocol.testing])
def test_all_lists_every_public_name(module: ModuleType) -> None:
    public = {
        name for name, value in vars(module).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(module.__all__) == public
    assert list(module.__all__) == sorted(module.__all__, key=lambda n: (not n.isupper(), n))


def test_importing_the_protocol_loads_no_engine_or_connector_libraries() -> None:
    code = (
        "import sys, sync_protocol, sync_protocol.sdk, sync_protocol.testing; "
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
        .stdout.strip()
        .split(",")
    )
    assert not loaded & {"anyio", "psycopg", "stripe", "googleapiclient", "sync_engine", "jsonschema", "rich"}

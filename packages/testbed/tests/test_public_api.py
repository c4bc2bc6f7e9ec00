"""`__all__` lists exactly each public module's public names, constants first, then sorted."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import sync_testbed
from sync_testbed import sheets_server, stripe_server


def _ours(value: Any) -> bool:
    """Not a module, a `__future__` feature or a function or class imported from outside the package."""
    if isinstance(value, ModuleType) or value is annotations:
        return False
    return not callable(value) or getattr(value, "__module__", "").startswith("sync_testbed")


@pytest.mark.parametrize("module", [sync_testbed, stripe_server, sheets_server], ids=lambda m: m.__name__)
def test_all_lists_every_public_name(module: ModuleType) -> None:
    public = {name for name, value in vars(module).items() if not name.startswith("_") and _ours(value)}
    assert set(module.__all__) == public
    assert list(module.__all__) == sorted(module.__all__, key=lambda n: (not n.isupper(), n))

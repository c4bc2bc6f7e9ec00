"""`__all__` lists exactly the package's public names, constants first, then sorted."""

from __future__ import annotations

from types import ModuleType

import destination_google_sheets


def test_all_lists_every_public_name() -> None:
    module = destination_google_sheets
    public = {
        name for name, value in vars(module).items() if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(module.__all__) == public
    assert list(module.__all__) == sorted(module.__all__, key=lambda n: (not n.isupper(), n))

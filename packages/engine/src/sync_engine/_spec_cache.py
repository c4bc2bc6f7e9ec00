"""Connectors' `spec` answers kept on disk across runs, so a sync does not start a connector just to ask it.

An entry is keyed by what would run: the resolved executable's identity (absolute path, size, mtime_ns, inode),
the identity of every argument that names a file (`python my_source.py`, `node ./source.js`), the install trees
beside the executable (`<prefix>/lib/python*/site-packages`: installing, upgrading or removing a package there
changes the folder, so `python -m source_x` is asked again after an upgrade), the argv and the extra environment
the pipeline gives the connector. Reinstalling or editing any of those asks the connector again. What a connector
imports from elsewhere (an editable install's source files) is not in the key: connector authors turn the cache
off (`--no-spec-cache`, `SYNC_ENGINE_NO_SPEC_CACHE=1`).

A file holds the digest of its key and the spec, nothing else (no argv, no environment values: they may hold
secrets; a spec has none, it is the connector's own declaration). Files are replaced atomically; one that cannot be
read or does not match is ignored, and a cache that cannot be written is no error.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sync_protocol import Spec

from ._files import replace_file

FORMAT = 1
DISABLE_VARIABLE = "SYNC_ENGINE_NO_SPEC_CACHE"
"""Set (to anything but empty or `0`) to have every spec asked afresh."""


def _identity(path: str) -> list[Any] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _install_trees(executable: str) -> list[list[Any] | None]:
    """Identities of the package folders of the executable's prefix (`<prefix>/bin/x`; symlinks not followed:
    a virtual environment's python links to the base interpreter)."""
    prefix = Path(os.path.abspath(executable)).parent.parent
    return [_identity(str(folder)) for folder in sorted(prefix.glob("lib/python*/site-packages"))]


class SpecCache:
    """Specs by connector identity in `directory` (created on first write, private to the user)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def key(self, argv: Sequence[str], env: Mapping[str, str] | None) -> str:
        """The digest naming the entry of `argv` (its executable already resolved) run with extra `env`."""
        files = [_identity(arg) for arg in argv if os.path.isfile(arg)]
        trees = _install_trees(argv[0]) if argv else []
        described = {
            "format": FORMAT,
            "argv": list(argv),
            "files": files,
            "trees": trees,
            "env": sorted((env or {}).items()),
        }
        return hashlib.sha256(orjson.dumps(described)).hexdigest()

    def load(self, key: str) -> Spec | None:
        """The spec stored under `key`; None when there is none or it cannot be used."""
        try:
            entry = orjson.loads((self.directory / f"{key}.json").read_bytes())
            if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
                return None
            return Spec.model_validate(entry["spec"])
        except (OSError, orjson.JSONDecodeError, KeyError, ValidationError):
            return None

    def save(self, key: str, spec: Spec) -> None:
        """Store `spec` under `key`; a cache that cannot be written is skipped."""
        entry = {"format": FORMAT, "key": key, "spec": spec.model_dump(mode="json", exclude_none=True)}
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            replace_file(self.directory / f"{key}.json", orjson.dumps(entry))
        except OSError:
            return


def default_spec_cache(env: Mapping[str, str]) -> SpecCache | None:
    """The user's cache, `$XDG_CACHE_HOME/sync-engine/specs` (else under `$HOME/.cache`); None when `env` names
    no home or sets `SYNC_ENGINE_NO_SPEC_CACHE`."""
    if env.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return None
    base = env.get("XDG_CACHE_HOME") or (str(Path(env["HOME"]) / ".cache") if env.get("HOME") else None)
    return SpecCache(Path(base) / "sync-engine" / "specs") if base else None

"""The spec cache on its own: what its key notices, what its files hold, and that a bad entry is only a miss."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sync_engine import SpecCache, default_spec_cache
from sync_protocol import Spec

SPEC = Spec(config={"type": "object", "properties": {"api_key": {"type": "string", "writeOnly": True}}})


def executable(tmp_path: Path) -> Path:
    path = tmp_path / "source-x"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_saved_spec_is_loaded_under_the_same_key(tmp_path: Path) -> None:
    cache, program = SpecCache(tmp_path / "cache"), executable(tmp_path)
    key = cache.key([str(program), "spec"], None)
    assert cache.load(key) is None
    cache.save(key, SPEC)
    assert cache.load(key) == SPEC
    assert SpecCache(tmp_path / "cache").load(cache.key([str(program), "spec"], None)) == SPEC


def test_the_key_changes_with_the_executable_its_files_argv_and_env(tmp_path: Path) -> None:
    cache, program = SpecCache(tmp_path / "cache"), executable(tmp_path)
    script = tmp_path / "source.js"
    script.write_text("// v1\n")
    key = cache.key([str(program), str(script), "spec"], {"MODE": "a"})
    assert cache.key([str(program), str(script), "spec"], {"MODE": "a"}) == key

    assert cache.key([str(program), str(script), "spec"], {"MODE": "b"}) != key
    assert cache.key([str(program), str(script), "--fast", "spec"], {"MODE": "a"}) != key
    os.utime(script, ns=(0, os.stat(script).st_mtime_ns + 1_000))  # an edited script
    assert cache.key([str(program), str(script), "spec"], {"MODE": "a"}) != key
    edited = cache.key([str(program), str(script), "spec"], {"MODE": "a"})
    program.write_text("#!/bin/sh\n# reinstalled\n")
    assert cache.key([str(program), str(script), "spec"], {"MODE": "a"}) != edited


def test_a_corrupt_or_foreign_entry_is_a_miss(tmp_path: Path) -> None:
    cache, program = SpecCache(tmp_path / "cache"), executable(tmp_path)
    key = cache.key([str(program), "spec"], None)
    cache.save(key, SPEC)
    entry = tmp_path / "cache" / f"{key}.json"
    for content in (b"{not json", b"[]", b'{"format": 1, "key": "other", "spec": {"config": {}}}', b'{"format": 1}'):
        entry.write_bytes(content)
        assert cache.load(key) is None
    entry.write_bytes(b'{"format": 1, "key": "%s", "spec": {"config": "not an object"}}' % key.encode())
    assert cache.load(key) is None


def test_entries_are_private_and_hold_neither_argv_nor_env(tmp_path: Path) -> None:
    cache, program = SpecCache(tmp_path / "cache"), executable(tmp_path)
    key = cache.key([str(program), "--token", "tok_argv_secret", "spec"], {"API_TOKEN": "tok_env_secret"})
    cache.save(key, SPEC)
    [entry] = (tmp_path / "cache").iterdir()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert b"secret" not in entry.read_bytes() and str(program).encode() not in entry.read_bytes()


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = SpecCache(blocker / "cache")  # a directory under a file cannot be made
    cache.save("k", SPEC)
    assert cache.load("k") is None


def test_the_default_cache_follows_xdg_and_can_be_turned_off(tmp_path: Path) -> None:
    xdg = default_spec_cache({"XDG_CACHE_HOME": str(tmp_path), "HOME": "/nowhere"})
    assert xdg is not None and xdg.directory == tmp_path / "sync-engine" / "specs"
    home = default_spec_cache({"HOME": str(tmp_path)})
    assert home is not None and home.directory == tmp_path / ".cache" / "sync-engine" / "specs"
    assert default_spec_cache({}) is None
    assert default_spec_cache({"HOME": str(tmp_path), "SYNC_ENGINE_NO_SPEC_CACHE": "1"}) is None
    assert default_spec_cache({"HOME": str(tmp_path), "SYNC_ENGINE_NO_SPEC_CACHE": "0"}) is not None


def test_upgrading_a_package_beside_the_interpreter_changes_the_key(tmp_path: Path) -> None:
    """`python -m source_x` names no file of the connector: what is installed beside the interpreter counts."""
    prefix = tmp_path / "venv"
    (prefix / "bin").mkdir(parents=True)
    site = prefix / "lib" / "python3.11" / "site-packages"
    (site / "source_x-1.0.dist-info").mkdir(parents=True)
    python = executable(prefix / "bin")
    cache = SpecCache(tmp_path / "cache")
    key = cache.key([str(python), "-m", "source_x", "spec"], None)
    assert cache.key([str(python), "-m", "source_x", "spec"], None) == key
    (site / "source_x-1.0.dist-info").rename(site / "source_x-1.1.dist-info")  # what an upgrade does to the folder
    os.utime(site, ns=(0, os.stat(site).st_mtime_ns + 1_000))  # (coarse file system clocks)
    assert cache.key([str(python), "-m", "source_x", "spec"], None) != key

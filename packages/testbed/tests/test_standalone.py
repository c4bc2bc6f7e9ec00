"""The servers as the demo runs them: `python -m sync_testbed.<server>` in a process of its own, on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from sync_testbed import free_port, wait_for_port
from sync_testbed.stripe_server import load_samples


@contextmanager
def serving(module: str, *flags: str) -> Iterator[int]:
    """Run `python -m module --port P flags…` until the block ends; yields P once it listens."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, "--port", str(port), *flags], stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, module, timeout_s=60)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def get(url: str, key: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


def test_stripe_server_serves_generated_objects_shaped_like_the_real_samples() -> None:
    sample = load_samples()["customer"]
    with serving("sync_testbed.stripe_server", "--scale", "3", "--streams", "customers", "--key", "sk_test_a") as port:
        status, page = get(f"http://127.0.0.1:{port}/v1/customers?limit=10", "sk_test_a")
        refused, _ = get(f"http://127.0.0.1:{port}/v1/customers", "sk_test_other")
    assert status == 200
    assert [c["id"] for c in page["data"]] == ["cus_0000000002", "cus_0000000001", "cus_0000000000"]
    assert set(page["data"][0]) == set(sample), "objects carry every field of Stripe's own sample"
    assert refused == 401


def test_sheets_server_writes_a_service_account_key_for_itself(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    key_file = tmp_path / "sa.json"
    with serving("sync_testbed.sheets_server", "--key-file", str(key_file)) as port:
        deadline = time.monotonic() + 10
        while not key_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        key = orjson.loads(key_file.read_bytes())
    assert key["type"] == "service_account"
    assert key["token_uri"].startswith(f"http://127.0.0.1:{port}/")
    assert "PRIVATE KEY" in key["private_key"]

"""The main job as a user runs it: `python -m demo` syncs the local Stripe API and verifies every row arrived.

Small (`--objects 20`), with its own throwaway PostgreSQL (`DATABASE_URL` unset) and the Sheets variant.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STREAMS = ["customers", "charges", "invoices", "payment_intents", "refunds"]


def run_demo(*flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "STRIPE_API_KEY"}}
    command = [sys.executable, "-m", "demo", "--objects", "20", "--no-progress", *flags]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280, check=False)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("destination", "where"), [("postgres", "stripe."), ("sheets", "tab ")])
def test_demo_syncs_every_object_and_says_so(destination: str, where: str) -> None:
    done = run_demo("--destination", destination)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sync succeeded: 100 records" in done.stdout
    for name in STREAMS:
        assert f"{where}{name:<16} {20:>8,} rows" in done.stdout
    assert "sk_test_demo_key_not_secret" not in done.stdout + done.stderr, "the key stays out of what is printed"

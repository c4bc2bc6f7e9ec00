"""Token bucket pacing and cancellation; generated schemas are current and match real Stripe samples."""

from __future__ import annotations

import copy
import threading
import time

import jsonschema
import pytest
import source_stripe
from source_stripe import STREAMS, CancelledError, TokenBucket
from source_stripe._schemagen import main as schemagen
from sync_testbed.stripe_server import load_samples


def test_bucket_paces_requests() -> None:
    bucket = TokenBucket(100.0, capacity=1.0)
    started = time.monotonic()
    for _ in range(21):
        bucket.acquire()
    assert 0.18 <= time.monotonic() - started < 0.6


def test_cancel_cuts_waits_short() -> None:
    bucket = TokenBucket(0.1, capacity=1.0)
    bucket.acquire()
    threading.Timer(0.1, bucket.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(CancelledError):
        bucket.acquire()  # would wait 10 s
    assert time.monotonic() - started < 1.0


def test_generated_schemas_are_current() -> None:
    assert schemagen(["--check"]) == 0


def test_at_least_thirty_streams_with_unique_names() -> None:
    names = [s.name for s in STREAMS]
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert {"customers", "charges", "invoices", "subscriptions", "events", "payment_methods"} <= set(names)


def test_samples_validate_and_wrong_types_fail() -> None:
    samples = load_samples()
    checked = 0
    for stream in STREAMS:
        sample = samples.get(stream.object_name)
        if sample is None:
            continue
        validator = jsonschema.Draft202012Validator(stream.json_schema)
        assert list(validator.iter_errors(sample)) == [], stream.name
        broken = copy.deepcopy(sample)
        broken["id"] = 12
        assert list(validator.iter_errors(broken)), stream.name
        checked += 1
    assert checked >= 30


def test_exports_match_all() -> None:
    public = {n for n in dir(source_stripe) if not n.startswith("_")}
    assert set(source_stripe.__all__) == public
    assert source_stripe.__all__ == sorted(source_stripe.__all__, key=lambda n: (not n.isupper(), n))

"""The SDK's `Inbox`: a destination's write loop gets messages in order, wakes up while input is silent, and sees
the end (or the reader's error) exactly where the input ended."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sync_protocol.sdk import Batched, Inbox


def test_items_arrive_in_order_and_the_end_is_stopiteration_every_time() -> None:
    inbox = Inbox(iter(range(5_000)))  # more than the reader may queue ahead
    got: list[int] = []
    while True:
        try:
            item = inbox.get(5.0)
        except StopIteration:
            break
        if item is not None:
            got.append(item)
    assert got == list(range(5_000))
    with pytest.raises(StopIteration):
        inbox.get(0.01)


def test_a_silent_input_returns_none_and_a_reader_error_is_raised_in_the_caller() -> None:
    release = threading.Event()

    def messages() -> Iterator[str]:
        yield "first"
        release.wait(10)
        raise ValueError("stdin broke")

    inbox = Inbox(messages())
    assert inbox.get(5.0) == "first"
    assert inbox.get(0.05) is None, "the loop wakes up while the source is silent"
    release.set()
    with pytest.raises(ValueError, match="stdin broke"):
        while inbox.get(5.0) is None:
            pass


def test_batched_input_crosses_a_batch_at_a_time_and_get_and_get_batch_mix() -> None:
    batches = [[n * 10 + i for i in range(10)] for n in range(100)]  # more batches than the reader may queue
    inbox = Inbox(Batched(iter([[], *batches])))  # an empty read hands nothing over
    assert inbox.get(5.0) == 0
    assert inbox.get(5.0) == 1
    assert inbox.get_batch(5.0) == list(range(2, 10)), "the rest of a batch `get` started"
    got: list[int] = []
    while True:
        try:
            batch = inbox.get_batch(5.0)
        except StopIteration:
            break
        assert batch, "never an empty batch"
        got.extend(batch)
    assert got == list(range(10, 1_000))


def test_batched_items_iterate_one_at_a_time() -> None:
    assert list(Batched(iter([[1, 2], [], [3]]))) == [1, 2, 3]

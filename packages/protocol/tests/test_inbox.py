"""The SDK's `Inbox`: a destination's write loop gets messages in order, wakes up while input is silent, and sees
the end (or the reader's error) exactly where the input ended."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sync_protocol.sdk import Inbox


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

"""Fair shares of the page workers between streams, and at most `max_streams` streams at once."""

from __future__ import annotations

from source_stripe._schedule import FairQueue


def test_a_stream_with_many_segments_does_not_take_every_slot() -> None:
    q: FairQueue[int] = FairQueue(max_streams=8)
    for n in range(40):
        q.add("customers", n)
    q.add("charges", 0)
    q.add("refunds", 0)
    started = [q.take() for _ in range(6)]
    names = [t[0] for t in started if t is not None]
    assert names.count("charges") == 1 and names.count("refunds") == 1 and names.count("customers") == 4


def test_a_stream_alone_gets_every_slot_and_streams_wait_their_turn() -> None:
    q: FairQueue[int] = FairQueue(max_streams=1)
    q.add("a", 1)
    q.add("a", 2)
    q.add("b", 1)
    assert q.take() == ("a", 1) and q.take() == ("a", 2) and q.take() is None  # b waits for a
    q.done("a")
    assert q.take() is None
    q.done("a")
    assert q.take() == ("b", 1)


def test_a_dropped_stream_hands_over() -> None:
    q: FairQueue[int] = FairQueue(max_streams=1)
    q.add("a", 1)
    q.add("a", 2)
    q.add("b", 1)
    assert q.take() == ("a", 1)
    q.drop("a")
    q.done("a")
    assert q.take() == ("b", 1)

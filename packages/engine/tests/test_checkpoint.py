"""The commit fence: echoes must confirm states in the order they were sent."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sync_engine import CheckpointError
from sync_engine._checkpoint import CommitFence
from sync_protocol import SourceState, StateType, SyncState, TimeRange

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def state(stream: str, n: int, span: tuple[int, int] | None = None) -> SourceState:
    time_range = TimeRange(gte=T0 + timedelta(hours=span[0]), lt=T0 + timedelta(hours=span[1])) if span else None
    return SourceState(stream=stream, data={"n": n}, time_range=time_range)


def test_in_order_echoes_fold_data_ranges_and_record_counts() -> None:
    fence = CommitFence(SyncState(), ["a", "b"])
    fence.records_sent(Counter({"a": 3}))
    fence.state_sent(state("a", 1, (0, 1)))
    fence.records_sent(Counter({"b": 1}))
    fence.state_sent(state("b", 1))
    fence.state_sent(state("a", 2, (1, 2)))
    first = fence.echo(state("a", 1, (0, 1)))
    assert first.records == {"a": 3}
    assert fence.echo(state("b", 1)).records == {"b": 1}
    assert fence.echo(state("a", 2, (1, 2))).records == {"a": 0}
    assert fence.committed.streams["a"].data == {"n": 2}
    assert fence.committed.streams["a"].completed_ranges == [TimeRange(gte=T0, lt=T0 + timedelta(hours=2))]
    assert fence.in_flight == 0


def test_echo_reserialised_differently_still_matches() -> None:
    fence = CommitFence(SyncState())
    fence.state_sent(SourceState.model_validate({"stream": "a", "data": {"x": 1, "y": [1, 2]}}))
    fence.echo(SourceState.model_validate_json(b'{"data": {"y": [1, 2], "x": 1}, "stream": "a", "extra": 5}'))


def test_streams_may_be_confirmed_independently_but_each_in_order() -> None:
    fence = CommitFence(SyncState(), ["a", "b"])
    fence.records_sent(Counter({"a": 1}))
    fence.state_sent(state("a", 1))
    fence.records_sent(Counter({"b": 2}))
    fence.state_sent(state("b", 1))
    assert fence.echo(state("b", 1)).records == {"b": 2}, "a parallel destination committed b first"
    assert fence.committed.streams["b"].data == {"n": 1} and "a" not in fence.committed.streams
    assert fence.echo(state("a", 1)).records == {"a": 1}


def test_global_state_waits_for_everything_before_it_but_holds_back_no_later_stream_state() -> None:
    fence = CommitFence(SyncState(), ["a", "b"])
    fence.state_sent(state("a", 1))
    glob = SourceState(state_type=StateType.GLOBAL, data={"g": 1})
    fence.state_sent(glob)
    fence.state_sent(state("b", 1))
    with pytest.raises(CheckpointError, match="older state of a stream"):
        fence.echo(glob)
    fence.echo(state("a", 1))
    fence.echo(state("b", 1))  # a destination holding the global state (an overwrite loading) commits b meanwhile
    assert fence.committed.streams["b"].data == {"n": 1} and fence.committed.global_state is None
    fence.echo(glob)
    assert fence.committed.global_state == {"g": 1} and fence.in_flight == 0


def test_abandoned_stream_needs_no_echo() -> None:
    fence = CommitFence(SyncState(), ["a", "b"])
    fence.state_sent(state("a", 1))
    fence.state_sent(state("b", 1))
    assert fence.abandon("a") == 1
    fence.echo(state("b", 1))
    assert fence.finish_clean() == Counter() and "a" not in fence.committed.streams


def test_skipped_echo_is_an_error() -> None:
    fence = CommitFence(SyncState())
    fence.state_sent(state("a", 1))
    fence.state_sent(state("a", 2))
    with pytest.raises(CheckpointError, match="out of order"):
        fence.echo(state("a", 2))
    assert fence.committed.streams == {}, "nothing advanced"


def test_invented_echo_is_an_error() -> None:
    fence = CommitFence(SyncState())
    with pytest.raises(CheckpointError, match="never sent"):
        fence.echo(state("a", 1))


def test_exit_with_unconfirmed_states_is_an_error_and_trailing_records_commit_on_clean_exit() -> None:
    fence = CommitFence(SyncState())
    fence.state_sent(state("a", 1))
    with pytest.raises(CheckpointError, match="without confirming 1"):
        fence.finish_clean()
    fence.echo(state("a", 1))
    fence.records_sent(Counter({"a": 1}))
    assert fence.finish_clean() == {"a": 1}


def test_global_state_applies_its_range_to_every_stream() -> None:
    fence = CommitFence(SyncState(), ["a", "b"])
    glob = SourceState(state_type=StateType.GLOBAL, data={"cursor": 9}, time_range=TimeRange(gte=T0, lt=T0))
    fence.state_sent(glob)
    fence.echo(glob)
    assert fence.committed.global_state == {"cursor": 9}


def test_echo_matches_whatever_the_destination_language_does_to_numbers() -> None:
    fence = CommitFence(SyncState())
    fence.state_sent(SourceState.model_validate({"stream": "a", "data": {"cursor": 1.0, "ratio": 0.5}}))
    fence.echo(SourceState.model_validate_json(b'{"stream": "a", "data": {"cursor": 1, "ratio": 0.5}}'))


def test_a_new_destination_process_forgets_states_sent_to_the_dead_one() -> None:
    fence = CommitFence(SyncState())
    fence.records_sent(Counter({"a": 1}))
    fence.state_sent(state("a", 1))
    fence.forget_in_flight()
    assert fence.in_flight == 0
    fence.state_sent(state("a", 1))
    assert fence.echo(state("a", 1)).records == {"a": 0}

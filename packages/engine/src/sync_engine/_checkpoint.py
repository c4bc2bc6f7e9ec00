"""The commit fence: state advances only on states the destination echoed, in the order they were sent.

Pure logic. The fence remembers each state forwarded to the destination and the records that preceded it; an echo
must match the oldest unconfirmed state, otherwise the destination skipped, reordered or invented one.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import orjson
from sync_protocol import SourceState, StateType, StreamState, SyncState, merge_ranges

from ._errors import CheckpointError


def state_key(state: SourceState) -> bytes:
    """A canonical form of a state, so an echo re-serialised by the destination still matches."""
    return orjson.dumps(state.model_dump(mode="json", exclude_none=True), option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class _Pending:
    state: SourceState
    key: bytes
    records: Counter[str]


@dataclass
class Commit:
    """What one confirmed echo committed: the state and the records that preceded it, by stream."""

    state: SourceState
    records: Counter[str]


@dataclass
class CommitFence:
    """Tracks states in flight to the destination and folds confirmed ones into the persisted `SyncState`."""

    committed: SyncState
    streams: list[str] = field(default_factory=list)
    _pending: deque[_Pending] = field(default_factory=deque)
    _records_since_state: Counter[str] = field(default_factory=Counter)

    @property
    def in_flight(self) -> int:
        """States sent and not yet confirmed."""
        return len(self._pending)

    def record_sent(self, stream: str) -> None:
        """A record of `stream` went to the destination."""
        self._records_since_state[stream] += 1

    def records_sent(self, counts: Counter[str]) -> None:
        """Several records went to the destination, counted by stream."""
        self._records_since_state.update(counts)

    def state_sent(self, state: SourceState) -> None:
        """A state went to the destination after the records counted so far."""
        self._pending.append(_Pending(state, state_key(state), self._records_since_state))
        self._records_since_state = Counter()

    def echo(self, state: SourceState) -> Commit:
        """The destination confirmed `state`; raise `CheckpointError` unless it is the oldest one in flight."""
        key = state_key(state)
        if not self._pending:
            raise CheckpointError(f"destination echoed a state that was never sent: {key[:200]!r}")
        head = self._pending[0]
        if key != head.key:
            later = next((i for i, p in enumerate(self._pending) if p.key == key), None)
            if later is None:
                raise CheckpointError(f"destination echoed a state that was never sent: {key[:200]!r}")
            raise CheckpointError(
                f"destination echoed states out of order: it confirmed state #{later + 1} in flight "
                f"before the oldest one ({head.key[:200]!r})"
            )
        self._pending.popleft()
        self._fold(state)
        return Commit(state, head.records)

    def finish_clean(self) -> Counter[str]:
        """The destination exited 0 after end of input: records after the last state are committed too."""
        if self._pending:
            raise CheckpointError(f"destination exited without confirming {len(self._pending)} state(s)")
        trailing, self._records_since_state = self._records_since_state, Counter()
        return trailing

    def _fold(self, state: SourceState) -> None:
        if state.state_type is StateType.GLOBAL:
            self.committed.global_state = state.data
            names = self.streams
        else:
            assert state.stream is not None
            stream = self.committed.streams.setdefault(state.stream, StreamState())
            stream.data = state.data
            names = [state.stream]
        if state.time_range is not None:
            for name in names:
                stream = self.committed.streams.setdefault(name, StreamState())
                stream.completed_ranges = merge_ranges([*stream.completed_ranges, state.time_range])

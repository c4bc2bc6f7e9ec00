"""The commit fence: state advances only on states the destination echoed, in the order they were sent.

Pure logic. The fence remembers each state forwarded to the destination and the records that preceded it. Order
is kept per stream: a destination may commit streams independently (in parallel), so an echo must match the
oldest unconfirmed state of its own stream. A global state covers everything sent before it, so it may be
confirmed only after every state sent before it; states of single streams sent after it may be confirmed before
it (a destination may hold a global state while an overwrite is still loading and keep committing the other
streams). Anything else means the destination skipped, reordered or invented a state.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import orjson
from sync_protocol import SourceState, StateType, StreamState, SyncState, merge_ranges

from ._errors import CheckpointError

_GLOBAL = "\x00global"
"""Queue key of global states (not a valid stream name on the wire)."""


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 1.0 and 1 are the same JSON number; other languages re-serialise them differently
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def state_key(state: SourceState) -> bytes:
    """A canonical form of a state, so an echo re-serialised by the destination (in any language) still matches."""
    return orjson.dumps(_canonical(state.model_dump(mode="json", exclude_none=True)), option=orjson.OPT_SORT_KEYS)


@dataclass(slots=True)
class _Pending:
    seq: int
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
    _queues: dict[str, deque[_Pending]] = field(default_factory=dict)
    _records_since_state: Counter[str] = field(default_factory=Counter)
    _seq: count[int] = field(default_factory=count)

    @property
    def in_flight(self) -> int:
        """States sent and not yet confirmed."""
        return sum(len(q) for q in self._queues.values())

    def in_flight_for(self, stream: str) -> int:
        """States of `stream` (and global ones, which cover it) sent and not yet confirmed."""
        return len(self._queues.get(stream, ())) + len(self._queues.get(_GLOBAL, ()))

    def records_sent(self, counts: Counter[str]) -> None:
        """Several records went to the destination, counted by stream."""
        self._records_since_state.update(counts)

    def state_sent(self, state: SourceState) -> None:
        """A state went to the destination after the records counted so far."""
        if state.state_type is StateType.GLOBAL or state.stream is None:
            queue_key, records = _GLOBAL, self._records_since_state
            self._records_since_state = Counter()
        else:
            queue_key = state.stream
            records = Counter({state.stream: self._records_since_state.pop(state.stream, 0)})
        pending = _Pending(next(self._seq), state, state_key(state), records)
        self._queues.setdefault(queue_key, deque()).append(pending)

    def echo(self, state: SourceState) -> Commit:
        """The destination confirmed `state`; raise `CheckpointError` unless it may be confirmed now."""
        key = state_key(state)
        is_global = state.state_type is StateType.GLOBAL or state.stream is None
        queue = self._queues.get(_GLOBAL if is_global else state.stream or "")
        where = "global states" if is_global else f"states of stream {state.stream!r}"
        if not queue or all(p.key != key for p in queue):
            raise CheckpointError(f"destination echoed a state that was never sent (or twice): {key[:200]!r}")
        head = queue[0]
        if head.key != key:
            raise CheckpointError(
                f"destination echoed {where} out of order: it confirmed a later one before {head.key[:200]!r}"
            )
        older = self._oldest_seq(exclude=queue) if is_global else None
        if older is not None and older < head.seq:
            raise CheckpointError(
                "destination confirmed a global state before an older state of a stream it had not confirmed yet"
            )
        queue.popleft()
        self._fold(state)
        return Commit(state, head.records)

    def forget_in_flight(self) -> None:
        """A new destination process starts: states sent to the previous one can never be confirmed now."""
        self._queues.clear()
        self._records_since_state = Counter()

    def finish_clean(self) -> Counter[str]:
        """The destination exited 0 after end of input: records after the last state are committed too."""
        if self.in_flight:
            raise CheckpointError(f"destination exited without confirming {self.in_flight} state(s)")
        trailing, self._records_since_state = self._records_since_state, Counter()
        return trailing

    def _oldest_seq(self, exclude: deque[_Pending]) -> int | None:
        heads = [q[0].seq for q in self._queues.values() if q and q is not exclude]
        return min(heads) if heads else None

    def abandon(self, stream: str) -> int:
        """The destination gave up `stream` (a stream error): its unconfirmed states will never be echoed.

        Returns how many states were dropped.
        """
        dropped = len(self._queues.pop(stream, ()))
        self._records_since_state.pop(stream, None)
        return dropped

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

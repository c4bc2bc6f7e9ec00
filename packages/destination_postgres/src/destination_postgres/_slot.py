"""One stream's place in a write session (`Slot`), and the jobs its queue holds."""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from sync_protocol import ConnectorError, DestinationSyncMode, SourceStateMessage, StreamError, StreamState

from ._batch import Batch, RowEncoder
from ._ddl import StreamTable
from ._load import Counts, StreamLoader


class Fatal:
    """A worker hit an error that stops the whole write; the calling thread re-raises it."""

    def __init__(self, error: ConnectorError) -> None:
        self.error = error


class Kind(enum.Enum):
    LOAD = "load"
    FINISH = "finish"
    """The source completed the stream: load the batch, then swap an overwrite in."""
    ABANDON = "abandon"
    """End of input with an overwrite unfinished: drop what it loaded."""
    FAIL = "fail"
    """A record of the stream could not be encoded: fail it, after what was queued before."""


@dataclass
class Job:
    kind: Kind
    batch: Batch
    error: StreamError | None = None


@dataclass
class Slot:
    """One stream's queue and where its load stands. Fields are owned by the calling thread or by the worker
    running the stream's job (one at a time), as marked; `scheduled` and `failed` are read under the session's
    condition."""

    table: StreamTable
    loader: StreamLoader
    encoder: RowEncoder
    state: StreamState | None
    batch: Batch = field(init=False)
    """Filling (calling thread only)."""
    jobs: deque[Job] = field(default_factory=deque)
    scheduled: bool = False
    """In the ready queue or being worked on (guarded by the session's condition)."""
    failing: bool = False
    """The calling thread stopped taking its input."""
    needs_finish: bool = False
    """Calling thread: an overwrite got records or states since its last `complete`."""
    completed: bool = False
    """Calling thread: the source completed the stream at least once in this run."""
    failed: bool = False
    """A worker failed it (worker side)."""
    overwrite_open: bool = False
    """Its overwrite table exists and holds loaded rows not swapped in yet (worker side)."""
    finished: bool = False
    """Its overwrite was swapped in and nothing was loaded since (worker side)."""
    held: list[SourceStateMessage] = field(default_factory=list)
    """States of an overwrite, echoed at the swap (worker side)."""
    held_counts: Counts = field(default_factory=Counts)
    """What an overwrite's batches did to its new table, reported at the swap (worker side)."""
    skip_unchanged: bool = False
    """Whether the table held rows before this run (set when the slot is made, before its first batch)."""
    oldest_state: float | None = None
    flushed: bool = False
    """Calling thread: a batch of it went to the workers (until then its first checkpoint flushes at once)."""
    overwrite: bool = field(init=False)
    """The stream replaces its table (a field, not a property: it is read for every record)."""

    def __post_init__(self) -> None:
        self.overwrite = self.table.mode == DestinationSyncMode.OVERWRITE
        self.batch = self.new_batch()

    def new_batch(self) -> Batch:
        """An empty batch; without keys while the table is loaded with plain INSERTs (the loader decides)."""
        return Batch(keyed=not (self.table.unique and self.loader.keyless))

    def close_overwrite(self, *, swapped: bool) -> None:
        """Its overwrite was swapped in or dropped: nothing is held any more (caller holds the condition)."""
        self.overwrite_open = False
        self.held = []
        self.held_counts = Counts()
        self.finished = swapped

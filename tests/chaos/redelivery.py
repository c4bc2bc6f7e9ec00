"""What destination-postgres receives again after the engine is killed, and what the engine's checkpoint lagged.

A `tee` in front of the destination logs every line it reads (the destination is still the engine's child: bash
`exec`s it with its stdin coming through the tee). When an engine invocation starts, the rows in Postgres are what
is committed; a record of one of them read again in that invocation was re-delivered. Counted once per record and
invocation, and only while the server's data does not change.
"""

from __future__ import annotations

import bisect
import math
import sys
from pathlib import Path

import msgspec
import psycopg
from psycopg import sql
from sync_protocol import SyncState, merge_ranges


def teed_destination(tmp_path: Path) -> tuple[str, Path]:
    """A destination command running destination-postgres behind a tee; (command, log of every line it read)."""
    log = tmp_path / "destination-input.ndjson"
    script = tmp_path / "teed-destination.sh"
    executable = Path(sys.executable).parent / "destination-postgres"
    script.write_text(f'#!/bin/bash\nexec "{executable}" "$@" < <(exec tee -a "{log}" 2>/dev/null)\n')
    log.touch()
    return f"bash {script}", log


def committed_created(url: str, schema: str, table: str) -> dict[str, int]:
    """id → `created` of every row the table holds (empty before the table exists)."""
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()
        if not found or found[0] is None:
            return {}
        query = sql.SQL("SELECT id, (_sync_raw->>'created')::bigint FROM {}").format(sql.Identifier(schema, table))
        return {row[0]: row[1] for row in conn.execute(query).fetchall()}


class Redelivery:
    """Brackets engine invocations: `begin` notes what is committed, `end` counts what came again."""

    def __init__(self, url: str, schema: str, streams: tuple[str, ...], log: Path) -> None:
        self._url, self._schema, self._streams, self._log = url, schema, streams, log
        self._committed: dict[str, dict[str, int]] = {}
        self._offset = 0

    def begin(self) -> None:
        """Call with no invocation running (and no orphaned connector still committing)."""
        self._committed = {s: committed_created(self._url, self._schema, s) for s in self._streams}
        self._offset = self._log.stat().st_size

    def end(self) -> tuple[int, int]:
        """Committed records (as of `begin`) the destination read again since, each counted once; and how many
        records it read in all (a zero is only news when records did flow)."""
        again: set[tuple[str, str]] = set()
        read = 0
        with self._log.open("rb") as log:
            log.seek(self._offset)
            for line in log:
                if not line.startswith(b'{"type":"record"'):
                    continue
                try:
                    record = _decode(line).record
                except msgspec.DecodeError:  # the last line of a killed invocation may be cut
                    continue
                read += 1
                if record.data.id in self._committed.get(record.stream, {}):
                    again.add((record.stream, record.data.id))
        return len(again), read

    def lag(self, saved: SyncState | None) -> int:
        """Rows in Postgres whose `created` lies outside the engine checkpoint's completed ranges: what the
        destination committed after the engine last saved, which a resumed source must read again."""
        outside = 0
        for stream in self._streams:
            kept = saved.streams.get(stream) if saved is not None else None
            ranges = merge_ranges(kept.completed_ranges) if kept is not None else []
            starts = [r.gte.timestamp() if r.gte is not None else -math.inf for r in ranges]
            ends = [r.lt.timestamp() if r.lt is not None else math.inf for r in ranges]
            for created in committed_created(self._url, self._schema, stream).values():
                at = bisect.bisect_right(starts, created) - 1  # merged ranges are sorted and disjoint
                outside += not (at >= 0 and created < ends[at])
        return outside


class _Data(msgspec.Struct):
    id: str


class _Record(msgspec.Struct):
    stream: str
    data: _Data


class _Line(msgspec.Struct):
    record: _Record


_decode = msgspec.json.Decoder(_Line).decode

"""The live lane's sync: pushed events only, so that it can run beside a backfill of the same pipeline.

A source with the `time_range` capability reads the range each stream is given, and an empty one (gte = lt)
reads nothing: the run only applies its `source_input`s. It keeps its own checkpoint, and with it its own lock
(the backfill's run holds the pipeline's). Streams written with `overwrite` are left out: a destination replaces
such a table with what the run wrote once the stream completes, and a live run writes only a few rows.
"""

from __future__ import annotations

from datetime import datetime

from sync_engine import Pipeline, StreamSelection
from sync_protocol import DestinationSyncMode, TimeRange

LIVE_SUFFIX = "-live"


def live_pipeline(pipeline: Pipeline, streams: list[StreamSelection], now: datetime) -> Pipeline:
    """`pipeline` reading nothing of `streams` but what is pushed to it, under its own checkpoint name."""
    nothing = TimeRange(gte=now, lt=now)
    kept = [
        s.model_copy(update={"time_range": nothing})
        for s in streams
        if s.destination_sync_mode is not DestinationSyncMode.OVERWRITE
    ]
    return pipeline.model_copy(update={"name": f"{pipeline.name}{LIVE_SUFFIX}", "streams": kept})

"""A pipeline moved to another destination starts over: its checkpoints say what the old destination holds.

The sync activities adopt a checkpoint whose source differs (the webhook feeder wraps the source's command, the user
edits its config) but never one whose destination differs: the engine refuses it. The setup activity, which the
workflow runs after the previous backfill and live sync stopped and before the next ones start, supersedes such a
checkpoint with an empty one that names the new destination, so no run that is still going can write the old one
back, and a run that still targets the old destination is refused instead of adopting the new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sync_engine import Engine, identity_changes
from sync_protocol import PipelineIdentity, SyncState


async def start_over_if_moved(engine: Engine, names: Sequence[str]) -> bool:
    """Supersede each checkpoint in `names` written for another destination than `engine`'s pipeline has now;
    True when one was. Each is changed under its lock (`StateLockedError` while a run holds it)."""
    current = await engine.identity()
    moved = False
    for name in names:
        with engine.store.lock(name):
            stored = await asyncio.to_thread(engine.store.load, name)
            if stored is None or stored.pipeline is None or not _destination_changed(stored.pipeline, current):
                continue
            await asyncio.to_thread(engine.store.save, name, SyncState(pipeline=current, finished=True))
            moved = True
    return moved


def _destination_changed(stored: PipelineIdentity, current: PipelineIdentity) -> bool:
    """A rotated secret is no change: identities hold no secrets, only what tells one target from another."""
    return any(part.startswith("destination.") for part in identity_changes(stored, current))

"""Updates and deletes after the backfill: Stripe events (listed or pushed) turned into fresh records.

An event's embedded object uses the account's API version, not ours, so the object is re-fetched; a 404 (or a
`*.deleted` event whose object is gone) becomes a tombstone record. Objects without a retrieve endpoint fall back
to the embedded copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sync_protocol import RecordMessage
from sync_protocol.sdk import record

from ._config import StripeConfig
from ._http import StripeHttp
from ._pages import retrieve
from ._streams import STREAMS_BY_OBJECT, StreamDef


@dataclass(frozen=True)
class Change:
    """One object an event says changed."""

    stream: StreamDef
    object_id: str
    deleted: bool
    embedded: dict[str, Any]
    created: int


def change_of(event: dict[str, Any]) -> Change | None:
    """The object an event is about, or None if it is not about an object of a known stream."""
    obj = (event.get("data") or {}).get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return None
    stream = STREAMS_BY_OBJECT.get(str(obj.get("object")))
    if stream is None or stream.name == "events":
        return None
    kind = str(event.get("type", ""))
    return Change(stream, obj["id"], kind.endswith(".deleted"), obj, int(event.get("created") or 0))


def list_changes(
    http: StripeHttp, config: StripeConfig, gte: int, lt: int, wanted: dict[str, int]
) -> tuple[list[Change], int]:
    """Every change in events created in [gte, lt) for streams in `wanted` (stream -> cursor second).

    Returns the latest change per object and the number of events read.
    """
    latest: dict[tuple[str, str], Change] = {}
    after: str | None = None
    count = 0
    while True:
        params = [("limit", str(config.page_size)), ("created[gte]", str(gte)), ("created[lt]", str(lt))]
        if after:
            params.append(("starting_after", after))
        body = http.get("/v1/events", params, stream="events")
        data: list[dict[str, Any]] = body.get("data", [])
        for event in data:
            count += 1
            change = change_of(event)
            if change is None or change.stream.name not in wanted or change.created < wanted[change.stream.name]:
                continue
            key = (change.stream.name, change.object_id)
            prev = latest.get(key)  # events come newest first: keep the newest, but remember any delete
            if prev is None or (change.deleted and not prev.deleted):
                latest[key] = (
                    change if prev is None else Change(prev.stream, prev.object_id, True, change.embedded, prev.created)
                )
        if not body.get("has_more") or not data:
            break
        after = data[-1]["id"]
    return list(latest.values()), count


def apply_changes(http: StripeHttp, changes: Iterable[Change], workers: int) -> Iterator[RecordMessage]:
    """Re-fetch each changed object (concurrently) and yield its record, or a tombstone when it is gone."""

    def fetch(change: Change) -> RecordMessage:
        current = retrieve(http, change.stream, change.object_id) if change.stream.retrieve_path else None
        if current is None and change.stream.retrieve_path is None and not change.deleted:
            return record(change.stream.name, change.embedded)
        if current is None or current.get("deleted") is True:
            return record(change.stream.name, {**change.embedded, "id": change.object_id}, deleted=True)
        return record(change.stream.name, current)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stripe-refetch") as pool:
        yield from pool.map(fetch, list(changes))

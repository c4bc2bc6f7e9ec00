"""Updates and deletes after the backfill: Stripe events (listed or pushed) turned into fresh records.

An event's embedded object uses the account's API version, not ours, so the object is re-fetched; a 404 (or a
`*.deleted` event whose object is gone) becomes a tombstone record. Objects without a retrieve endpoint fall back
to the embedded copy. An event about a parent (a subscription, a customer) lists that parent's children again
for per-parent streams that have no events of their own. A failure is one stream's: `Applied` says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from sync_protocol import RecordMessage, StreamError
from sync_protocol.sdk import record

from ._config import StripeConfig
from ._http import StripeHttp
from ._pages import list_children, matches_filters, object_time, retrieve
from ._streams import CHILDREN_BY_PARENT_OBJECT, StreamDef, stream_of


@dataclass(frozen=True)
class Change:
    """One object an event says changed (or, for per-parent streams, one parent whose children to list)."""

    stream: StreamDef
    object_id: str
    deleted: bool
    embedded: dict[str, Any]
    created: int
    """When the event was created."""
    relist: bool = False
    """List the children of parent `object_id` instead of re-fetching an object."""


def change_of(event: dict[str, Any]) -> Change | None:
    """The object an event is about, or None if it is not about an object of a known stream."""
    obj = (event.get("data") or {}).get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return None
    stream = stream_of(obj)
    if stream is None or stream.name == "events":
        return None
    kind = str(event.get("type", ""))
    return Change(stream, obj["id"], kind.endswith(".deleted"), obj, int(event.get("created") or 0))


def changes_of(event: dict[str, Any]) -> list[Change]:
    """The change an event names, plus a re-list of children for each per-parent stream of its object."""
    change = change_of(event)
    out = [change] if change is not None else []
    obj = (event.get("data") or {}).get("object")
    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
        created = int(event.get("created") or 0)
        children = CHILDREN_BY_PARENT_OBJECT.get(str(obj.get("object")), ())
        out.extend(Change(child, obj["id"], False, {}, created, relist=True) for child in children)
    return out


def list_changes(http: StripeHttp, config: StripeConfig, gte: int, lt: int, wanted: dict[str, int]) -> list[Change]:
    """The latest change per object in events created in [gte, lt), for streams in `wanted` (stream -> cursor).

    Raises the list's errors (mapped by the caller): without `/v1/events` no stream that relies on it can move.
    """
    latest: dict[tuple[str, str, bool], Change] = {}
    after: str | None = None
    while True:
        params = [("limit", str(config.page_size)), ("created[gte]", str(gte)), ("created[lt]", str(lt))]
        if after:
            params.append(("starting_after", after))
        body = http.get("/v1/events", params, stream="events")
        data: list[dict[str, Any]] = body.get("data", [])
        for event in data:
            for change in changes_of(event):
                cursor = wanted.get(change.stream.name)
                if cursor is None or change.created < cursor:
                    continue
                key = (change.stream.name, change.object_id, change.relist)
                prev = latest.get(key)  # events come newest first: keep the newest, but remember any delete
                if prev is None:
                    latest[key] = change
                elif change.deleted and not prev.deleted:
                    latest[key] = Change(prev.stream, prev.object_id, True, change.embedded, prev.created)
        if not body.get("has_more") or not data:
            break
        after = data[-1]["id"]
    return list(latest.values())


def skip_listed(changes: list[Change], listed_from: dict[str, int]) -> list[Change]:
    """Drop updates of objects this read listed anyway (created at or after the stream's `listed_from`)."""
    out = []
    for change in changes:
        since = listed_from.get(change.stream.name)
        if (
            since is not None
            and not change.deleted
            and not change.relist
            and object_time(change.stream, change.embedded, -1) >= since
        ):
            continue
        out.append(change)
    return out


@dataclass
class Applied:
    """What applying changes produced: records in order, and the first failure of each stream."""

    records: list[RecordMessage] = field(default_factory=list)
    failures: dict[str, StreamError] = field(default_factory=dict)


def apply_changes(http: StripeHttp, config: StripeConfig, changes: Iterable[Change]) -> Iterator[Applied]:
    """Re-fetch each changed object (concurrently) and yield its records, or a tombstone when it is gone.

    A stream error (a refused re-fetch) is kept per stream and never stops the other streams' changes.
    """

    def fetch(change: Change) -> Applied:
        out = Applied()
        name = change.stream.name
        try:
            out.records = _records(http, config, change)
        except StreamError as exc:
            out.failures[name] = exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problem = f"{name}: unexpected answer re-fetching {change.object_id} ({type(exc).__name__}: {exc})"
            out.failures[name] = StreamError(problem, stream=name)
        return out

    with ThreadPoolExecutor(max_workers=config.max_concurrency, thread_name_prefix="stripe-refetch") as pool:
        yield from pool.map(fetch, list(changes))


def _records(http: StripeHttp, config: StripeConfig, change: Change) -> list[RecordMessage]:
    stream = change.stream
    if change.relist:
        listed, _ = list_children(http, config, stream, change.object_id)
        children: list[dict[str, Any]] = [orjson.loads(c) for c in listed]  # few: parsed to check the filters
        return [record(stream.name, c) for c in children if matches_filters(config, stream, c)]
    current = retrieve(http, stream, change.object_id) if stream.retrieve_path else None
    if current is None and stream.retrieve_path is None and not change.deleted:
        current = change.embedded
    if current is None or current.get("deleted") is True:
        return [record(stream.name, {**change.embedded, "id": change.object_id}, deleted=True)]
    if not matches_filters(config, stream, current):
        return []
    return [record(stream.name, current)]

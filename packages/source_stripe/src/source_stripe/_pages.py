"""Fetching one page of a stream (runs in worker threads): list parameters, per-parent listing, re-fetch."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ._config import StripeConfig
from ._errors import StripeResponseError, map_stripe_errors
from ._http import StripeHttp
from ._segments import PageOutcome, Segment, advance
from ._streams import STREAMS_BY_NAME, StreamDef


@dataclass
class Page:
    """One list page: the objects as their JSON bytes (newest first), whether more follow, the cursor id and second.

    For per-parent streams the page is one of parents: `objects` are the children of the parents the
    precomputed `outcome` emits, and `times`/`last_id`/`has_more` describe the parent list.
    """

    objects: list[bytes]
    has_more: bool
    last_id: str | None
    times: list[int] = field(default_factory=list)
    requests: int = 1
    outcome: PageOutcome | None = None
    ids: list[str] = field(default_factory=list)
    """The objects' ids (of a page of parents: the parents')."""


class _ListBody(msgspec.Struct):
    data: list[msgspec.Raw] = []
    has_more: bool = False


_decode_list = msgspec.json.Decoder(_ListBody).decode


@functools.cache
def _head_decoder(time_field: str) -> Callable[[bytes], Any]:
    """Decodes an object's `id` and creation fields, skipping over everything else."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [("id", str), ("created", Any, None)]
    if time_field != "created":
        fields.append((time_field, Any, None))
    return msgspec.json.Decoder(msgspec.defstruct("Head", fields)).decode


def creation_second(value: Any, created: Any, default: int) -> int:
    """An object's creation second from its time field, else `created`; `default` when Stripe sends null."""
    if value is None:
        value = created
    return int(value) if isinstance(value, int | float) else default


def object_time(stream: StreamDef, obj: dict[str, Any], default: int = 0) -> int:
    """The creation second of `obj` (invoice items carry it in `date`); `default` when Stripe sends null."""
    return creation_second(obj.get(stream.time_field), obj.get("created"), default)


def read_list(stream: StreamDef, body: bytes, newest: int = 0) -> Page:
    """A list answer as a page: each object kept as its bytes (it is emitted as is), with its id and creation
    second decoded beside it; a null creation second takes its newer neighbour's (`newest` for the first)."""
    listed = _decode_list(body)
    decode = _head_decoder(stream.time_field)
    objects: list[bytes] = []
    ids: list[str] = []
    times: list[int] = []
    previous = newest
    for raw in listed.data:
        data = bytes(raw)
        head = decode(data)
        previous = creation_second(getattr(head, stream.time_field), head.created, previous)
        objects.append(data)
        ids.append(head.id)
        times.append(previous)
    return Page(objects, listed.has_more, ids[-1] if ids else None, times, ids=ids)


def filter_params(config: StripeConfig, stream: StreamDef) -> list[tuple[str, str]]:
    """The stream's own list parameters and the user's filters (`stream_params`)."""
    return [*stream.extra_params, *sorted(config.stream_params.get(stream.name, {}).items())]


def list_params(config: StripeConfig, stream: StreamDef, segment: Segment) -> list[tuple[str, str]]:
    """Query of one list request of `segment`."""
    params = [("limit", str(config.page_size)), *filter_params(config, stream)]
    params += list(stream.variants[segment.variant] if segment.variant < len(stream.variants) else ())
    if stream.created_filter and config.use_created_filter and segment.gte is not None:
        params.append(("created[gte]", str(segment.gte)))
    if stream.created_filter and config.use_created_filter and segment.lt is not None:
        params.append(("created[lt]", str(segment.lt)))
    if segment.after is not None:
        params.append(("starting_after", segment.after))
    return params


def fetch_page(http: StripeHttp, config: StripeConfig, stream: StreamDef, segment: Segment) -> Page:
    """One page of a top-level stream."""
    with map_stripe_errors(stream.name):
        body = http.get_body(stream.path, list_params(config, stream, segment), stream=stream.name)
    return read_list(stream, body, (segment.open_lt - 1) if segment.open_lt is not None else 0)


def fetch_children(
    http: StripeHttp, config: StripeConfig, stream: StreamDef, segment: Segment, fan_out: Executor
) -> Page:
    """One page of parents (e.g. customers), then every child list of the parents this page emits, fanned out.

    The plan for the parent page is made here, so children of parents a split will read again are not fetched.
    """
    assert stream.parent is not None
    parent = STREAMS_BY_NAME[stream.parent]
    parents = fetch_page(http, config, parent, segment)
    outcome = advance(
        segment,
        parents.times,
        parents.last_id,
        parents.has_more,
        target_objects=config.segment_objects,
        max_split=config.max_split,
    )
    ids = parents.ids[: outcome.emit]
    lists = list(fan_out.map(lambda parent_id: list_children(http, config, stream, parent_id), ids))
    children = [child for found, _ in lists for child in found]
    requests = 1 + sum(n for _, n in lists)
    return Page(children, parents.has_more, parents.last_id, parents.times, requests, outcome, parents.ids)


def list_children(http: StripeHttp, config: StripeConfig, stream: StreamDef, parent_id: str) -> tuple[list[bytes], int]:
    """Every child of one parent (all pages, as JSON bytes) and the number of requests; a parent gone since is
    empty."""
    children: list[bytes] = []
    after: str | None = None
    requests = 0
    path = stream.path.replace("{parent}", parent_id)
    while True:
        params = [("limit", str(config.page_size)), *filter_params(config, stream)]
        if stream.parent_param:
            params.append((stream.parent_param, parent_id))
        if after:
            params.append(("starting_after", after))
        with map_stripe_errors(stream.name):
            try:
                body = http.get_body(path, params, stream=stream.name, endpoint=stream.path)
            except StripeResponseError as exc:
                if exc.status == 404 and exc.code == "resource_missing":
                    return children, requests + 1  # the parent was deleted meanwhile
                raise
        requests += 1
        page = read_list(stream, body)
        children.extend(page.objects)
        if not page.has_more or not page.objects:
            return children, requests
        after = page.last_id


def retrieve(http: StripeHttp, stream: StreamDef, object_id: str) -> dict[str, Any] | None:
    """The current copy of one object, or None when Stripe no longer has it (404 `resource_missing`)."""
    assert stream.retrieve_path is not None
    with map_stripe_errors(stream.name):
        try:
            path = stream.retrieve_path.replace("{id}", object_id)
            body: dict[str, Any] = http.get(path, stream=stream.name, endpoint=stream.retrieve_path)
        except StripeResponseError as exc:
            if exc.status == 404 and exc.code == "resource_missing":
                return None
            raise
    return body


def matches_filters(config: StripeConfig, stream: StreamDef, obj: dict[str, Any]) -> bool:
    """Whether `obj` passes the user's list filters of its stream, so a re-fetched object outside them stays out.

    A filter naming no field of the object (it cannot be checked here) lets the object through.
    """
    for name, wanted in config.stream_params.get(stream.name, {}).items():
        if name not in obj:
            continue
        value = obj[name]
        if isinstance(value, dict):
            value = value.get("id")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if text != wanted:
            return False
    return True

"""Fetching one page of a stream (runs in worker threads): list parameters, per-parent listing, re-fetch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import stripe

from ._config import StripeConfig
from ._errors import map_stripe_errors
from ._http import StripeHttp
from ._segments import Segment
from ._streams import STREAMS_BY_NAME, StreamDef


@dataclass
class Page:
    """One list page: the objects (newest first), whether more follow, and the cursor id and second."""

    objects: list[dict[str, Any]]
    has_more: bool
    last_id: str | None
    times: list[int] = field(default_factory=list)
    requests: int = 1


def object_time(stream: StreamDef, obj: dict[str, Any]) -> int:
    """The creation second of `obj` (invoice items carry it in `date`)."""
    value = obj.get(stream.time_field)
    if value is None:
        value = obj.get("created", 0)
    return int(value)


def list_params(config: StripeConfig, stream: StreamDef, segment: Segment) -> list[tuple[str, str]]:
    """Query of one list request of `segment`."""
    params = [("limit", str(config.page_size)), *stream.extra_params]
    params += sorted(config.stream_params.get(stream.name, {}).items())
    if stream.created_filter and segment.gte is not None:
        params.append(("created[gte]", str(segment.gte)))
    if stream.created_filter and segment.lt is not None:
        params.append(("created[lt]", str(segment.lt)))
    if segment.after is not None:
        params.append(("starting_after", segment.after))
    return params


def fetch_page(http: StripeHttp, config: StripeConfig, stream: StreamDef, segment: Segment) -> Page:
    """One page of a top-level stream."""
    with map_stripe_errors(stream.name):
        body = http.get(stream.path, list_params(config, stream, segment), stream=stream.name)
    objects: list[dict[str, Any]] = body.get("data", [])
    last = objects[-1]["id"] if objects else None
    return Page(objects, bool(body.get("has_more")), last, [object_time(stream, o) for o in objects])


def fetch_children(http: StripeHttp, config: StripeConfig, stream: StreamDef, segment: Segment) -> Page:
    """One page of parents (e.g. customers), then every child list of each (e.g. their payment methods).

    The cursor is the parent's: `has_more`/`last_id` describe the parent list.
    """
    assert stream.parent is not None
    parent = STREAMS_BY_NAME[stream.parent]
    parents = fetch_page(http, config, parent, segment)
    children: list[dict[str, Any]] = []
    requests = 1
    for obj in parents.objects:
        after: str | None = None
        while True:
            path = stream.path.replace("{parent}", obj["id"])
            params = [("limit", str(config.page_size))]
            if stream.parent_param:
                params.append((stream.parent_param, obj["id"]))
            if after:
                params.append(("starting_after", after))
            with map_stripe_errors(stream.name):
                body = http.get(path, params, stream=stream.name)
            requests += 1
            data: list[dict[str, Any]] = body.get("data", [])
            children.extend(data)
            if not body.get("has_more") or not data:
                break
            after = data[-1]["id"]
    return Page(children, parents.has_more, parents.last_id, parents.times, requests)


def retrieve(http: StripeHttp, stream: StreamDef, object_id: str) -> dict[str, Any] | None:
    """The current copy of one object, or None when Stripe no longer has it (404 `resource_missing`)."""
    assert stream.retrieve_path is not None
    with map_stripe_errors(stream.name):
        try:
            body: dict[str, Any] = http.get(stream.retrieve_path.replace("{id}", object_id), stream=stream.name)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 and exc.code == "resource_missing":
                return None
            raise
    return body

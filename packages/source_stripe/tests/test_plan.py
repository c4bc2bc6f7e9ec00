"""Span arithmetic of the read planner, against sets of seconds; what a later read lists, per strategy."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from source_stripe import STREAMS_BY_NAME, StripeConfig
from source_stripe._backfill import merge_spans
from source_stripe._plan import plan, subtract
from sync_protocol import ConfiguredStream, StreamState, SyncMode, TimeRange

spans = st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda t: (min(t), max(t))), max_size=6)


def _seconds(items: list[tuple[int, int]]) -> set[int]:
    return {s for a, b in items for s in range(a, b)}


@given(spans, spans)
def test_subtract_and_merge_are_set_operations(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    merged = merge_spans(a)
    assert _seconds(merged) == _seconds(a)
    assert all(x[1] < y[0] for x, y in itertools.pairwise(merged))  # disjoint, not touching
    assert _seconds(subtract(a, b)) == _seconds(a) - _seconds(b)


def _stream(name: str) -> ConfiguredStream:
    return ConfiguredStream(
        name=name,
        json_schema={},
        primary_key=[["id"]],
        sync_mode=SyncMode.INCREMENTAL,
        time_range=TimeRange(gte=datetime.fromtimestamp(1_000, UTC)),
    )


def _done(covered: list[list[int]], events_after: int, reread_at: int | None = None) -> StreamState:
    data = {"v": 2, "covered": covered, "segments": [], "done": True, "events_after": events_after}
    return StreamState(data={**data, "reread_at": reread_at})


def test_each_strategy_lists_what_it_must() -> None:
    cfg = StripeConfig(api_key="sk_test_x", lookback_days=1, reread_every_s=3600)
    now = 1_000_000
    saved = _done([[1_000, 900_000]], 900_000, reread_at=now - 60)
    events, _ = plan(cfg, STREAMS_BY_NAME["customers"], _stream("customers"), saved, 1_000, now)
    assert [(s.gte, s.lt) for s in events.segments.values()] == [(900_000, now)]  # only the new range
    assert events.listed_from == 900_000 and events.events_after == 900_000
    lookback, _ = plan(cfg, STREAMS_BY_NAME["balance_transactions"], _stream("balance_transactions"), saved, 0, now)
    assert [(s.gte, s.lt) for s in lookback.segments.values()] == [(900_000 - 86_400, now)]
    fresh, _ = plan(cfg, STREAMS_BY_NAME["tax_codes"], _stream("tax_codes"), saved, 0, now)
    assert not fresh.segments  # re-read an hour ago: not due
    due, _ = plan(cfg, STREAMS_BY_NAME["tax_codes"], _stream("tax_codes"), saved, 0, now + 3600)
    assert [(s.gte, s.lt) for s in due.segments.values()] == [(None, None)] and due.reread_at == now + 3600
    prices, _ = plan(cfg, STREAMS_BY_NAME["prices"], _stream("prices"), None, 1_000, now)
    assert sorted(s.variant for s in prices.segments.values()) == [0, 1]  # active and archived, each listed
    stale, warning = plan(cfg, STREAMS_BY_NAME["customers"], _stream("customers"), saved, 1_000, now + 40 * 86_400)
    assert (
        warning
        and "no tombstones" in warning
        and [(s.gte, s.lt) for s in stale.segments.values()] == [(1_000, now + 40 * 86_400)]
    )

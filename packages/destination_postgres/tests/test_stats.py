"""Row counts: what each committed merge inserted, updated and deleted, reported in `stats` messages."""

from __future__ import annotations

from typing import Any

from psycopg import sql
from sync_protocol import (
    Message,
    SourceStateMessage,
    StatsMessage,
    StreamStatus,
    StreamStatusMessage,
    StreamStatusValue,
)
from sync_protocol.sdk import record, stream_state
from sync_protocol.testing import ConnectorHarness

from .test_write import catalog, stream

PROPS = {"id": {"type": "string"}, "n": {"type": "integer"}}


def totals(messages: list[Message], name: str = "s") -> tuple[int, int, int]:
    """Inserted, updated and deleted rows of stream `name`, summed over its stats messages."""
    found = [m.stats for m in messages if isinstance(m, StatsMessage) and m.stats.stream == name]
    return (
        sum(s.inserted_count or 0 for s in found),
        sum(s.updated_count or 0 for s in found),
        sum(s.deleted_count or 0 for s in found),
    )


def complete(name: str = "s") -> StreamStatusMessage:
    return StreamStatusMessage(stream_status=StreamStatus(stream=name, status=StreamStatusValue.COMPLETE))


def test_load_update_and_delete_counts(harness: ConnectorHarness, config: dict[str, Any]) -> None:
    cat = catalog(stream("s", PROPS))
    first = [record("s", {"id": f"r{i}", "n": i}) for i in range(10)]
    loaded = harness.write(config, cat, [*first, stream_state("s", 1)])
    assert totals(loaded.messages) == (10, 0, 0)
    # the counts of a commit come before the state it covers
    kinds = [m.type for m in loaded.messages if isinstance(m, StatsMessage | SourceStateMessage)]
    assert kinds == ["stats", "source_state"]

    # a re-run: three changed, two new, the rest unchanged (neither inserted nor updated)
    changed = [record("s", {"id": f"r{i}", "n": 100 + i}) for i in range(3)]
    again = [*first[3:], *changed, record("s", {"id": "new1", "n": 1}), record("s", {"id": "new2", "n": 2})]
    rerun = harness.write(config, cat, [*again, stream_state("s", 2)])
    assert totals(rerun.messages) == (2, 3, 0)

    # tombstones delete what exists; one for a key never loaded deletes nothing
    tombstones = [record("s", {"id": key}, deleted=True) for key in ("r4", "new1", "never")]
    deleted = harness.write(config, cat, [*tombstones, stream_state("s", 3)])
    assert totals(deleted.messages) == (0, 0, 2)

    unchanged = harness.write(config, cat, [*first[5:], stream_state("s", 4)])
    assert totals(unchanged.messages) == (0, 0, 0)
    assert any(isinstance(m, StatsMessage) for m in unchanged.messages), "zeros are reported, not left unknown"


def test_counts_within_one_batch_and_across_batches(harness: ConnectorHarness, config: dict[str, Any]) -> None:
    cat = catalog(stream("s", PROPS))
    messages: list[Any] = [
        record("s", {"id": "a", "n": 1}),
        record("s", {"id": "a", "n": 2}),  # superseded within the batch: one row inserted
        record("s", {"id": "b", "n": 1}),
        record("s", {"id": "b"}, deleted=True),  # inserted then deleted before any commit: nothing
        stream_state("s", 1),
    ]
    # two batches: the second updates a row the first inserted
    small = config | {"batch_size": 3}
    messages += [record("s", {"id": "a", "n": 3}), record("s", {"id": "c", "n": 1}), stream_state("s", 2)]
    result = harness.write(small, cat, messages)
    assert [s.source_state.data for s in result.states] == [1, 2]
    inserted, updated, deleted = totals(result.messages)
    assert (inserted, updated) == (2, 1)
    assert deleted == 0


def test_append_counts_every_version(harness: ConnectorHarness, config: dict[str, Any]) -> None:
    cat = catalog(stream("log", PROPS, mode="append"))
    rows = [record("log", {"id": "a", "n": i}) for i in range(4)]
    result = harness.write(config, cat, [*rows, stream_state("log", 1), complete("log")])
    assert totals(result.messages, "log") == (4, 0, 0)


def test_overwrite_reports_at_the_swap_only(harness: ConnectorHarness, config: dict[str, Any], db: Any) -> None:
    cat = catalog(stream("o", PROPS, mode="overwrite"))
    rows = [record("o", {"id": f"r{i}", "n": i}) for i in range(5)]
    unfinished = harness.write(config, cat, [*rows, stream_state("o", 1)])
    assert totals(unfinished.messages, "o") == (0, 0, 0)
    assert not unfinished.of_type(StatsMessage), "a dropped overwrite committed nothing visible"

    small = config | {"batch_size": 2}  # two batches into the new table, reported once, at the swap
    done = harness.write(small, cat, [*rows[:2], stream_state("o", 1), *rows[2:], stream_state("o", 2), complete("o")])
    stats = done.of_type(StatsMessage)
    assert len(stats) == 1 and totals(done.messages, "o") == (5, 0, 0)
    assert [s.source_state.data for s in done.states] == [1, 2]
    assert done.messages.index(stats[0]) < done.messages.index(done.states[0])


def test_a_value_that_does_not_fit_falls_back_to_the_tolerant_projection(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    props = PROPS | {"at": {"type": "string", "format": "date-time"}, "ok": {"type": "boolean"}}
    cat = catalog(stream("s", props))
    messages: list[Any] = [
        record("s", {"id": "good", "n": 1, "at": "2024-05-01T10:00:00+02:00", "ok": True}),
        record("s", {"id": "numeric-string", "n": "12", "at": "now", "ok": False}),
        stream_state("s", 1),
        # the second batch holds values the one-pass projection refuses: it is loaded by the tolerant one
        record("s", {"id": "word", "n": "twelve", "at": "2024-13-45", "ok": None}),
        record("s", {"id": "late", "n": 5, "at": "2024-05-02", "ok": True}),
        stream_state("s", 2),
    ]
    result = harness.write(config | {"batch_size": 2}, cat, messages)
    assert [s.source_state.data for s in result.states] == [1, 2]
    assert totals(result.messages) == (4, 0, 0)
    query = sql.SQL("SELECT id, n, at::text, ok FROM {} ORDER BY id").format(sql.Identifier(pg_schema, "s"))
    db.execute("SET TIME ZONE 'UTC'")
    assert db.execute(query).fetchall() == [
        ("good", 1, "2024-05-01 08:00:00+00", True),
        ("late", 5, "2024-05-02 00:00:00+00", True),
        ("numeric-string", 12, None, False),  # one pass: "12" fits a bigint; "now" is no date-time
        ("word", None, None, None),
    ]


def stored(db: Any, schema: str, name: str = "s") -> dict[str, int]:
    query = sql.SQL("SELECT id, n FROM {}").format(sql.Identifier(schema, name))
    return dict(db.execute(query).fetchall())


def test_a_first_load_without_client_keys_still_merges_repeats_and_tombstones(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    """Into an empty table, batches go out without keys; repeats inside a batch, repeats across batches and
    tombstones make the server fill the keys in, and the result is what a keyed merge gives."""
    cat = catalog(stream("s", PROPS))
    small = config | {"batch_size": 4}
    messages: list[Message] = [
        record("s", {"id": "a", "n": 1}),
        record("s", {"id": "b", "n": 1}),
        record("s", {"id": "a", "n": 2}),  # a repeat inside the first batch
        stream_state("s", 1),
        record("s", {"id": "c", "n": 1}),
        record("s", {"id": "b", "n": 2}),  # a repeat of an earlier batch
        record("s", {"id": "d", "n": 1}),
        stream_state("s", 2),
        record("s", {"id": "c"}, deleted=True),  # a tombstone for a row loaded in this run
        record("s", {"id": "e", "n": 1}),
        stream_state("s", 3),
    ]
    result = harness.write(small, cat, messages)
    assert [s.source_state.data for s in result.states] == [1, 2, 3]
    assert stored(db, pg_schema) == {"a": 2, "b": 2, "d": 1, "e": 1}
    assert totals(result.messages) == (5, 1, 1)  # a, b, c, d, e inserted; b updated; c deleted


def test_a_first_load_without_client_keys_reports_a_missing_key_as_before(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    cat = catalog(stream("s", PROPS))
    messages: list[Message] = [record("s", {"id": "a", "n": 1}), record("s", {"n": 2}), stream_state("s", 1)]
    result = harness.write(config, cat, messages)
    [error] = [m.error for m in result.messages if m.type == "error"]
    assert error.stream == "s" and "no value for primary key ['id']" in error.message
    assert result.states == [] and stored(db, pg_schema) == {}

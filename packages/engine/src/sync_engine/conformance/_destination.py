"""Checks of a destination: echo order and pass-through, durability at each echo, a kill between states, overwrite.

Durability can only be seen from outside through a `readback` the caller gives (what the destination holds now);
without one, the checks that need it are reported as skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sync_protocol import ConfiguredCatalog, DestinationSyncMode

from ._checks import echo_order, parse_output, truncation
from ._context import Context, Readback, describe_exit

STREAM = "conformance_items"
UNKNOWN_TYPE = "conformance_probe"


def catalog(mode: DestinationSyncMode = DestinationSyncMode.APPEND_DEDUP) -> ConfiguredCatalog:
    """One small stream with a string primary key `id`."""
    return ConfiguredCatalog.model_validate(
        {
            "streams": [
                {
                    "name": STREAM,
                    "json_schema": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}, "n": {"type": "integer"}},
                        "required": ["id"],
                    },
                    "primary_key": [["id"]],
                    "destination_sync_mode": mode.value,
                }
            ]
        }
    )


def records(tag: str, count: int) -> list[bytes]:
    """`count` record lines with ids `<tag>-<i>`."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [
        orjson.dumps(
            {"type": "record", "record": {"stream": STREAM, "data": {"id": f"{tag}-{i}", "n": i}, "emitted_at": now}}
        )
        for i in range(count)
    ]


def state(n: int) -> bytes:
    """A stream state line whose data counts the batches."""
    return orjson.dumps(
        {"type": "source_state", "source_state": {"state_type": "stream", "stream": STREAM, "data": {"batch": n}}}
    )


def started() -> bytes:
    """The status a source sends first: the stream's load is under way (and no longer ended by end of input)."""
    return orjson.dumps({"type": "stream_status", "stream_status": {"stream": STREAM, "status": "started"}})


def complete() -> bytes:
    """The terminal status that finishes the stream (and swaps in an overwrite)."""
    return orjson.dumps({"type": "stream_status", "stream_status": {"stream": STREAM, "status": "complete"}})


def unknown() -> bytes:
    """A message of a type the protocol does not define; it must come back unchanged."""
    return orjson.dumps({"type": UNKNOWN_TYPE, UNKNOWN_TYPE: {"n": 1, "note": "pass me through"}})


def check_write(ctx: Context, readback: Readback | None) -> None:
    """Echoes in order after durable records, unknown messages passed through."""
    catalog_file = ctx.invoker.arg_file("catalog", catalog().model_dump(mode="json", exclude_none=True))
    session = ctx.invoker.session(["write", "--config", ctx.config_file(), "--catalog", catalog_file])
    first, second = records("a", 5), records("b", 5)
    session.send([started(), *first, state(1)])
    echoed = session.wait_for_states(1)
    held = _held_ids(readback) if echoed and readback is not None else None
    session.send([unknown(), *second, state(2), complete()])
    capture = session.finish()
    ctx.captures.append(capture)
    lines, findings = parse_output(capture.stdout)
    if findings or capture.exit_code != 0:
        message = findings[0].message if findings else f"`write` {describe_exit(capture)}, expected 0"
        ctx.failed("destination.write_valid", message, capture, findings[0] if findings else None)
    else:
        ctx.passed("destination.write_valid")
    ctx.verdict("destination.output_complete", truncation(capture.stdout), capture)
    ctx.verdict(
        "destination.echoes_in_order",
        echo_order([state(1), unknown(), state(2)], lines),
        capture,
        "both states and the unknown message came back in order",
    )
    if not ctx.wanted("destination.durable_before_echo"):
        return
    if readback is None:
        ctx.skipped("destination.durable_before_echo", "needs a readback of what the destination holds")
    elif not echoed:
        ctx.failed("destination.durable_before_echo", "the first state was never echoed", capture)
    else:
        missing = _ids(first) - (held or set())
        if missing:
            ctx.failed(
                "destination.durable_before_echo",
                f"state echoed before its records were durable: {len(missing)} of {len(first)} records before it "
                f"were not stored when the echo arrived (e.g. {sorted(missing)[0]!r})",
                capture,
            )
        else:
            ctx.passed("destination.durable_before_echo")


def check_kill(ctx: Context, readback: Readback | None) -> None:
    """Killed between two states, the destination keeps what it echoed; a new write completes the rest."""
    name = "destination.survives_kill"
    if not ctx.wanted(name):
        return
    if readback is None:
        ctx.skipped(name, "needs a readback of what the destination holds")
        return
    catalog_file = ctx.invoker.arg_file("catalog", catalog().model_dump(mode="json", exclude_none=True))
    args = ["write", "--config", ctx.config_file(), "--catalog", catalog_file]
    session = ctx.invoker.session(args)
    first, second = records("k1", 20), records("k2", 20)
    session.send([started(), *first, state(1), *second])
    echoed = session.wait_for_states(1)
    capture = session.kill()
    ctx.captures.append(capture)
    if not echoed:
        ctx.failed(name, "the state before the kill was never echoed", capture)
        return
    held = _held_ids(readback)
    lost = _ids(first) - held
    if lost:
        ctx.failed(name, f"killed after echoing a state, it lost {len(lost)} records committed before it", capture)
        return
    again = ctx.run(args, b"".join(line + b"\n" for line in [started(), *second, state(2), complete()]))
    held = _held_ids(readback)
    if again.exit_code != 0 or not (_ids(first) | _ids(second)) <= held:
        ctx.failed(
            name,
            f"the write after the kill {describe_exit(again)} and holds "
            f"{len(held & (_ids(first) | _ids(second)))} of {len(first) + len(second)} records",
            again,
        )
        return
    ctx.passed(name, "nothing committed was lost; the next write completed the rest")


def check_overwrite(ctx: Context, readback: Readback | None) -> None:
    """An overwrite stream is swapped in on its `complete` status, never by end of input alone."""
    name = "destination.overwrite_needs_complete"
    if not ctx.wanted(name):
        return
    if readback is None:
        ctx.skipped(name, "needs a readback of what the destination holds")
        return
    catalog_file = ctx.invoker.arg_file(
        "catalog", catalog(DestinationSyncMode.OVERWRITE).model_dump(mode="json", exclude_none=True)
    )
    args = ["write", "--config", ctx.config_file(), "--catalog", catalog_file]
    old, new = records("o1", 3), records("o2", 3)
    first = ctx.run(args, b"".join(line + b"\n" for line in [started(), *old, state(1), complete()]))
    before = _held_ids(readback)
    if first.exit_code != 0 or not _ids(old) <= before:
        ctx.failed(name, f"a complete overwrite {describe_exit(first)} and does not hold its records", first)
        return
    second = ctx.run(args, b"".join(line + b"\n" for line in [started(), *new, state(2)]))
    after = _held_ids(readback)
    if after & _ids(new) or not _ids(old) <= after:
        ctx.failed(
            name,
            "end of input alone finished an overwrite: the unfinished load replaced or joined the stream's rows",
            second,
        )
    else:
        ctx.passed(name)


def _ids(lines: Sequence[bytes]) -> set[str]:
    return {str(orjson.loads(line)["record"]["data"]["id"]) for line in lines}


def _held_ids(readback: Readback) -> set[str]:
    return {str(row.get("id")) for stream, row in readback() if stream == STREAM}

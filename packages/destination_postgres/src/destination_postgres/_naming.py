"""PostgreSQL identifiers for streams, properties and the connector's own objects.

PostgreSQL silently truncates identifiers to 63 bytes, so two long names could collide or a quoted name could
change meaning. Every name here is made to fit: a name that is too long, empty, contains NUL or would clash with
a reserved metadata column becomes a UTF-8-safe prefix plus `_` and 8 hex digits of its SHA-1. Names are always
emitted quoted (via `psycopg.sql.Identifier`), so case, quotes, spaces, unicode and SQL keywords are kept as is.
Two names can still land on one identifier (a long name, and another spelled exactly like its shortened form):
`collisions` finds them, and the stream they would silently merge is refused with an error that names both.
"""

from __future__ import annotations

import hashlib

MAX_IDENTIFIER_BYTES = 63
"""PostgreSQL's NAMEDATALEN - 1."""

RAW_COLUMN = "_sync_raw"
"""The whole record as jsonb."""
SYNCED_AT_COLUMN = "_sync_synced_at"
"""When the row was last written (transaction time)."""
RUN_ID_COLUMN = "_sync_run_id"
"""Which run wrote the row last."""
HASH_COLUMN = "_sync_hash"
"""A 64-bit hash of the record's bytes as received: a re-sent unchanged record is recognised without parsing it."""
METADATA_COLUMNS = (RAW_COLUMN, HASH_COLUMN, SYNCED_AT_COLUMN, RUN_ID_COLUMN)

STATE_TABLE = "_sync_state"
"""Per-stream checkpoints of this destination, and the engine's Postgres state store."""
OBJECTS_TABLE = "_sync_objects"
"""What `setup` created, so `teardown` drops exactly that."""
TRY_TIMESTAMPTZ_FUNCTION = "_sync_try_timestamptz"
TRY_DATE_FUNCTION = "_sync_try_date"
HELPER_FUNCTIONS = (TRY_TIMESTAMPTZ_FUNCTION, TRY_DATE_FUNCTION)
RESERVED_TABLES = (STATE_TABLE, OBJECTS_TABLE)


def _digest(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _prefix_bytes(name: str, limit: int) -> str:
    """The longest prefix of `name` whose UTF-8 form fits in `limit` bytes (never splits a character)."""
    encoded = name.encode("utf-8", "surrogatepass")[:limit]
    return encoded.decode("utf-8", "ignore")


def fit_identifier(name: str, reserved: tuple[str, ...] = ()) -> str:
    """`name` if PostgreSQL can hold it verbatim, else a stable shortened form ending in `_<sha1[:8]>`."""
    clean = "\x00" not in name and name != ""
    if clean and len(name.encode("utf-8", "surrogatepass")) <= MAX_IDENTIFIER_BYTES and name not in reserved:
        return name
    safe = name.replace("\x00", "")
    return f"{_prefix_bytes(safe, MAX_IDENTIFIER_BYTES - 9)}_{_digest(name)}"


def table_name(stream: str) -> str:
    """The table of a stream; never one of the connector's own tables."""
    return fit_identifier(stream, RESERVED_TABLES)


def column_name(prop: str) -> str:
    """The column of a top-level property; never one of the metadata columns."""
    return fit_identifier(prop, METADATA_COLUMNS)


def collisions(names: dict[str, str]) -> list[tuple[str, str, str]]:
    """`(first, second, identifier)` for every two names (in order) that fit to the same identifier."""
    seen: dict[str, str] = {}
    found: list[tuple[str, str, str]] = []
    for name, fitted in names.items():
        if fitted in seen:
            found.append((seen[fitted], name, fitted))
        else:
            seen[fitted] = name
    return found


def overwrite_table_name(table: str) -> str:
    """The table an overwrite loads into before it is swapped in."""
    return f"_sync_new_{hashlib.sha1(table.encode()).hexdigest()[:16]}"

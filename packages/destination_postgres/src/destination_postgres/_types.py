"""The JSON Schema → PostgreSQL type mapping and the SQL that projects a jsonb value onto a typed column.

| JSON Schema (nulls ignored)            | column type                |
|----------------------------------------|----------------------------|
| string, format date-time               | timestamp with time zone   |
| string, format date                    | date                       |
| string (any other format)              | text                       |
| integer                                | bigint                     |
| number                                 | numeric                    |
| boolean                                | boolean                    |
| object, array, several types, no type  | jsonb                      |

Projection is tolerant: a value that does not fit its column (a word in a bigint column, an unparseable date,
an integer out of range) becomes NULL in the typed column; the whole record is always kept in the raw jsonb
column, so nothing is lost. Text columns take the text form of any value.

Two projections exist. The one-pass projection reads every scalar column with one `jsonb_to_record` call (one
lookup and one input function per column) and raises on a value that does not fit; the tolerant one reads each
column with `->`/`->>` and a guarded cast (several lookups per column, 15-25% more server CPU for wide tables).
The loader tries the first and falls back to the second for good at the first value that does not fit. Where
they differ on values that fit: the one-pass projection also takes a value of another JSON type that
PostgreSQL's input function accepts (the string "12" in a bigint column, "yes" in a boolean one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ._naming import MAX_IDENTIFIER_BYTES, TRY_DATE_FUNCTION, TRY_TIMESTAMPTZ_FUNCTION, column_name

TEXT = "text"
BIGINT = "bigint"
NUMERIC = "numeric"
BOOLEAN = "boolean"
TIMESTAMPTZ = "timestamp with time zone"
DATE = "date"
JSONB = "jsonb"

_INTEGER_DIGITS = {"bigint": 18, "integer": 9, "smallint": 4}
_NUMBER_TYPES = {"numeric", "double precision", "real"}
_TEXT_TYPES = ("text", "character varying", "character")
_TIMESTAMP_TYPES = {TIMESTAMPTZ, "timestamp without time zone"}


@dataclass(frozen=True)
class Column:
    """One typed column: the property it holds, its (fitted) name and its PostgreSQL type."""

    prop: str
    name: str
    pg_type: str


def _types_of(schema: Any) -> set[str]:
    """The non-null JSON types a (sub)schema allows; empty when it says nothing."""
    if not isinstance(schema, dict):
        return set()
    found: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        found.add(declared)
    elif isinstance(declared, list):
        found.update(t for t in declared if isinstance(t, str))
    for key in ("anyOf", "oneOf"):
        for alternative in schema.get(key, ()) or ():
            found |= _types_of(alternative)
    found.discard("null")
    return found


def _formats_of(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
    for key in ("anyOf", "oneOf"):
        for alternative in schema.get(key, ()) or ():
            found |= _formats_of(alternative)
    return found


def pg_type_for(schema: Any) -> str:
    """The column type for one property's JSON Schema (see the module table)."""
    types = _types_of(schema)
    if types == {"integer", "number"}:
        return NUMERIC
    if len(types) != 1:
        return JSONB
    (kind,) = types
    if kind == "string":
        formats = _formats_of(schema)
        if formats == {"date-time"}:
            return TIMESTAMPTZ
        if formats == {"date"}:
            return DATE
        return TEXT
    return {"integer": BIGINT, "number": NUMERIC, "boolean": BOOLEAN}.get(kind, JSONB)


def columns_for(json_schema: dict[str, Any]) -> list[Column]:
    """Typed columns for the top-level properties, in schema order (two may share a name: see `collisions`)."""
    properties = json_schema.get("properties")
    if not isinstance(properties, dict):
        return []
    return [Column(prop, column_name(prop), pg_type_for(schema)) for prop, schema in properties.items()]


def same_type(existing: str, wanted: str) -> bool:
    """Whether an existing column's type (from `format_type`) already serves the wanted type."""
    if existing == wanted:
        return True
    return wanted == TEXT and existing.startswith(_TEXT_TYPES)


def projection(pg_type: str, container: sql.Composable, key: str | int, schema: str) -> sql.Composed:
    """SQL that reads `container -> key` (jsonb) as `pg_type`, NULL when the value does not fit.

    `pg_type` is the column's actual type (`format_type` spelling), so an existing column of another type than
    the schema asks for still gets values it can hold.
    """
    k = sql.Literal(key)
    value = sql.SQL("({} -> {})").format(container, k)
    text = sql.SQL("({} ->> {})").format(container, k)
    if pg_type == JSONB:
        return value
    if pg_type == "json":
        return sql.SQL("{}::json").format(value)
    if pg_type.startswith(_TEXT_TYPES):
        return text if pg_type == TEXT else sql.SQL("{}::{}").format(text, sql.SQL(pg_type))
    if pg_type == BOOLEAN:
        return sql.SQL("CASE WHEN jsonb_typeof({v}) = 'boolean' THEN {v}::boolean END").format(v=value)
    if pg_type in _INTEGER_DIGITS:
        # straight from the jsonb numeric: no text round trip, no regex (a whole number of at most N digits)
        limit = sql.Literal(10 ** _INTEGER_DIGITS[pg_type])
        return sql.SQL(
            "CASE WHEN jsonb_typeof({v}) = 'number' AND scale({v}::numeric) = 0 AND abs({v}::numeric) < {n}"
            " THEN {v}::numeric::{ty} END"
        ).format(v=value, n=limit, ty=sql.SQL(pg_type))
    if pg_type in _NUMBER_TYPES or pg_type.startswith("numeric"):
        return sql.SQL("CASE WHEN jsonb_typeof({v}) = 'number' THEN {v}::numeric::{ty} END").format(
            v=value, ty=sql.SQL(pg_type)
        )
    if pg_type in _TIMESTAMP_TYPES:
        return sql.SQL("{}({})::{}").format(sql.Identifier(schema, TRY_TIMESTAMPTZ_FUNCTION), text, sql.SQL(pg_type))
    if pg_type == DATE:
        return sql.SQL("{}({})").format(sql.Identifier(schema, TRY_DATE_FUNCTION), text)
    return sql.SQL("NULL::{}").format(sql.SQL(pg_type))


_ISO_DATE = sql.Literal("^[0-9]{4}-[0-9]{2}-[0-9]{2}")
"""What the tolerant date casts ask of a string before casting it (so 'now' or 'epoch' never become dates)."""


def record_type(prop: str, pg_type: str) -> str | None:
    """The type under which `jsonb_to_record` reads the property for a column of `pg_type`; None when the column
    is read with its tolerant projection only (jsonb keeps `->`, whose JSON null stays a jsonb null)."""
    if not prop or "\x00" in prop or len(prop.encode("utf-8", "surrogatepass")) > MAX_IDENTIFIER_BYTES:
        return None  # a record column is named after the property, and must hold it verbatim
    if pg_type.startswith(_TEXT_TYPES) or pg_type in _INTEGER_DIGITS or pg_type == BOOLEAN:
        return pg_type
    if pg_type in _NUMBER_TYPES or pg_type.startswith("numeric"):
        return pg_type
    if pg_type in _TIMESTAMP_TYPES or pg_type == DATE:
        return TEXT
    return None


def one_pass_projection(pg_type: str, field: sql.Composable) -> sql.Composable:
    """SQL that turns `field` (a column of the `jsonb_to_record` row, typed by `record_type`) into `pg_type`;
    raises on a value that does not fit, where the tolerant projection gives NULL."""
    if pg_type in _TIMESTAMP_TYPES:
        return sql.SQL("CASE WHEN {f} ~ {re} THEN {f}::timestamptz::{ty} END").format(
            f=field, re=_ISO_DATE, ty=sql.SQL(pg_type)
        )
    if pg_type == DATE:
        return sql.SQL("CASE WHEN {f} ~ {re} THEN {f}::date END").format(f=field, re=_ISO_DATE)
    return field


def helper_functions_sql(schema: str) -> Iterable[sql.Composed]:
    """DDL of the tolerant date casts (PostgreSQL 15 has no `pg_input_is_valid`)."""
    for name, target in ((TRY_TIMESTAMPTZ_FUNCTION, "timestamptz"), (TRY_DATE_FUNCTION, "date")):
        yield sql.SQL(
            "CREATE OR REPLACE FUNCTION {fn}(value text) RETURNS {ty} LANGUAGE plpgsql STABLE STRICT AS $f$"
            " BEGIN"
            "   IF value !~ {re} THEN RETURN NULL; END IF;"
            "   RETURN value::{ty};"
            " EXCEPTION WHEN others THEN RETURN NULL;"
            " END $f$"
        ).format(fn=sql.Identifier(schema, name), ty=sql.SQL(target), re=_ISO_DATE)

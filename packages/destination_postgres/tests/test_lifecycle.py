"""check, setup (idempotent, additive evolution), teardown, and secrets kept out of every output."""

from __future__ import annotations

from typing import Any

import psycopg
from destination_postgres._naming import overwrite_table_name, table_name
from psycopg import sql
from sync_protocol import ConfiguredCatalog, ConnectionStatusValue, ErrorMessage, LogMessage
from sync_protocol.sdk import record
from sync_protocol.testing import ConnectorHarness


def one_stream(properties: dict[str, Any]) -> ConfiguredCatalog:
    return ConfiguredCatalog.model_validate(
        {
            "streams": [
                {
                    "name": "s",
                    "json_schema": {"type": "object", "properties": properties},
                    "primary_key": [["id"]],
                    "destination_sync_mode": "append_dedup",
                }
            ]
        }
    )


def types(db: psycopg.Connection[Any], schema: str) -> dict[str, str]:
    rows = db.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [sql.Identifier(schema, "s").as_string(db)],
    ).fetchall()
    return dict(rows)


def test_check(harness: ConnectorHarness, config: dict[str, Any]) -> None:
    assert harness.check(config).status == ConnectionStatusValue.SUCCEEDED


def test_secrets_never_printed(harness: ConnectorHarness, pg_schema: str) -> None:
    secret = "Sup3rSecretPw"
    bad = {"url": f"postgresql://bob:{secret}@127.0.0.1:1/db", "schema": pg_schema, "connect_retry_s": 0}
    status = harness.check(bad)
    assert status.status == ConnectionStatusValue.FAILED
    written = harness.write(bad, one_stream({"id": {"type": "string"}}), [record("s", {"id": "1"})], expect_exit=1)
    errors = written.of_type(ErrorMessage)
    assert errors and errors[0].error.level == "global"
    malformed = {"url": f"postgresql://bob:{secret}@127.0.0.1:notaport/db", "schema": pg_schema}
    broken = harness.invoke("check", config=malformed)
    parts = "".join(m.model_dump_json() for m in [*written.messages, *broken.messages]) + written.stderr
    parts += broken.stderr + (status.message or "")
    assert secret not in parts


def test_setup_is_idempotent_and_evolves_additively(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    v1 = one_stream({"id": {"type": "string"}, "n": {"type": "integer"}})
    harness.invoke("setup", config=config, catalog=v1)
    harness.invoke("setup", config=config, catalog=v1)
    harness.write(config, v1, [record("s", {"id": "a", "n": 1, "city": "Oslo", "flag": True})])
    # v2: a new property (backfilled from the stored raw json) and a type change (kept, reported)
    v2 = one_stream({"id": {"type": "string"}, "n": {"type": "string"}, "city": {"type": "string"}})
    result = harness.invoke("setup", config=config, catalog=v2)
    warnings = [m.log.message for m in result.of_type(LogMessage) if m.log.level == "warn"]
    assert any("'n'" in w and "bigint" in w for w in warnings)
    got = types(db, pg_schema)
    assert got["n"] == "bigint" and got["city"] == "text"
    row = db.execute(sql.SQL("SELECT n, city FROM {}").format(sql.Identifier(pg_schema, "s"))).fetchone()
    assert row == (1, "Oslo")
    harness.write(config, v2, [record("s", {"id": "b", "n": "seven", "city": "Rome"})])
    rows = db.execute(
        sql.SQL("SELECT id, n, city, _sync_raw->>'n' FROM {} ORDER BY id").format(sql.Identifier(pg_schema, "s"))
    ).fetchall()
    assert rows == [("a", 1, "Oslo", "1"), ("b", None, "Rome", "seven")]


def test_teardown_drops_only_what_setup_created(
    harness: ConnectorHarness, config: dict[str, Any], pg_schema: str, db: Any
) -> None:
    catalog = one_stream({"id": {"type": "string"}})
    harness.invoke("setup", config=config, catalog=catalog)
    harness.invoke("teardown", config=config)
    gone = db.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [pg_schema]).fetchone()
    assert gone == (0,)  # setup created the schema, so teardown removes it
    harness.invoke("setup", config=config, catalog=catalog)
    db.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(pg_schema, "not_ours")))
    unfinished = overwrite_table_name(table_name("s"))  # what a crash in the middle of an overwrite leaves
    db.execute(sql.SQL("CREATE TABLE {} (x int)").format(sql.Identifier(pg_schema, unfinished)))
    harness.invoke("teardown", config=config)
    left = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [pg_schema]).fetchall()
    assert left == [("not_ours",)]
    functions = db.execute(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %s",
        [pg_schema],
    ).fetchone()
    assert functions == (0,)
    refused = harness.invoke("teardown", config={**config, "schema": "pg_catalog"}, expect_exit=2)
    assert "system schema" in refused.stderr

"""The pipeline store in PostgreSQL: pipelines (intent and status) and their run history.

Blocking psycopg, one short connection per call: the API calls it from its handler threads, activities through
`asyncio.to_thread`. Tables live in one schema (`sync_service` by default), created on first use.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from ._errors import InvalidTransitionError, PipelineNotFoundError
from ._models import PipelineCreate, PipelineRecord, PipelineUpdate, RunRecord
from ._outcome import CANCELLED, RUN_STATUSES, RUNNING, SYSTEM_ERROR
from ._payloads import DELETED, SyncOutcome

LOST_REASON = "the attempt was lost: its worker stopped or stopped heartbeating before it finished"

_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {pipelines} (
    id text PRIMARY KEY,
    name text,
    source jsonb NOT NULL,
    destination jsonb NOT NULL,
    streams jsonb,
    desired_status text NOT NULL CHECK (desired_status IN ('active', 'paused', 'deleted')),
    status text,
    status_reason text,
    webhook_secret text,
    chunk_s double precision NOT NULL,
    reconcile_interval_s double precision,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {runs} (
    id bigserial PRIMARY KEY,
    pipeline_id text NOT NULL REFERENCES {pipelines} (id),
    purpose text NOT NULL,
    activity_id text NOT NULL,
    attempt int NOT NULL,
    status text NOT NULL,
    has_more boolean NOT NULL DEFAULT false,
    records bigint NOT NULL DEFAULT 0,
    reason text,
    issues jsonb NOT NULL DEFAULT '[]',
    worker text,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    UNIQUE (activity_id, attempt)
);
CREATE INDEX IF NOT EXISTS {runs_by_pipeline} ON {runs} (pipeline_id, id);
"""

_COLUMNS = (
    "id, name, source::text, destination::text, streams::text, desired_status, status, status_reason, "
    "webhook_secret, chunk_s, reconcile_interval_s, created_at, updated_at"
)


class PipelineStore:
    """Pipelines and run history; every method is one committed transaction."""

    def __init__(self, url: str, schema: str = "sync_service") -> None:
        self.url = url
        self.schema = schema
        self._ready = False

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with psycopg.connect(self.url, row_factory=dict_row) as conn:
            if not self._ready:
                # concurrent CREATE … IF NOT EXISTS can still collide in the catalog: one creator at a time
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"sync_service:{self.schema}",))
                conn.execute(sql.SQL(_DDL).format(**self._names()))
                conn.commit()
                self._ready = True
            yield conn

    def _names(self) -> dict[str, sql.Composable]:
        return {
            "schema": sql.Identifier(self.schema),
            "pipelines": sql.Identifier(self.schema, "pipelines"),
            "runs": sql.Identifier(self.schema, "runs"),
            "runs_by_pipeline": sql.Identifier("runs_by_pipeline"),
        }

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(**self._names(), columns=sql.SQL(_COLUMNS))

    # ---- pipelines ------------------------------------------------------------------------------------------

    def create(self, body: PipelineCreate) -> PipelineRecord:
        """Store a new pipeline with a fresh id; its status stays empty until the workflow writes one."""
        pipeline_id = "pl_" + secrets.token_hex(8)
        secret = body.webhook_secret.get_secret_value() if body.webhook_secret else None
        with self._connect() as conn:
            row = conn.execute(
                self._q(
                    "INSERT INTO {pipelines} (id, name, source, destination, streams, desired_status, webhook_secret,"
                    " chunk_s, reconcile_interval_s) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {columns}"
                ),
                (
                    pipeline_id,
                    body.name,
                    _json(body.source.model_dump(mode="json")),
                    _json(body.destination.model_dump(mode="json")),
                    None if body.streams is None else _json([s.model_dump(mode="json") for s in body.streams]),
                    body.desired_status,
                    secret,
                    body.chunk_s,
                    body.reconcile_interval_s,
                ),
            ).fetchone()
        assert row is not None
        return _record(row)

    def get(self, pipeline_id: str) -> PipelineRecord:
        """The pipeline, or `PipelineNotFoundError`."""
        with self._connect() as conn:
            row = conn.execute(self._q("SELECT {columns} FROM {pipelines} WHERE id = %s"), (pipeline_id,)).fetchone()
        if row is None:
            raise PipelineNotFoundError(pipeline_id)
        return _record(row)

    def all(self) -> list[PipelineRecord]:
        """Every pipeline, oldest first (deleted ones included: their history stays)."""
        with self._connect() as conn:
            rows = conn.execute(self._q("SELECT {columns} FROM {pipelines} ORDER BY created_at, id")).fetchall()
        return [_record(r) for r in rows]

    def update(self, pipeline_id: str, change: PipelineUpdate) -> tuple[PipelineRecord, PipelineRecord]:
        """Apply a change under a row lock; returns (before, after). `deleted` is terminal."""
        with self._connect() as conn, conn.transaction():
            row = conn.execute(
                self._q("SELECT {columns} FROM {pipelines} WHERE id = %s FOR UPDATE"), (pipeline_id,)
            ).fetchone()
            if row is None:
                raise PipelineNotFoundError(pipeline_id)
            before = _record(row)
            if before.desired_status == DELETED:
                raise InvalidTransitionError(f"pipeline {pipeline_id} is deleted; nothing about it can change")
            sets: list[sql.Composable] = [sql.SQL("updated_at = now()")]
            values: list[Any] = []
            if change.desired_status is not None:
                sets.append(sql.SQL("desired_status = %s"))
                values.append(change.desired_status)
            for column in ("source", "destination"):
                settings = getattr(change, column)
                if settings is not None:
                    sets.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                    values.append(_json(settings.model_dump(mode="json")))
            if change.streams is not None:
                sets.append(sql.SQL("streams = %s"))
                values.append(_json([s.model_dump(mode="json") for s in change.streams]))
            after_row = conn.execute(
                sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING {}").format(
                    sql.Identifier(self.schema, "pipelines"), sql.SQL(", ").join(sets), sql.SQL(_COLUMNS)
                ),
                (*values, pipeline_id),
            ).fetchone()
        assert after_row is not None
        return before, _record(after_row)

    def set_status(self, pipeline_id: str, status: str, reason: str | None = None) -> None:
        """Written by the workflow (through an activity) at every transition."""
        with self._connect() as conn:
            conn.execute(
                self._q("UPDATE {pipelines} SET status = %s, status_reason = %s, updated_at = now() WHERE id = %s"),
                (status, reason, pipeline_id),
            )

    # ---- run history ----------------------------------------------------------------------------------------

    def start_run(self, pipeline_id: str, purpose: str, activity_id: str, attempt: int, worker: str) -> int:
        """Open a `running` row for this attempt; earlier attempts of the activity still `running` were lost."""
        with self._connect() as conn, conn.transaction():
            conn.execute(
                self._q(
                    "UPDATE {runs} SET status = %s, reason = %s, ended_at = now() "
                    "WHERE activity_id = %s AND attempt < %s AND status = %s"
                ),
                (SYSTEM_ERROR, LOST_REASON, activity_id, attempt, RUNNING),
            )
            row = conn.execute(
                self._q(
                    "INSERT INTO {runs} (pipeline_id, purpose, activity_id, attempt, status, worker) "
                    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (activity_id, attempt) DO UPDATE "
                    "SET status = EXCLUDED.status, worker = EXCLUDED.worker, started_at = now() RETURNING id"
                ),
                (pipeline_id, purpose, activity_id, attempt, RUNNING, worker),
            ).fetchone()
        assert row is not None
        return int(row["id"])

    def finish_run(self, run_id: int, outcome: SyncOutcome) -> None:
        """Close a run row with its classified outcome."""
        issues = [vars(i) for i in outcome.issues]
        with self._connect() as conn:
            conn.execute(
                self._q(
                    "UPDATE {runs} SET status = %s, has_more = %s, records = %s, reason = %s, issues = %s, "
                    "ended_at = now() WHERE id = %s"
                ),
                (outcome.status, outcome.has_more, outcome.records, outcome.reason, _json(issues), run_id),
            )

    def runs(self, pipeline_id: str) -> list[RunRecord]:
        """A pipeline's run history, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                self._q(
                    "SELECT id, pipeline_id, purpose, activity_id, attempt, status, has_more, records, reason, "
                    "issues, worker, started_at, ended_at FROM {runs} WHERE pipeline_id = %s ORDER BY id"
                ),
                (pipeline_id,),
            ).fetchall()
        return [RunRecord.model_validate(r) for r in rows]

    def run_counts(self, pipeline_id: str | None = None) -> dict[str, int]:
        """Finished runs by status (every status present, `error` and `system_error` apart), one or all pipelines."""
        where = sql.SQL("WHERE pipeline_id = %s") if pipeline_id is not None else sql.SQL("")
        with self._connect() as conn:
            rows = conn.execute(
                sql.SQL("SELECT status, count(*) AS n FROM {} {} GROUP BY status").format(
                    sql.Identifier(self.schema, "runs"), where
                ),
                (pipeline_id,) if pipeline_id is not None else (),
            ).fetchall()
        counts = dict.fromkeys((*RUN_STATUSES, CANCELLED, RUNNING), 0)
        counts.update({r["status"]: int(r["n"]) for r in rows})
        return counts


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _record(row: dict[str, Any]) -> PipelineRecord:
    data = dict(row)
    for column in ("source", "destination", "streams"):
        data[column] = None if data[column] is None else orjson.loads(data[column])
    return PipelineRecord.model_validate(data)

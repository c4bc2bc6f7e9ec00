"""A running service for tests and benchmarks: worker subprocesses, the HTTP API in-process, and helpers."""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql
from sync_service import (
    ApiServer,
    PipelineStore,
    ServiceApi,
    TemporalSettings,
    TimingDefaults,
    WorkflowGateway,
)

T = TypeVar("T")
WEBHOOK_SECRET = "whsec_test_5f0c3e2b9a7d41f8a6c2e1d0b9a8c7f6"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """A `Stripe-Signature` header as Stripe computes it: HMAC-SHA256 of `"{t}.{payload}"`."""
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = 30.0, every_s: float = 0.1) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what} (last: {last!r})")


def _polling(process: subprocess.Popen[bytes], log: Path) -> bool:
    return b"polling" in log.read_bytes() or process.poll() is not None


class Service:
    """Workers as real `sync-service worker` processes on one task queue, and the API on 127.0.0.1."""

    def __init__(self, temporal_target: str, database_url: str, timing: TimingDefaults, heartbeat_every_s: float = 1.0):
        tag = uuid.uuid4().hex[:8]
        self.database_url = database_url
        self.store_schema, self.state_schema = f"svc_{tag}", f"svc_state_{tag}"
        self.temporal = TemporalSettings(target=temporal_target, task_queue=f"tests-{tag}")
        self.heartbeat_every_s = heartbeat_every_s
        self.store = PipelineStore(database_url, self.store_schema)
        self.gateway = WorkflowGateway(self.temporal, timing)
        self.gateway.open()
        self.server = ApiServer(ServiceApi(self.store, self.gateway), "127.0.0.1", 0)
        self.server.serve_in_thread()
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []

    # ---- processes ----------------------------------------------------------------------------------------------

    def start_workers(self, count: int, max_activities: int = 8) -> list[subprocess.Popen[bytes]]:
        """`count` more worker processes, started together; returns once each polls the task queue."""
        started = [self._spawn_worker(max_activities) for _ in range(count)]
        for process, log in started:
            wait_for("the worker to poll", partial(_polling, process, log), timeout_s=120)
            assert process.poll() is None, log.read_text()
        return [process for process, _ in started]

    def _spawn_worker(self, max_activities: int) -> tuple[subprocess.Popen[bytes], Path]:
        log = Path(tempfile.mkstemp(prefix="sync-service-worker-", suffix=".log")[1])
        self._logs.append(log)
        argv = [
            sys.executable, "-m", "sync_service", "--temporal", self.temporal.target,
            "--task-queue", self.temporal.task_queue, "--schema", self.store_schema,
            "worker", "--state-schema", self.state_schema, "--heartbeat-every", str(self.heartbeat_every_s),
            "--max-activities", str(max_activities),
        ]  # fmt: skip
        env = {**os.environ, "SYNC_SERVICE_DATABASE_URL": self.database_url}
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.workers.append(process)
        return process, log

    def worker_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self._logs)

    def close(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.server.shutdown()
        self.server.server_close()
        self.gateway.close()
        for log in self._logs:
            log.unlink(missing_ok=True)
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            for schema in (self.store_schema, self.state_schema):
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    # ---- HTTP -----------------------------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
    ) -> tuple[int, Any]:
        """One API request; returns (status, decoded JSON body)."""
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        request = urllib.request.Request(self.server.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, orjson.loads(exc.read())

    def create(self, body: dict[str, Any]) -> str:
        status, answer = self.call("POST", "/pipelines", body)
        assert status == 201, answer
        return str(answer["id"])

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        status, answer = self.call("GET", f"/pipelines/{pipeline_id}")
        assert status == 200, answer
        return dict(answer)

    def wait_status(self, pipeline_id: str, status: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Wait until the stored status is `status` (the API answers from the store)."""

        def probe() -> dict[str, Any] | None:
            current = self.pipeline(pipeline_id)
            return current if current["status"] == status else None

        try:
            return wait_for(f"pipeline status {status!r}", probe, timeout_s)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.pipeline(pipeline_id)}\n{self.worker_logs()}") from None

    def workflow_state(self, pipeline_id: str) -> dict[str, Any]:
        """The workflow's own view (a query; the API never asks the workflow, tests may)."""
        return dict(self.gateway.query(pipeline_id))

    def checkpoint(self, pipeline_id: str) -> dict[str, Any] | None:
        """The engine checkpoint the workers saved for a pipeline, if any."""
        with psycopg.connect(self.database_url) as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (f'"{self.state_schema}"."_sync_state"',)).fetchone()
            if exists is None or exists[0] is None:
                return None
            row = conn.execute(
                sql.SQL("SELECT state FROM {} WHERE state_key = %s").format(
                    sql.Identifier(self.state_schema, "_sync_state")
                ),
                (self.store.get(pipeline_id).checkpoint_key,),
            ).fetchone()
        return None if row is None else dict(row[0])

    def runs(self, pipeline_id: str) -> dict[str, Any]:
        status, answer = self.call("GET", f"/pipelines/{pipeline_id}/runs")
        assert status == 200, answer
        return dict(answer)

    def webhook(self, pipeline_id: str, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> tuple[int, Any]:
        payload = orjson.dumps(event)
        return self.call(
            "POST",
            f"/pipelines/{pipeline_id}/webhooks",
            raw=payload,
            headers={"Stripe-Signature": sign(payload, secret)},
        )

"""`sync-service worker` and `sync-service api`: the two long-running processes of the service.

The database URL is read from `SYNC_SERVICE_DATABASE_URL` (it holds a password: keep it out of argv).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from ._activities import WorkerSettings
from ._api import ApiServer, ServiceApi
from ._gateway import TimingDefaults, WorkflowGateway
from ._store import PipelineStore
from ._temporal import DEFAULT_TASK_QUEUE, TemporalSettings, connect, create_worker

DATABASE_ENV = "SYNC_SERVICE_DATABASE_URL"
API_KEY_ENV = "TEMPORAL_API_KEY"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sync-service", description="Sync pipelines as Temporal workflows.")
    parser.add_argument("--temporal", default="127.0.0.1:7233", help="Temporal frontend host:port")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default=DEFAULT_TASK_QUEUE)
    parser.add_argument("--schema", default="sync_service", help="schema of the pipeline store")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run workflows and sync activities")
    worker.add_argument("--max-activities", type=int, default=8, help="sync activities at once")
    worker.add_argument("--state-schema", default="sync_service_state", help="schema of the engine checkpoints")
    worker.add_argument("--heartbeat-every", type=float, default=2.0, help="seconds between heartbeats")
    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8080)
    api.add_argument("--heartbeat-timeout", type=float, default=30.0, help="seconds before a silent worker is lost")
    api.add_argument("--max-attempts", type=int, default=5, help="attempts of an activity failing with system_error")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `sync-service` executable."""
    args = _parser().parse_args(argv)
    url = os.environ.get(DATABASE_ENV)
    if not url:
        sys.stderr.write(f"sync-service: set {DATABASE_ENV} to the PostgreSQL URL of the pipeline store\n")
        sys.exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    temporal = TemporalSettings(args.temporal, args.namespace, args.task_queue, os.environ.get(API_KEY_ENV))
    if args.command == "worker":
        settings = WorkerSettings(url, args.schema, args.state_schema, args.heartbeat_every)
        asyncio.run(_run_worker(temporal, settings, args.max_activities))
    else:
        timing = TimingDefaults(heartbeat_timeout_s=args.heartbeat_timeout, max_attempts=args.max_attempts)
        _run_api(temporal, PipelineStore(url, args.schema), timing, args.host, args.port)


async def _run_worker(temporal: TemporalSettings, settings: WorkerSettings, max_activities: int) -> None:
    """Run until SIGINT or SIGTERM, then shut down: running activities are cancelled (connectors stopped)."""
    client = await connect(temporal)
    worker = create_worker(client, temporal, settings, max_activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        logging.getLogger("sync_service.worker").info("worker %s polling %s", settings.name, temporal.task_queue)
        await stop.wait()


def _run_api(temporal: TemporalSettings, store: PipelineStore, timing: TimingDefaults, host: str, port: int) -> None:
    gateway = WorkflowGateway(temporal, timing)
    gateway.open()
    server = ApiServer(ServiceApi(store, gateway), host, port)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    logging.getLogger("sync_service.api").info("serving on %s", server.url)
    try:
        server.serve_in_thread().join()
    except KeyboardInterrupt:
        server.shutdown()
    finally:
        server.server_close()
        gateway.close()

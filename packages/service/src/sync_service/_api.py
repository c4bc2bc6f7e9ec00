"""The HTTP API: JSON over the stdlib's `ThreadingHTTPServer`.

The stdlib is enough for a handful of JSON routes and adds no dependency; each request runs on its own thread and
answers from the store at once, then signals the workflow (never queries it).

    POST   /pipelines                         create (starts its workflow)           201
    GET    /pipelines                         list                                   200
    GET    /pipelines/{id}                    one, with its run counts              200
    PATCH  /pipelines/{id}                    desired_status and/or settings         200 (409 after deleted)
    DELETE /pipelines/{id}                    desired_status = deleted → teardown    202 (409 after deleted)
    GET    /pipelines/{id}/runs               run history and counts by status       200
    POST   /pipelines/{id}/webhooks           a Stripe-signed event → source_input   202
    POST   /pipelines/{id}/signals/{name}     credentials_updated | config_updated | deployment_updated   202
    GET    /metrics                           pipelines by status, runs by status    200
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from pydantic import ValidationError
from sync_protocol import describe_validation_error

from ._errors import InvalidTransitionError, PipelineNotFoundError, WebhookRejectedError
from ._gateway import WorkflowGateway
from ._models import PipelineCreate, PipelineUpdate
from ._payloads import DELETED
from ._store import PipelineStore
from ._webhooks import verify_stripe_event

log = logging.getLogger("sync_service.api")
RECOVERY_SIGNALS = frozenset({"credentials_updated", "config_updated", "deployment_updated"})
MAX_BODY = 1 << 20
Response = tuple[HTTPStatus, Any]


class ApiError(Exception):
    """An HTTP error answer with a JSON body `{"error": {"message": …}}`."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServiceApi:
    """The routes, independent of the HTTP server (one method per route)."""

    def __init__(self, store: PipelineStore, gateway: WorkflowGateway) -> None:
        self.store = store
        self.gateway = gateway

    def create(self, body: bytes) -> Response:
        spec = _parse(PipelineCreate, body)
        record = self.store.create(spec)
        self.gateway.start_pipeline(record)
        return HTTPStatus.CREATED, record.public()

    def list(self) -> Response:
        return HTTPStatus.OK, {"pipelines": [r.public() for r in self.store.all()]}

    def get(self, pipeline_id: str) -> Response:
        record = self.store.get(pipeline_id)
        return HTTPStatus.OK, {**record.public(), "runs": self.store.run_counts(pipeline_id)}

    def patch(self, pipeline_id: str, body: bytes) -> Response:
        change = _parse(PipelineUpdate, body)
        before, after = self.store.update(pipeline_id, change)
        if change.source is not None or change.destination is not None or change.streams is not None:
            self.gateway.signal(pipeline_id, "config_updated")
        if change.desired_status is not None and change.desired_status != before.desired_status:
            self.gateway.signal(pipeline_id, "desired_status", change.desired_status)
        return HTTPStatus.OK, after.public()

    def delete(self, pipeline_id: str) -> Response:
        _, after = self.store.update(pipeline_id, PipelineUpdate(desired_status=DELETED))
        self.gateway.signal(pipeline_id, "desired_status", DELETED)
        return HTTPStatus.ACCEPTED, after.public()

    def runs(self, pipeline_id: str) -> Response:
        self.store.get(pipeline_id)
        runs = [r.model_dump(mode="json") for r in self.store.runs(pipeline_id)]
        return HTTPStatus.OK, {"runs": runs, "counts": self.store.run_counts(pipeline_id)}

    def webhook(self, pipeline_id: str, body: bytes, signature: str | None) -> Response:
        record = self.store.get(pipeline_id)
        if record.webhook_secret is None:
            raise ApiError(HTTPStatus.CONFLICT, "this pipeline takes no webhooks (it has no webhook_secret)")
        if record.desired_status == DELETED:
            raise ApiError(HTTPStatus.CONFLICT, "the pipeline is deleted")
        event = verify_stripe_event(body, signature, record.webhook_secret.get_secret_value())
        self.gateway.signal(pipeline_id, "source_input", event)
        return HTTPStatus.ACCEPTED, {"queued": event["id"]}

    def recovery(self, pipeline_id: str, name: str) -> Response:
        if name not in RECOVERY_SIGNALS:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no signal {name!r}; one of {', '.join(sorted(RECOVERY_SIGNALS))}")
        self.store.get(pipeline_id)
        self.gateway.signal(pipeline_id, name)
        return HTTPStatus.ACCEPTED, {"signalled": name}

    def metrics(self) -> Response:
        by_status: dict[str, int] = {}
        for record in self.store.all():
            key = record.status or "starting"
            by_status[key] = by_status.get(key, 0) + 1
        return HTTPStatus.OK, {"pipelines": by_status, "runs": self.store.run_counts()}

    # ---- routing ------------------------------------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """Dispatch one request; raises `ApiError` and the store's errors, mapped by `answer`."""
        parts = [p for p in path.split("?")[0].split("/") if p]
        if parts == ["pipelines"]:
            if method == "POST":
                return self.create(body)
            if method == "GET":
                return self.list()
        elif parts == ["metrics"] and method == "GET":
            return self.metrics()
        elif len(parts) >= 2 and parts[0] == "pipelines" and _ID.fullmatch(parts[1]):
            pipeline_id, rest = parts[1], parts[2:]
            handlers: dict[tuple[str, tuple[str, ...]], Callable[[], Response]] = {
                ("GET", ()): lambda: self.get(pipeline_id),
                ("PATCH", ()): lambda: self.patch(pipeline_id, body),
                ("DELETE", ()): lambda: self.delete(pipeline_id),
                ("GET", ("runs",)): lambda: self.runs(pipeline_id),
                ("POST", ("webhooks",)): lambda: self.webhook(pipeline_id, body, headers.get("stripe-signature")),
            }
            handler = handlers.get((method, tuple(rest)))
            if handler is not None:
                return handler()
            if method == "POST" and len(rest) == 2 and rest[0] == "signals":
                return self.recovery(pipeline_id, rest[1])
        raise ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {path}")

    def answer(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Response:
        """`route` with every error turned into its HTTP answer (nothing but the message leaves)."""
        try:
            return self.route(method, path, body, headers)
        except ApiError as exc:
            return exc.status, _error(str(exc))
        except PipelineNotFoundError as exc:
            return HTTPStatus.NOT_FOUND, _error(f"no pipeline {exc}")
        except InvalidTransitionError as exc:
            return HTTPStatus.CONFLICT, _error(str(exc))
        except WebhookRejectedError as exc:
            return HTTPStatus.BAD_REQUEST, _error(str(exc))
        except Exception as exc:
            log.exception("request %s %s failed", method, path)
            return HTTPStatus.SERVICE_UNAVAILABLE, _error(f"the service cannot answer now ({type(exc).__name__})")


_ID = re.compile(r"pl_[0-9a-f]{16}")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message}}


def _parse(model: type[PipelineCreate] | type[PipelineUpdate], body: bytes) -> Any:
    try:
        raw = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise ApiError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ApiError(HTTPStatus.UNPROCESSABLE_ENTITY, describe_validation_error(exc, root="body")) from None


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            status, payload = HTTPStatus.REQUEST_ENTITY_TOO_LARGE, _error("the body is larger than 1 MiB")
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = self.server.api.answer(self.command, self.path, body, headers)
        data = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve


class ApiServer(ThreadingHTTPServer):
    """The API on (host, port); `serve_in_thread` for embedding, `serve_forever` for the CLI."""

    daemon_threads = True

    def __init__(self, api: ServiceApi, host: str = "127.0.0.1", port: int = 8080) -> None:
        super().__init__((host, port), _Handler)
        self.api = api

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_in_thread(self) -> threading.Thread:
        """Serve on a daemon thread; call `shutdown()` then `server_close()` to stop."""
        thread = threading.Thread(target=self.serve_forever, name="sync-service-api", daemon=True)
        thread.start()
        return thread

"""The HTTP face of the fake Sheets API: routing of the v4 paths, OAuth, per-minute quotas, faults, request counts.

Paths as googleapiclient sends them (`/v4/spreadsheets/{id}/values/{range}:append`, the range percent-encoded),
errors as Google sends them (`{"error": {"code", "message", "status"}}`), a 10 MiB request payload limit.
Faults are injected on API paths only (never the token endpoint): a script for the next requests, random rates,
added latency, and `*-after` faults that apply a write and then fail the response (the ambiguous failure a client
must not turn into a duplicate).
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from .._serving import JSONHandler, LocalHTTPServer
from . import _model
from ._auth import Auth, TokenError
from ._model import ApiError, Spreadsheet, invalid
from ._requests import batch_update

PAYLOAD_LIMIT = 10 * 1024 * 1024


@dataclass
class Faults:
    """What goes wrong, and how often; change it at any time."""

    latency_s: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    retry_after: str | None = None
    """`Retry-After` sent with injected 429s (Google usually sends none)."""
    script: list[str] = field(default_factory=list)
    """Faults for the next API requests, in order: "429", "500", "503", "reset", and "503-after" / "reset-after"
    (the request is applied, then the response fails); consumed one per request. "FAULT:method" (e.g.
    "503-after:values.append") waits for a request of that method; the others pass meanwhile."""


@dataclass(frozen=True)
class Call:
    """One API request as the fake saw it."""

    method: str
    """e.g. "values.append", "spreadsheets.batchUpdate"."""
    write: bool
    status: int
    principal: str | None
    size: int = 0
    """Bytes of the request body."""


_QUOTA_MESSAGE = (
    "Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests per minute per user' of service "
    "'sheets.googleapis.com' for consumer 'project_number:000000000000'."
)


class FakeSheets:
    """State shared by the handler threads: spreadsheets, OAuth, faults, quotas and the calls seen."""

    def __init__(self) -> None:
        self.auth = Auth()
        self.faults = Faults()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.editors: dict[str, set[str] | None] = {}
        """Spreadsheet id -> who may use it (None: every principal)."""
        self.quota_per_minute: dict[bool, int | None] = {True: None, False: None}
        """Per-minute quota per principal, by write (True) or read (False); None = unlimited."""
        self.on_write: Callable[[Call], None] | None = None
        """Called after a write was applied and before it is answered (e.g. to kill the client there)."""
        self.calls: list[Call] = []
        self.lock = threading.RLock()
        self._rng = random.Random(0)
        self._recent: dict[tuple[str, bool], deque[float]] = {}

    # ---- for tests ----------------------------------------------------------------------------------------

    def create_spreadsheet(self, title: str = "Test", editors: set[str] | None = None) -> str:
        """A spreadsheet with one empty `Sheet1`, as a person would make and share it."""
        with self.lock:
            ss = Spreadsheet.create({"properties": {"title": title}})
            self.spreadsheets[ss.spreadsheet_id] = ss
            self.editors[ss.spreadsheet_id] = editors
            return ss.spreadsheet_id

    def delete_spreadsheet(self, spreadsheet_id: str) -> None:
        """Delete it (from now on every call about it is 404)."""
        with self.lock:
            del self.spreadsheets[spreadsheet_id]

    def values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """Every row of a tab as stored (unformatted), trailing empties trimmed; [] for an empty tab."""
        with self.lock:
            answer = _model.get_values(self.spreadsheets[spreadsheet_id], _a1_whole(title), "UNFORMATTED_VALUE")
        rows: list[list[Any]] = answer.get("values", [])
        return rows

    def count(self, *, write: bool | None = None, method: str | None = None) -> int:
        """How many API calls were seen (faulted ones included), optionally of one kind."""
        with self.lock:
            return sum(
                1 for c in self.calls if (write is None or c.write == write) and (method is None or c.method == method)
            )

    def reset_calls(self) -> None:
        """Forget the calls seen so far."""
        with self.lock:
            self.calls.clear()

    # ---- request handling -------------------------------------------------------------------------------------

    def pick_fault(self, method: str) -> str | None:
        """The fault for the API request now arriving, if any."""
        with self.lock:
            if self.faults.script:
                fault, _, only = self.faults.script[0].partition(":")
                if not only or only == method:
                    self.faults.script.pop(0)
                    return fault
                return None
            roll = self._rng.random()
            if roll < self.faults.rate_429:
                return "429"
            if roll < self.faults.rate_429 + self.faults.rate_500:
                return "500"
            return None

    def record(self, call: Call) -> None:
        """Remember one API call."""
        with self.lock:
            self.calls.append(call)

    def over_quota(self, principal: str, write: bool) -> bool:
        """Count the request against its per-minute quota; True when the quota is spent."""
        limit = self.quota_per_minute[write]
        if limit is None:
            return False
        now = time.monotonic()
        with self.lock:
            recent = self._recent.setdefault((principal, write), deque())
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if len(recent) >= limit:
                return True
            recent.append(now)
            return False

    def spreadsheet(self, spreadsheet_id: str, principal: str) -> Spreadsheet:
        """The spreadsheet the principal may edit, or 404 / 403."""
        ss = self.spreadsheets.get(spreadsheet_id)
        if ss is None:
            raise ApiError(404, "Requested entity was not found.", "NOT_FOUND")
        editors = self.editors.get(spreadsheet_id)
        if editors is not None and principal not in editors:
            raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
        return ss

    def dispatch(
        self, verb: str, path: str, query: dict[str, list[str]], body: dict[str, Any], principal: str
    ) -> dict[str, Any]:
        """Answer one API call (under the lock) or raise `ApiError`."""
        parts = path.split("/")[3:]  # after "", "v4", "spreadsheets"
        one = {k: v[0] for k, v in query.items()}
        with self.lock:
            if not parts or parts == [""]:
                if verb != "POST":
                    raise _not_found(path)
                ss = Spreadsheet.create(body)
                self.spreadsheets[ss.spreadsheet_id] = ss
                self.editors[ss.spreadsheet_id] = {principal}
                return ss.resource()
            head, _, action = unquote(parts[0]).partition(":")
            ss = self.spreadsheet(head, principal)
            if len(parts) == 1:
                if verb == "GET" and not action:
                    return ss.resource()
                if verb == "POST" and action == "batchUpdate":
                    draft, replies = batch_update(ss, body.get("requests") or [])
                    self.spreadsheets[head] = draft
                    out: dict[str, Any] = {"spreadsheetId": head, "replies": replies}
                    if body.get("includeSpreadsheetInResponse"):
                        out["updatedSpreadsheet"] = draft.resource()
                    return out
                raise _not_found(path)
            if parts[1].startswith("values:"):
                return _values_collection(ss, verb, parts[1][len("values:") :], query, one, body)
            if parts[1] == "values" and len(parts) == 3:
                raw_range, _, action = parts[2].partition(":")
                return _values_range(ss, verb, unquote(raw_range), action, one, body)
            raise _not_found(path)


def classify(verb: str, path: str) -> tuple[str, bool]:
    """(method name, is it a write) of an API path, for counting and quotas."""
    parts = path.split("/")[3:]
    if not parts or parts == [""]:
        return "spreadsheets.create", True
    if len(parts) == 1:
        return ("spreadsheets.batchUpdate", True) if parts[0].endswith(":batchUpdate") else ("spreadsheets.get", False)
    if parts[1].startswith("values:"):
        action = parts[1][len("values:") :]
        return f"values.{action}", verb != "GET"
    action = parts[-1].partition(":")[2]
    if action:
        return f"values.{action}", True
    return ("values.get", False) if verb == "GET" else ("values.update", True)


def _a1_whole(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _not_found(path: str) -> ApiError:
    return ApiError(404, f"Method not found: {path}", "NOT_FOUND")


def _input_option(one: dict[str, str], body: dict[str, Any]) -> str:
    option = one.get("valueInputOption") or body.get("valueInputOption")
    if not option:
        raise invalid("'valueInputOption' is required but not specified")
    return str(option)


def _values_collection(
    ss: Spreadsheet, verb: str, action: str, query: dict[str, list[str]], one: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    if verb == "GET" and action == "batchGet":
        render = one.get("valueRenderOption", "FORMATTED_VALUE")
        major = one.get("majorDimension", "ROWS")
        ranges = [_model.get_values(ss, r, render, major) for r in query.get("ranges", [])]
        return {"spreadsheetId": ss.spreadsheet_id, "valueRanges": ranges}
    if verb == "POST" and action == "batchUpdate":
        return _model.batch_update_values(ss, body.get("data") or [], _input_option(one, body))
    if verb == "POST" and action == "batchClear":
        cleared = [_model.clear_values(ss, r)["clearedRange"] for r in body.get("ranges") or []]
        return {"spreadsheetId": ss.spreadsheet_id, "clearedRanges": cleared}
    raise _not_found(f"values:{action}")


def _values_range(
    ss: Spreadsheet, verb: str, a1: str, action: str, one: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    if verb == "GET" and not action:
        render = one.get("valueRenderOption", "FORMATTED_VALUE")
        return _model.get_values(ss, a1, render, one.get("majorDimension", "ROWS"))
    if body.get("majorDimension", "ROWS") != "ROWS":
        raise invalid("This fake accepts majorDimension=ROWS only.")
    if verb == "PUT" and not action:
        return _model.update_values(ss, a1, body.get("values") or [], _input_option(one, body))
    if verb == "POST" and action == "append":
        option = _input_option(one, body)
        return _model.append_values(ss, a1, body.get("values") or [], option, one.get("insertDataOption", "OVERWRITE"))
    if verb == "POST" and action == "clear":
        return _model.clear_values(ss, a1)
    raise _not_found(f"values/{a1}:{action}")


class Handler(JSONHandler):
    """One request: the token endpoint, or authenticate, count, inject faults, answer JSON over keep-alive."""

    content_type = "application/json; charset=UTF-8"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SheetsHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read assertions, not access logs."""

    def _serve(self, verb: str) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path == "/token":
            self._token(raw)
            return
        if not url.path.startswith("/v4/spreadsheets"):
            self._send(404, _not_found(url.path).body)
            return
        method, write = classify(verb, url.path)
        if api.faults.latency_s:
            time.sleep(api.faults.latency_s)
        principal: str | None = None
        try:
            principal = api.auth.principal_of(self.headers.get("Authorization"))
        except ApiError as exc:
            api.record(Call(method, write, exc.code, None))
            self._send(exc.code, exc.body)
            return
        fault = api.pick_fault(method)
        if fault in ("reset", "429", "500", "503") or (fault is None and api.over_quota(principal, write)):
            status = 429 if fault is None else {"reset": 0, "429": 429, "500": 500, "503": 503}[fault]
            api.record(Call(method, write, status, principal))
            self._fail(status, "Write" if write else "Read")
            return
        try:
            if len(raw) > PAYLOAD_LIMIT:
                raise invalid(f"Request payload size exceeds the limit: {PAYLOAD_LIMIT} bytes.")
            body = orjson.loads(raw) if raw else {}
            payload = api.dispatch(verb, url.path, parse_qs(url.query, keep_blank_values=True), body, principal)
        except ApiError as exc:
            api.record(Call(method, write, exc.code, principal))
            self._send(exc.code, exc.body)
            return
        except orjson.JSONDecodeError as exc:
            api.record(Call(method, write, 400, principal))
            self._send(400, invalid(f"Invalid JSON payload received. {exc}").body)
            return
        call = Call(method, write, 200, principal, len(raw))
        api.record(call)
        if write and api.on_write is not None:
            api.on_write(call)
        if fault in ("503-after", "reset-after"):
            self._fail(0 if fault == "reset-after" else 503, "Write")
            return
        self._send(200, payload)

    def _fail(self, status: int, kind: str) -> None:
        if status == 0:  # a connection reset: RST instead of a response
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if status == 429:
            error = ApiError(429, _QUOTA_MESSAGE.format(kind=kind), "RESOURCE_EXHAUSTED")
            retry_after = self.server.api.faults.retry_after
            self._send(429, error.body, {"Retry-After": retry_after} if retry_after is not None else None)
        elif status == 500:
            self._send(500, ApiError(500, "Internal error encountered.", "INTERNAL").body)
        else:
            self._send(503, ApiError(503, "The service is currently unavailable.", "UNAVAILABLE").body)

    def _token(self, raw: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        try:
            self._send(200, self.server.api.auth.grant(form))
        except TokenError as exc:
            self._send(exc.status, exc.body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")


class SheetsHTTPServer(LocalHTTPServer):
    """A threaded server on 127.0.0.1 bound to one `FakeSheets`; its `url` is a client's `api_endpoint`."""

    def __init__(self, api: FakeSheets, port: int = 0) -> None:
        super().__init__(Handler, port)
        self.api = api

    @property
    def token_uri(self) -> str:
        """Where the fake's OAuth token endpoint listens."""
        return f"{self.url}/token"

"""The HTTP face of the fake Stripe API: routing, Stripe's list semantics, error bodies, auth and faults."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from .._serving import JSONHandler, LocalHTTPServer
from ._data import FAN_OUT, RESOURCES_BY_PATH, Collection, Store, UndeletableError

CHILD_ROUTES = {
    ("customers", "payment_methods"): "payment_methods",
    ("customers", "balance_transactions"): "balance_transactions_of_customers",
    ("customers", "tax_ids"): "tax_ids",
    ("invoices", "lines"): "invoice_lines",
    ("checkout/sessions", "line_items"): "checkout_line_items",
    ("credit_notes", "lines"): "credit_note_lines",
    ("transfers", "reversals"): "transfer_reversals",
    ("application_fees", "refunds"): "fee_refunds",
    ("quotes", "line_items"): "quote_line_items",
    ("payment_links", "line_items"): "payment_link_line_items",
    ("accounts", "persons"): "persons",
}
"""(parent list path, child segment) -> the collection listed at `/v1/<parent>/<id>/<child>`."""
CHILD_ONLY = frozenset(CHILD_ROUTES.values()) - {"payment_methods", "tax_ids"}
"""Collections Stripe lists only under their parent (no `/v1/<collection>` of their own)."""
LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand[]"})
"""Parameters every list endpoint takes; `created` only where the resource has the filter."""
EXTRA_LIST_PARAMS: dict[str, frozenset[str]] = {
    "customers": frozenset({"email", "test_clock"}),
    "charges": frozenset({"customer", "payment_intent", "transfer_group"}),
    "invoices": frozenset({"customer", "status", "subscription", "collection_method", "due_date"}),
    "invoiceitems": frozenset({"customer", "invoice", "pending"}),
    "subscriptions": frozenset({"customer", "price", "status", "collection_method", "test_clock"}),
    "subscription_items": frozenset({"subscription"}),
    "products": frozenset({"active", "ids[]", "shippable", "type", "url"}),
    "prices": frozenset({"active", "currency", "lookup_keys[]", "product", "type"}),
    "plans": frozenset({"active", "product"}),
    "promotion_codes": frozenset({"active", "code", "coupon", "customer"}),
    "payment_intents": frozenset({"customer"}),
    "setup_intents": frozenset({"customer", "payment_method", "attach_to_self"}),
    "payment_methods": frozenset({"customer", "type", "allow_redisplay"}),
    "refunds": frozenset({"charge", "payment_intent"}),
    "disputes": frozenset({"charge", "payment_intent"}),
    "payouts": frozenset({"arrival_date", "destination", "status"}),
    "transfers": frozenset({"destination", "transfer_group"}),
    "balance_transactions": frozenset({"currency", "payout", "source", "type"}),
    "application_fees": frozenset({"charge"}),
    "credit_notes": frozenset({"customer", "invoice"}),
    "checkout/sessions": frozenset({"customer", "payment_intent", "payment_link", "status", "subscription"}),
    "tax_rates": frozenset({"active", "inclusive"}),
    "tax_ids": frozenset({"owner[type]", "owner[customer]", "owner[account]"}),
    "radar/early_fraud_warnings": frozenset({"charge", "payment_intent"}),
    "topups": frozenset({"amount", "status"}),
    "files": frozenset({"purpose"}),
    "file_links": frozenset({"expired", "file"}),
    "payment_links": frozenset({"active"}),
    "shipping_rates": frozenset({"active", "currency"}),
    "quotes": frozenset({"customer", "status", "test_clock"}),
    "billing_portal/configurations": frozenset({"active", "is_default"}),
    "issuing/cardholders": frozenset({"email", "phone_number", "status", "type"}),
    "issuing/cards": frozenset({"cardholder", "exp_month", "exp_year", "last4", "status", "type"}),
    "issuing/authorizations": frozenset({"card", "cardholder", "status"}),
    "issuing/transactions": frozenset({"card", "cardholder", "type"}),
    "events": frozenset({"delivery_success", "type", "types[]"}),
    "invoice_payments": frozenset({"invoice", "payment[type]", "payment[payment_intent]", "status"}),
    "billing/meters": frozenset({"status"}),
    "issuing/disputes": frozenset({"status", "transaction"}),
    "identity/verification_sessions": frozenset({"client_reference_id", "related_customer", "status"}),
    "terminal/locations": frozenset(),
    "terminal/readers": frozenset({"device_type", "location", "serial_number", "status"}),
    "persons": frozenset({"relationship[owner]", "relationship[director]", "relationship[executive]"}),
    "billing/credit_grants": frozenset({"customer", "customer_account"}),
}


@dataclass
class Faults:
    """What goes wrong, and how often; change it at any time (reads are unlocked snapshots)."""

    latency_s: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_reset: float = 0.0
    retry_after: str | None = "1"
    script: list[str] = field(default_factory=list)
    """Faults for the next requests, in order: "429", "500", "503", "reset"; consumed one per request."""
    seed: int = 0
    endpoint_rate: float = 0.0
    """When above 0: requests per second each endpoint answers before a 429 `endpoint-rate` (Stripe's 25/s)."""


class ApiError(Exception):
    """A Stripe-shaped error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        body: dict[str, Any] = {"type": kind, "message": message}
        if code:
            body["code"] = code
            body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            body["param"] = param
        body["request_log_url"] = "https://dashboard.stripe.com/test/logs/req_fake"
        self.body = {"error": body}


class FakeStripe:
    """State shared by the handler threads: the store, keys, unavailable endpoints, faults, request counts."""

    def __init__(self, store: Store, *, keys: dict[str, str] | None = None) -> None:
        self.store = store
        self.keys: dict[str, str] = keys if keys is not None else {"sk_test_fake": "ok"}
        """API key -> "ok" or "expired"."""
        self.unavailable: dict[str, str] = {}
        """List path (e.g. "issuing/cards") -> the 400 message Stripe gives an account that cannot use it."""
        self.forbidden: set[str] = set()
        """Paths (e.g. "account", "customers") a restricted key may not read: 403 with Stripe's message."""
        self.refuse_retrieve: set[str] = set()
        """Object ids whose retrieve answers 403 (a re-fetch that fails while the list works)."""
        self.versions: set[str] = set()
        """Every `Stripe-Version` header received."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._endpoint_times: dict[str, list[float]] = {}
        self.faults = Faults()
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self.request_times: list[float] = []
        self.paths: list[str] = []
        self.request_log: IO[str] | None = None
        """When set, each request's arrival (`time.monotonic()` seconds, a clock every process shares) is appended
        as a line: a benchmark reads the rate it was called at over time."""

    def reseed(self, seed: int) -> None:
        """Restart the fault dice."""
        self._rng = random.Random(seed)

    def pick_fault(self) -> str | None:
        """The fault for the request now arriving, if any."""
        with self._lock:
            if self.faults.script:
                return self.faults.script.pop(0)
            roll = self._rng.random()
            if roll < self.faults.rate_429:
                return "429"
            roll -= self.faults.rate_429
            if roll < self.faults.rate_500:
                return "500"
            roll -= self.faults.rate_500
            if roll < self.faults.rate_reset:
                return "reset"
            return None

    def count(self, path: str) -> None:
        """Remember one API request (for budgets and assertions)."""
        with self._lock:
            now = time.monotonic()
            self.request_times.append(now)
            self.paths.append(path)
            if self.request_log is not None:
                self.request_log.write(f"{now:.6f}\n")
                self.request_log.flush()

    def enter(self) -> None:
        """A request is being answered (counts concurrency)."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        """A request was answered."""
        with self._lock:
            self.in_flight -= 1

    def over_endpoint_rate(self, path: str) -> bool:
        """Whether this request exceeds `faults.endpoint_rate` on its endpoint (ids folded: one endpoint)."""
        if self.faults.endpoint_rate <= 0:
            return False
        endpoint = "/".join("*" if "_" in part and part[-1:].isdigit() else part for part in path.split("/"))
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._endpoint_times.get(endpoint, []) if now - t < 1.0]
            if len(recent) >= self.faults.endpoint_rate:
                self._endpoint_times[endpoint] = recent
                return True
            recent.append(now)
            self._endpoint_times[endpoint] = recent
            return False

    # ---- API ----------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: list[tuple[str, str]], key: str | None, form: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """Answer one API call or raise `ApiError`."""
        status = self.keys.get(key or "")
        if status is None:
            raise ApiError(401, "Invalid API Key provided: " + _mask(key or ""))
        if status == "expired":
            raise ApiError(401, "Expired API Key provided: " + _mask(key or ""), code="api_key_expired")
        if not path.startswith("/v1/"):
            raise _unknown(method, path)
        rest = path[4:].strip("/")
        parts = rest.split("/")
        if any("/".join(parts[:n]) in self.forbidden for n in (1, 2)) or (
            method == "GET" and parts[-1] in self.refuse_retrieve
        ):
            raise ApiError(
                403,
                f"The provided key '{_mask(key or '')}' does not have the required permissions for this endpoint "
                "on account 'acct_fake'. Having the 'rak_read' permission would allow this request to continue.",
            )
        if method == "GET" and rest in ("balance", "account"):
            return {"object": rest, "id": "acct_fake" if rest == "account" else None, "livemode": False}
        for (parent, child), collection in CHILD_ROUTES.items():
            n = parent.count("/") + 1
            if method == "GET" and len(parts) == n + 2 and "/".join(parts[:n]) == parent and parts[-1] == child:
                owner = self.store.collections[parent]
                i = owner.position_of(parts[n])
                if i is None or not owner.alive(i):
                    name = owner.resource.object_name
                    raise ApiError(404, f"No such {name}: '{parts[n]}'", code="resource_missing", param="id")
                return self._list(self.store.collections[collection], query, parent_id=parts[n])
        for n in (2, 1):
            resource_path = "/".join(parts[:n])
            if resource_path in RESOURCES_BY_PATH and resource_path not in CHILD_ONLY and len(parts) in (n, n + 1):
                if resource_path in self.unavailable:
                    raise ApiError(400, self.unavailable[resource_path])
                c = self.store.collections[resource_path]
                object_id = parts[n] if len(parts) == n + 1 else None
                return self._dispatch(method, c, object_id, query, form)
        raise _unknown(method, path)

    def _dispatch(
        self,
        method: str,
        c: Collection,
        object_id: str | None,
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> dict[str, Any]:
        fields = _form_fields(form)
        if object_id is None:
            if method == "GET":
                return self._list(c, query)
            if method == "POST":
                return self.store.create(c.resource.path, fields)
        else:
            try:
                if method == "GET":
                    i = c.position_of(object_id)
                    if i is None or not c.alive(i):
                        raise KeyError(object_id)
                    return c.render(i)
                if method == "POST":
                    return self.store.update(object_id, fields)
                if method == "DELETE":
                    return self.store.delete(object_id)
            except UndeletableError:
                raise _unknown(method, f"/v1/{c.resource.path}/{object_id}") from None
            except KeyError:
                raise ApiError(
                    404, f"No such {c.resource.object_name}: '{object_id}'", code="resource_missing", param="id"
                ) from None
        raise ApiError(405, f"Unrecognized request URL ({method}: {c.resource.path}).")

    def _list(self, c: Collection, query: list[tuple[str, str]], parent_id: str | None = None) -> dict[str, Any]:
        params = dict(query)
        _check_params(c, params)
        limit = _int_param(params, "limit", 10)
        if not 1 <= limit <= 100:
            raise ApiError(400, "Invalid limit: must be between 1 and 100", param="limit")
        gte, lt = _created_bounds(params, c)
        if parent_id is None and c.resource.parent_field and c.resource.parent_field in params:
            parent_id = params[c.resource.parent_field]
        if parent_id is None and c.resource.path == "tax_ids" and params.get("owner[type]") == "customer":
            if "owner[customer]" not in params:
                raise ApiError(400, "Missing required param: owner[customer].", param="owner[customer]")
            parent_id = params["owner[customer]"]
        with self.store.lock:
            lo, hi = c.positions_between(gte, lt)
            if parent_id is not None:
                lo, hi = _child_positions(c, parent_id, lo, hi)
            keep = _filter(c, params, parent_id)
            after, before = params.get("starting_after"), params.get("ending_before")
            if after and before:
                raise ApiError(400, "You may only specify one of these parameters: ending_before, starting_after.")
            data: list[dict[str, Any]] = []
            if before:
                start = self._cursor(c, before, "ending_before") + 1
                i = max(start, lo)
                while i < hi and len(data) <= limit:
                    if c.alive(i) and keep(i):
                        data.append(c.public(i))
                    i += 1
                data.reverse()
                has_more = len(data) > limit
                data = data[-limit:] if has_more else data
            else:
                start = hi - 1 if not after else min(hi - 1, self._cursor(c, after, "starting_after") - 1)
                i = start
                while i >= lo and len(data) <= limit:
                    if c.alive(i) and keep(i):
                        data.append(c.public(i))
                    i -= 1
                has_more = len(data) > limit
                data = data[:limit]
        return {"object": "list", "url": f"/v1/{c.resource.path}", "has_more": has_more, "data": data}

    def _cursor(self, c: Collection, object_id: str, param: str) -> int:
        i = c.position_of(object_id)
        if i is None:
            raise ApiError(400, f"Invalid {param}: no such {c.resource.object_name} '{object_id}'", param=param)
        return i


def _child_positions(c: Collection, parent_id: str, lo: int, hi: int) -> tuple[int, int]:
    digits = parent_id.rpartition("_")[2]
    if not digits.isdigit():
        return 0, 0
    p = int(digits)
    if c.extra_created:  # live children may belong to anyone: scan everything, filter by field
        return lo, hi
    return max(lo, p * FAN_OUT), min(hi, (p + 1) * FAN_OUT)


def _check_params(c: Collection, params: dict[str, str]) -> None:
    """Stripe answers 400 to a parameter the endpoint does not take."""
    allowed = LIST_PARAMS | EXTRA_LIST_PARAMS.get(c.resource.path, frozenset())
    for name in params:
        if name == "created" or name.startswith("created["):
            continue  # `_created_bounds` answers these
        if name not in allowed and not (name.startswith("expand[") or name.startswith("lookup_keys[")):
            raise ApiError(400, f"Received unknown parameter: {name}", param=name)


def _filter(c: Collection, params: dict[str, str], parent_id: str | None) -> Callable[[int], bool]:
    """Which positions the list shows: Stripe's defaults hide canceled subscriptions, archived prices, closed
    reviews and customers' tax IDs unless asked for."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    path = c.resource.path
    if path == "subscriptions" and params.get("status") not in ("all", "canceled"):
        checks.append(lambda o: o.get("status") != "canceled")
    if path == "subscriptions" and params.get("status") == "canceled":
        checks.append(lambda o: o.get("status") == "canceled")
    if path == "prices":
        active = params.get("active", "true") != "false"
        checks.append(lambda o: bool(o.get("active", True)) is active)
    if path == "reviews":
        checks.append(lambda o: o.get("open") is True)
    if path == "tax_ids" and parent_id is None:
        checks.append(lambda o: (o.get("owner") or {}).get("type") == params.get("owner[type]", "self"))
    for name, value in params.items():
        if name in EQUALITY_FILTERS.get(path, ()):
            checks.append(_equals(name, value))
    field_name = c.resource.parent_field
    if parent_id is not None and field_name and (c.extra_created or path == "tax_ids"):
        checks.append(lambda o: o.get(field_name) == parent_id)
    if not checks:
        return lambda i: True
    return lambda i: all(check(c.render(i)) for check in checks)


EQUALITY_FILTERS: dict[str, tuple[str, ...]] = {
    "charges": ("customer", "payment_intent"),
    "invoices": ("customer", "status", "subscription"),
    "subscriptions": ("customer",),
    "payment_intents": ("customer",),
    "refunds": ("charge", "payment_intent"),
    "products": ("active",),
    "plans": ("active", "product"),
    "tax_rates": ("active",),
    "shipping_rates": ("active",),
    "payment_links": ("active",),
    "credit_notes": ("customer", "invoice"),
}
"""List parameters that keep only objects whose field equals the value (expanded objects compare by id)."""


def _equals(name: str, value: str) -> Callable[[dict[str, Any]], bool]:
    return lambda o: _as_param(o.get(name)) == value


def _as_param(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    if name not in params:
        return default
    try:
        return int(params[name])
    except ValueError:
        raise ApiError(400, f"Invalid integer: {params[name]}", param=name) from None


def _created_bounds(params: dict[str, str], c: Collection) -> tuple[int | None, int | None]:
    keys = [k for k in params if k == "created" or k.startswith("created[")]
    if not keys:
        return None, None
    if not c.resource.created_filter:
        raise ApiError(400, "Received unknown parameter: created", param="created")
    gte: int | None = None
    lt: int | None = None
    for k in keys:
        v = _int_param(params, k, 0)
        op = k[8:-1] if k != "created" else "eq"
        if op == "gte":
            gte = v if gte is None else max(gte, v)
        elif op == "gt":
            gte = v + 1 if gte is None else max(gte, v + 1)
        elif op == "lt":
            lt = v if lt is None else min(lt, v)
        elif op == "lte":
            lt = v + 1 if lt is None else min(lt, v + 1)
        elif op == "eq":
            gte, lt = v, v + 1
        else:
            raise ApiError(400, f"Received unknown parameter: {k}", param=k)
    return gte, lt


def _form_fields(form: list[tuple[str, str]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for k, v in form:
        if k.startswith("metadata[") and k.endswith("]"):
            fields.setdefault("metadata", {})[k[9:-1]] = v
        else:
            fields[k] = int(v) if v.isdigit() else v
    return fields


def _mask(key: str) -> str:
    return (key[:8] + "*" * 12 + key[-4:]) if len(key) > 12 else "****"


def _unknown(method: str, path: str) -> ApiError:
    return ApiError(404, f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs.")


class Handler(JSONHandler):
    """One request: authenticate, inject faults, answer JSON with Content-Length over keep-alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: StripeHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read assertions, not access logs."""

    def _serve(self, method: str) -> None:
        api = self.server.api
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        api.count(url.path)
        api.versions.add(self.headers.get("Stripe-Version") or "")
        api.enter()
        try:
            self._answer(api, method, url.path, url.query, body)
        finally:
            api.leave()

    def _answer(self, api: FakeStripe, method: str, path: str, query: str, body: bytes) -> None:
        if api.faults.latency_s:
            time.sleep(api.faults.latency_s)
        fault = "endpoint-rate" if api.over_endpoint_rate(path) else api.pick_fault()
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault in ("429", "endpoint-rate"):
            headers = {"Stripe-Rate-Limited-Reason": "global-rate" if fault == "429" else "endpoint-rate"}
            if api.faults.retry_after is not None:
                headers["Retry-After"] = api.faults.retry_after
            err = ApiError(429, "Too many requests hit the API too quickly.", code="rate_limit")
            self._send(429, err.body, headers)
            return
        if fault in ("500", "503"):
            self._send(int(fault), {"error": {"type": "api_error", "message": "An unknown error occurred."}})
            return
        auth = self.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else None
        try:
            payload = api.handle(
                method,
                path,
                parse_qsl(query, keep_blank_values=True),
                key,
                parse_qsl(body.decode(), keep_blank_values=True),
            )
        except ApiError as exc:
            self._send(exc.status, exc.body)
            return
        self._send(200, payload)

    def _own_headers(self) -> dict[str, str]:
        return {"Request-Id": f"req_{time.monotonic_ns()}"}

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


class StripeHTTPServer(LocalHTTPServer):
    """A threaded server on 127.0.0.1 bound to one `FakeStripe`."""

    def __init__(self, api: FakeStripe, port: int = 0) -> None:
        super().__init__(Handler, port)
        self.api = api

"""GET requests to Stripe over keep-alive connections: rate budget, retries with backoff, cancellation.

The hot path stays off the SDK's typed objects (too slow for 5,000 objects/s) and does not even import the SDK
(half a second per start): one `http.client` connection per worker thread, bodies parsed with orjson, and
`Stripe-Version` pinned to the version the stream schemas were generated for.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from ._config import StripeConfig
from ._errors import StripeResponseError, StripeUnreachableError, unreachable_reason
from ._rate import CancelledError, TokenBucket
from ._streams import generated

RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})
UNREACHABLE_RETRIES = 2
"""Retries of a connection that cannot be opened before the server ever answered (then: a wrong `api_base`)."""
RateLimitedHook = Callable[[str | None, datetime, str], None]
"""Called with (stream, retry_at, reason) whenever a request waits after a 429."""


class StripeHttp:
    """A blocking GET client shared by worker threads.

    Every request takes a token from its endpoint's bucket (Stripe limits each endpoint, 25 req/s by default) and
    then from the account's shared bucket. A 429 pauses only the bucket Stripe names in
    `Stripe-Rate-Limited-Reason`: an `endpoint-*` reason holds back that endpoint, anything else everyone.
    """

    def __init__(
        self,
        config: StripeConfig,
        bucket: TokenBucket,
        on_rate_limited: RateLimitedHook | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        self._config = config
        self._bucket = bucket
        self._on_rate_limited = on_rate_limited
        base = urlsplit(config.api_base)
        self._https = base.scheme == "https"
        self._host = base.hostname or "api.stripe.com"
        self._port = base.port or (443 if self._https else 80)
        self._prefix = base.path.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {config.api_key.get_secret_value()}",
            "Stripe-Version": api_version(),
            "User-Agent": "source-stripe/0.1",
            "Accept": "application/json",
        }
        if config.account_id:
            self._headers["Stripe-Account"] = config.account_id
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._open_lock = threading.Lock()
        self._rng = random.Random(seed)
        self._endpoints: dict[str, TokenBucket] = {}
        self._endpoints_lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.answered = False
        """Whether any answer came from the server: from then on, failing to connect is transient."""

    def endpoint_bucket(self, endpoint: str) -> TokenBucket:
        """The bucket of one endpoint (a path template such as `/v1/customers/{parent}/payment_methods`)."""
        with self._endpoints_lock:
            bucket = self._endpoints.get(endpoint)
            if bucket is None:
                rate = self._config.endpoint_requests_per_second
                bucket = TokenBucket(rate, max(1.0, rate / 10), cancel=self._bucket.cancel)
                self._endpoints[endpoint] = bucket
            return bucket

    @property
    def cancel_event(self) -> threading.Event:
        """Set by `cancel()`; every wait of this client watches it."""
        return self._bucket.cancel

    def cancel(self) -> None:
        """Stop: wake every sleeper and shut down every open socket so in-flight reads end at once."""
        self._bucket.cancel.set()
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        """Close every connection."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            conn.close()

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._config.request_timeout_s)
            self._local.conn = conn
            with self._open_lock:
                self._open.add(conn)
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            with self._open_lock:
                self._open.discard(conn)
            self._local.conn = None

    def get(
        self,
        path: str,
        params: list[tuple[str, str]] | None = None,
        *,
        stream: str | None = None,
        endpoint: str | None = None,
    ) -> Any:
        """GET `path` with `params`; returns the parsed JSON body (see `get_body`)."""
        return orjson.loads(self.get_body(path, params, stream=stream, endpoint=endpoint))

    def get_body(
        self,
        path: str,
        params: list[tuple[str, str]] | None = None,
        *,
        stream: str | None = None,
        endpoint: str | None = None,
    ) -> bytes:
        """GET `path` with `params`; returns the body of the 200 answer. `endpoint` names the budget (default: `path`).

        Retries 429, 409, 5xx and network errors with exponential backoff and full jitter, waiting at least
        `Retry-After`; raises `StripeResponseError` (for `map_stripe_errors`) or `CancelledError`. A server
        that cannot be connected to before it ever answered raises `StripeUnreachableError` after a few quick
        retries instead of the whole backoff.
        """
        url = self._prefix + path + ("?" + urlencode(params) if params else "")
        own = self.endpoint_bucket(endpoint or path)
        attempt = 0
        while True:
            own.acquire()
            self._bucket.acquire()
            self.requests += 1
            try:
                status, headers, body = self._once(url)
            except (OSError, http.client.HTTPException) as exc:
                self._drop_conn()
                if self._bucket.cancel.is_set():
                    raise CancelledError("cancelled") from exc
                reason = None if self.answered else unreachable_reason(exc)
                if reason is not None and attempt >= min(UNREACHABLE_RETRIES, self._config.max_retries):
                    raise StripeUnreachableError(self._config.api_base, reason) from exc
                if attempt >= self._config.max_retries:
                    raise StripeResponseError(0, f"network error talking to Stripe: {type(exc).__name__}") from exc
                self._backoff(attempt, None)
                attempt += 1
                continue
            if status == 200:
                return body
            if status in RETRY_STATUSES and attempt < self._config.max_retries:
                retry_after = _retry_after(headers.get("retry-after"))
                delay = self._delay(attempt, retry_after)
                if status == 429:
                    reason = headers.get("stripe-rate-limited-reason") or "rate_limited"
                    paused = own if reason.startswith("endpoint") else self._bucket
                    paused.pause_until(time.monotonic() + delay)
                    if self._on_rate_limited is not None:
                        self._on_rate_limited(stream, datetime.now(UTC) + timedelta(seconds=delay), reason)
                self.retries += 1
                self._bucket.sleep(delay)
                attempt += 1
                continue
            raise _error(status, body)

    def _once(self, url: str) -> tuple[int, dict[str, str], bytes]:
        conn = self._conn()
        conn.request("GET", url, headers=self._headers)
        response = conn.getresponse()
        self.answered = True
        body = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        if response.will_close:
            self._drop_conn()
        return response.status, headers, body

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self._config.backoff_max_s, self._config.backoff_base_s * 2.0**attempt)
        jittered = backoff * (0.5 + self._rng.random() / 2)
        return max(jittered, retry_after) if retry_after is not None else jittered

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        self.retries += 1
        self._bucket.sleep(self._delay(attempt, retry_after))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def api_version() -> str:
    """The API version the stream schemas were generated for (sent as `Stripe-Version` on every request)."""
    return str(generated()["api_version"])


def _error(status: int, body: bytes) -> StripeResponseError:
    """Stripe's error body as a `StripeResponseError`."""
    try:
        payload = orjson.loads(body)
        err = payload.get("error", {}) if isinstance(payload, dict) else {}
    except orjson.JSONDecodeError:
        err = {}
    err = err if isinstance(err, dict) else {}
    message = str(err.get("message") or f"HTTP {status}")
    code, param = err.get("code"), err.get("param")
    return StripeResponseError(
        status, message, code=code if isinstance(code, str) else None, param=param if isinstance(param, str) else None
    )

"""A pass-through HTTP proxy on 127.0.0.1 that can hold list answers after the upstream built them.

It opens the window in which a backfill has read an object but not yet written it: the answer already holds
the old version while the test changes the object and lets the live lane write the new one.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

FORWARDED = ("authorization", "stripe-version", "stripe-account", "content-type", "idempotency-key")


class HoldingProxy(ThreadingHTTPServer):
    """Forwards every request to `upstream`; answers to requests `hold` matches wait until `release()`."""

    daemon_threads = True

    def __init__(self, upstream: str, hold: Callable[[str, str], bool]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream
        self.hold = hold
        self.held: list[dict[str, Any]] = []
        """Bodies of the answers being held, as the upstream built them."""
        self._released = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def release(self) -> None:
        self._released.set()

    def keep(self, body: bytes) -> None:
        """Hold one answer until released."""
        with self._lock:
            self.held.append(orjson.loads(body))
        self._released.wait(300)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: HoldingProxy

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _forward(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        data = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
        request = urllib.request.Request(self.server.upstream + self.path, data, headers, method=self.command)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, body, extra = answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as exc:
            status, body, extra = exc.code, exc.read(), dict(exc.headers)
        if status == 200 and self.server.hold(self.command, urlsplit(self.path).path):
            self.server.keep(body)
        self.send_response(status)
        for name in ("Content-Type", "Retry-After", "Stripe-Rate-Limited-Reason", "Request-Id"):
            if name in extra:
                self.send_header(name, extra[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _forward


@contextmanager
def holding_proxy(upstream: str, hold: Callable[[str, str], bool]) -> Iterator[HoldingProxy]:
    """A running proxy; released and stopped on exit."""
    proxy = HoldingProxy(upstream, hold)
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.release()
        proxy.shutdown()
        proxy.server_close()
        thread.join(5)

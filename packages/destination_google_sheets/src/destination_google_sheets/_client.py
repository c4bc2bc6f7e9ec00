"""The Sheets API as this connector uses it: one resource built once, per-minute budgets, retries, counts.

Every request waits for its budget (reads and writes have separate per-minute budgets, like Google's quotas),
then runs; 429, 5xx and network errors are retried with exponential backoff (or `Retry-After` when the response
has one). A write that is not idempotent (an append, a structural batch that deletes or inserts rows) is retried
in place only after a 429, which Google answers before doing anything; after a 5xx or a network error it may have
been applied, so it raises `AmbiguousWriteError` and the caller re-reads the sheet before trying again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import google.oauth2.credentials
import google_auth_httplib2  # type: ignore[import-untyped]
import httplib2  # type: ignore[import-untyped]
import orjson
from google.auth import exceptions as auth_exceptions
from google.oauth2 import service_account
from googleapiclient.discovery import build  # type: ignore[import-untyped]
from googleapiclient.errors import HttpError  # type: ignore[import-untyped]
from googleapiclient.model import JsonModel  # type: ignore[import-untyped]
from sync_protocol import TransientError

from ._config import SCOPES, SheetsConfig
from ._errors import (
    NETWORK_ERRORS,
    AmbiguousWriteError,
    is_retryable,
    retry_after,
    status_of,
    translate_http,
    translate_refresh,
)

log = logging.getLogger("destination_google_sheets")

_WINDOW_S = 60.0


class MinuteBudget:
    """At most `per_minute` acquisitions in any 60 s window (stricter than Google's per-minute buckets)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def delay(self) -> float:
        """Take one slot if free now (0.0); otherwise how long to wait before asking again."""
        with self._lock:
            now = self._clock()
            while self._times and now - self._times[0] >= _WINDOW_S:
                self._times.popleft()
            if len(self._times) < self._limit:
                self._times.append(now)
                return 0.0
            return self._times[0] + _WINDOW_S - now

    def acquire(self, sleep: Callable[[float], None] = time.sleep) -> None:
        """Block until a slot is free and take it."""
        while (wait := self.delay()) > 0:
            self.waited_s += wait
            sleep(wait)


class CompactJson(JsonModel):  # type: ignore[misc]
    """Request bodies as compact UTF-8 JSON (orjson): the bytes sent are the bytes counted against the budget.

    googleapiclient's default (`json.dumps`) adds spaces and escapes every non-ASCII character (up to 6 bytes for
    one), so a request of CJK text could be twice the size it was cut to.
    """

    def __init__(self) -> None:
        super().__init__(data_wrapper=False)

    def serialize(self, body_value: Any) -> bytes:
        return orjson.dumps(body_value)

    def deserialize(self, content: bytes | str) -> Any:
        return orjson.loads(content) if content else {}


def credentials(config: SheetsConfig) -> Any:
    """google-auth credentials for the config: a service account, or a user's refresh token."""
    info = config.service_account_info()
    if info is not None:
        return service_account.Credentials.from_service_account_info(info, scopes=SCOPES)  # type: ignore[no-untyped-call]
    assert config.oauth_client_secret is not None and config.oauth_refresh_token is not None
    return google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=config.oauth_refresh_token.get_secret_value(),
        client_id=config.oauth_client_id,
        client_secret=config.oauth_client_secret.get_secret_value(),
        token_uri=config.oauth_token_uri,
        scopes=SCOPES,
    )


class SheetsClient:
    """Requests to one spreadsheet (or to create one), budgeted, retried and counted."""

    def __init__(self, config: SheetsConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.spreadsheet_id = config.spreadsheet_id
        self.principal = config.principal()
        self._sleep = sleep
        self._credentials = credentials(config)
        http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=config.timeout_s))
        options = {"api_endpoint": config.api_endpoint} if config.api_endpoint else None
        service = build(
            "sheets",
            "v4",
            http=http,
            model=CompactJson(),
            static_discovery=True,
            cache_discovery=False,
            client_options=options,
        )
        self._spreadsheets = service.spreadsheets()  # ≈ 35 ms each: built once
        self._values = self._spreadsheets.values()
        self.reads = MinuteBudget(config.read_requests_per_minute)
        self.writes = MinuteBudget(config.write_requests_per_minute)
        self.counts: Counter[str] = Counter()
        """Requests sent by method (retries included), plus "retried"."""

    # ---- the calls ------------------------------------------------------------------------------------------

    def refresh_token(self) -> None:
        """Exchange the credentials for an access token now (what `check` does without a spreadsheet)."""
        try:
            self._credentials.refresh(google_auth_httplib2.Request(httplib2.Http(timeout=self.config.timeout_s)))
        except auth_exceptions.RefreshError as exc:
            raise translate_refresh(exc, self.principal) from exc
        except auth_exceptions.TransportError as exc:
            raise TransientError(f"the token endpoint could not be reached: {exc}") from exc

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """`spreadsheets.create`; not idempotent (a retry after a 5xx could make a second spreadsheet)."""
        return self._run("spreadsheets.create", self._spreadsheets.create(body=body), write=True, idempotent=False)

    def get(self) -> dict[str, Any]:
        """`spreadsheets.get`: properties and sheets, no grid data."""
        request = self._spreadsheets.get(
            spreadsheetId=self._sid(),
            fields="spreadsheetId,properties.title,sheets(properties,developerMetadata)",
        )
        return self._run("spreadsheets.get", request, write=False)

    def batch_update(self, requests: list[dict[str, Any]], *, stream: str | None = None) -> dict[str, Any]:
        """`spreadsheets.batchUpdate` (atomic); idempotent only if it changes no rows, columns or sheets."""
        idempotent = all(next(iter(r)) in ("updateSheetProperties", "sortRange") for r in requests)
        request = self._spreadsheets.batchUpdate(spreadsheetId=self._sid(), body={"requests": requests})
        return self._run("spreadsheets.batchUpdate", request, write=True, idempotent=idempotent, stream=stream)

    def values_get(self, a1: str, *, stream: str | None = None) -> list[list[Any]]:
        """`values.get`, unformatted (numbers as numbers); [] when the range is empty."""
        request = self._values.get(spreadsheetId=self._sid(), range=a1, valueRenderOption="UNFORMATTED_VALUE")
        values: list[list[Any]] = self._run("values.get", request, write=False, stream=stream).get("values", [])
        return values

    def values_batch_get(self, ranges: list[str], *, stream: str | None = None) -> list[list[list[Any]]]:
        """`values.batchGet` of several ranges in one request, unformatted."""
        request = self._values.batchGet(spreadsheetId=self._sid(), ranges=ranges, valueRenderOption="UNFORMATTED_VALUE")
        answer = self._run("values.batchGet", request, write=False, stream=stream)
        return [r.get("values", []) for r in answer.get("valueRanges", [])]

    def values_batch_update(self, data: list[dict[str, Any]], *, stream: str | None = None) -> dict[str, Any]:
        """`values.batchUpdate` with RAW input (text stays text); idempotent."""
        body = {"valueInputOption": "RAW", "data": data}
        request = self._values.batchUpdate(spreadsheetId=self._sid(), body=body)
        return self._run("values.batchUpdate", request, write=True, stream=stream)

    def values_append(self, a1: str, rows: list[list[Any]], *, stream: str | None = None) -> dict[str, Any]:
        """`values.append` RAW, inserting rows after the table; not idempotent."""
        request = self._values.append(
            spreadsheetId=self._sid(),
            range=a1,
            valueInputOption="RAW",
            insertDataOption="INSERT_ROWS",
            body={"values": rows},
        )
        return self._run("values.append", request, write=True, idempotent=False, stream=stream)

    # ---- retries -----------------------------------------------------------------------------------------------

    def backoff(self, attempt: int, hint: float | None = None) -> None:
        """Sleep before retry number `attempt` (0-based): `hint` (Retry-After) if given, else 2^n with jitter."""
        if hint is not None:
            delay = hint
        else:
            delay = min(self.config.retry_max_s, self.config.retry_base_s * 2**attempt) * random.uniform(0.5, 1.0)
        self.counts["retried"] += 1
        self._sleep(delay)

    def _sid(self) -> str:
        if self.spreadsheet_id is None:
            raise RuntimeError("no spreadsheet yet: run setup first")
        return self.spreadsheet_id

    def _run(
        self, method: str, request: Any, *, write: bool, idempotent: bool = True, stream: str | None = None
    ) -> dict[str, Any]:
        budget = self.writes if write else self.reads
        attempt = 0
        while True:
            budget.acquire(self._sleep)
            self.counts[method] += 1
            try:
                result: dict[str, Any] = request.execute(num_retries=0)
                return result
            except HttpError as exc:
                if not is_retryable(exc) or attempt >= self.config.max_retries:
                    raise translate_http(
                        exc, spreadsheet_id=self.spreadsheet_id, stream=stream, principal=self.principal
                    ) from exc
                if not idempotent and status_of(exc) != 429:
                    raise AmbiguousWriteError(f"{method} answered {status_of(exc)}", stream=stream) from exc
                log.debug("%s answered %s; retrying", method, status_of(exc))
                self.backoff(attempt, retry_after(exc))
            except auth_exceptions.RefreshError as exc:
                error = translate_refresh(exc, self.principal)
                if not isinstance(error, TransientError) or attempt >= self.config.max_retries:
                    raise error from exc
                self.backoff(attempt)
            except NETWORK_ERRORS as exc:
                if not idempotent:
                    raise AmbiguousWriteError(f"{method} failed: {exc!r}", stream=stream) from exc
                if attempt >= self.config.max_retries:
                    raise TransientError(f"{method} failed: {exc!r} (retries exhausted)", stream=stream) from exc
                log.debug("%s failed (%r); retrying", method, exc)
                self.backoff(attempt)
            attempt += 1

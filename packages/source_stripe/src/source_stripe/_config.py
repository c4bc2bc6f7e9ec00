"""The source's configuration: the secret key, where the API lives, the shared request budget and tuning knobs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr

STRIPE_API = "https://api.stripe.com"
LIVE_RATE = 100.0
TEST_RATE = 25.0
ENDPOINT_RATE = 25.0
"""Stripe's limits: 100 requests/s per account in live mode, 25 in test mode, and 25/s on most single endpoints."""


class StripeConfig(BaseModel):
    """Config of `source-stripe`; `api_key` is redacted from every output."""

    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(description="Secret or restricted API key (sk_live_…, rk_live_…, sk_test_…).")
    api_base: str = Field(default=STRIPE_API, description="API base URL (a local server in tests).")
    account_id: str | None = Field(default=None, description="Connected account to read (Stripe-Account header).")
    start_date: datetime | None = Field(
        default=None, description="Oldest creation time to backfill; default: the account's creation."
    )
    requests_per_second: float | None = Field(
        default=None, gt=0, description="Shared request budget of all streams; default 100 for live keys, 25 for test."
    )
    endpoint_requests_per_second: float = Field(
        default=ENDPOINT_RATE, gt=0, description="Budget of each endpoint (Stripe limits them separately too)."
    )
    burst: float | None = Field(default=None, gt=0, description="Token bucket capacity; default 1/10 s of budget.")
    max_concurrency: int = Field(
        default=32,
        ge=1,
        le=64,
        description="Pages in flight at once, all streams (a full budget at Stripe's 200-500 ms needs 20-50).",
    )
    max_concurrent_streams: int = Field(
        default=16, ge=1, le=256, description="Streams whose pages are fetched at the same time."
    )
    page_size: int = Field(default=100, ge=1, le=100, description="Objects per list page.")
    segment_objects: int = Field(
        default=2000, ge=100, description="A dense segment is subdivided until parts hold about this many objects."
    )
    max_split: int = Field(default=16, ge=2, le=64, description="Parts a dense segment is split into at most.")
    max_retries: int = Field(default=8, ge=0, description="Retries of one request on 429, 5xx and network errors.")
    backoff_base_s: float = Field(default=0.5, ge=0, description="First backoff delay; doubles per retry, jittered.")
    backoff_max_s: float = Field(default=30.0, ge=0, description="Longest backoff delay.")
    request_timeout_s: float = Field(default=60.0, gt=0, description="Socket timeout of one request.")
    events_lag_s: int = Field(default=2, ge=0, description="Events newer than this many seconds wait for next run.")
    events_window_days: int = Field(
        default=30, ge=1, description="How long Stripe keeps events; an older cursor falls back to a range re-read."
    )
    lookback_days: int = Field(
        default=7,
        ge=0,
        description="Streams without events that change after creation (balance transactions become available, "
        "file links expire) re-read this many days before their last cursor.",
    )
    reread_every_s: int = Field(
        default=3600,
        ge=0,
        description="Small lists without events (shipping rates, tax codes…) are re-read this often.",
    )
    use_created_filter: bool = Field(
        default=True,
        description="Backfill by created ranges; off reads every list sequentially (for servers "
        "that reject `created` filters).",
    )
    stream_params: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Extra list parameters per stream, e.g. {"charges": {"customer": "cus_…"}}.',
    )

    def rate(self) -> float:
        """Requests per second for this key: configured, or by key kind."""
        if self.requests_per_second is not None:
            return self.requests_per_second
        key = self.api_key.get_secret_value()
        return LIVE_RATE if key.startswith(("sk_live", "rk_live")) else TEST_RATE

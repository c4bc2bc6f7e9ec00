"""Local stand-ins for what a sync talks to, shared by the demo, the tests and the benchmarks.

`sync_testbed.stripe_server` (a Stripe-compatible API, `python -m sync_testbed.stripe_server`),
`sync_testbed.sheets_server` (the Google Sheets API and token endpoint; the `sheets` extra),
`sync_testbed.postgres` (a throwaway PostgreSQL server). Importing this package starts nothing.
"""

from __future__ import annotations

from ._ports import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port"]

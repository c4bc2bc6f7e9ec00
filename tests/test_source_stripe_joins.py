"""The streams users join on (payments of invoices, line items, lines, reversals, fee refunds, billing) against the
strict local server: complete lists, every page of every parent, and children listed again after a parent's event.
"""

from __future__ import annotations

import time

from sync_protocol.testing import ConnectorHarness
from sync_testbed.stripe_server import StripeHTTPServer

from tests.test_source_stripe_backfill import SOURCE, by_stream, catalog, config
from tests.test_source_stripe_incremental import errors, rows, state_after, terminal

CHILDREN = {
    "invoice_line_items": ("invoices", "invoice_lines"),
    "checkout_session_line_items": ("checkout/sessions", "checkout_line_items"),
    "credit_note_lines": ("credit_notes", "credit_note_lines"),
    "transfer_reversals": ("transfers", "transfer_reversals"),
    "application_fee_refunds": ("application_fees", "fee_refunds"),
    "quote_line_items": ("quotes", "quote_line_items"),
    "payment_link_line_items": ("payment_links", "payment_link_line_items"),
    "persons": ("accounts", "persons"),
}
TOP_LEVEL = {
    "invoice_payments": "invoice_payments",
    "billing_meters": "billing/meters",
    "billing_credit_grants": "billing/credit_grants",
    "issuing_disputes": "issuing/disputes",
    "identity_verification_sessions": "identity/verification_sessions",
    "terminal_locations": "terminal/locations",
    "terminal_readers": "terminal/readers",
}


def test_join_streams_read_every_object(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    for parent, child in CHILDREN.values():
        store.generate(parent, 60)
        store.generate(child, 120)
    for path in TOP_LEVEL.values():
        store.generate(path, 150)
    # One invoice with more lines than a page holds: every page of it arrives.
    for _ in range(130):
        store.create("invoice_lines", {"invoice": "in_0000000005"})
    streams = [*CHILDREN, *TOP_LEVEL]
    result = ConnectorHarness(SOURCE).read(config(stripe_api, page_size=50), catalog(streams))
    assert not errors(result) and terminal(result) == dict.fromkeys(streams, "complete")
    got = by_stream(result.records)
    for stream, (_, child) in CHILDREN.items():
        assert {r["id"] for r in got[stream]} == set(store.expected(child)), stream
        assert len(got[stream]) == len(store.expected(child)), stream
    for stream, path in TOP_LEVEL.items():
        assert {r["id"] for r in got[stream]} == set(store.expected(path)), stream
    assert all("session" not in r for r in got["checkout_session_line_items"])  # Stripe's shape, not the fake's
    assert all("quote" not in r for r in got["quote_line_items"])


def test_children_are_listed_again_after_their_parents_event(stripe_api: StripeHTTPServer) -> None:
    store = stripe_api.api.store
    store.generate("transfers", 20)
    store.generate("transfer_reversals", 40)
    store.generate("invoices", 20)
    store.generate("invoice_lines", 40)
    streams = ["transfer_reversals", "invoice_line_items"]
    cat = catalog(streams, mode="incremental")
    first = ConnectorHarness(SOURCE).read(config(stripe_api), cat)
    time.sleep(1.1)
    reversal = store.create("transfer_reversals", {"transfer": "tr_0000000003"})["id"]
    store.update("tr_0000000003", {"amount_reversed": 100})  # Stripe: transfer.reversed / transfer.updated
    line = store.create("invoice_lines", {"invoice": "in_0000000002"})["id"]
    store.update("in_0000000002", {"amount_due": 4200})
    time.sleep(1.1)
    second = ConnectorHarness(SOURCE).read(config(stripe_api), cat, state_after(first.states))
    assert reversal in rows(second, "transfer_reversals")
    assert line in rows(second, "invoice_line_items")
    assert terminal(second) == dict.fromkeys(streams, "complete")

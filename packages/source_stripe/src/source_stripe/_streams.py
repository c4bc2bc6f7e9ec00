"""The registry of Stripe streams: where each object is listed, how it is filtered, and its generated schema.

Schemas and whether a list endpoint takes a `created` filter are read from `_schemas.json`, which
`python -m source_stripe._schemagen` derives from the stripe SDK's typed resources and list parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import orjson


class Strategy(StrEnum):
    """How changes after the backfill reach a stream (the README's table)."""

    EVENTS = "events"
    """New objects by `created` range (or their `.created` event), updates and deletes from `/v1/events`."""
    LOOKBACK = "lookback"
    """No events: the `created` range is re-read from the last cursor minus `lookback_days` (append-only data)."""
    REREAD = "reread"
    """No events: the whole (small) list is re-read every `reread_every_s`."""
    PARENT_EVENTS = "parent_events"
    """Per-parent lists: new parents by range, and the children of every parent an event names are listed again."""
    APPEND = "append"
    """Immutable objects (events themselves): only the new `created` range is read."""


@dataclass(frozen=True)
class StreamDef:
    """How one Stripe object type is listed and retrieved."""

    name: str
    """Stream name in the catalog."""
    path: str
    """List path; `{parent}` is replaced by a parent object's id for per-parent streams."""
    resource: str
    """SDK resource class, dotted under `stripe` (e.g. `checkout.Session`): the source of the schema."""
    object_name: str
    """The `object` value Stripe gives this type; events name it in `data.object.object`."""
    retrieve_path: str | None = None
    """Path of one object (`{id}` replaced) used to re-fetch after an event; None when not retrievable."""
    extra_params: tuple[tuple[str, str], ...] = ()
    """List parameters every request needs, e.g. `status=all` so canceled subscriptions are not omitted."""
    time_field: str = "created"
    """Field holding the object's creation time (invoice items use `date`)."""
    parent: str | None = None
    """Parent stream whose ids are listed first, for objects only listable per parent."""
    parent_param: str | None = None
    """Query parameter naming the parent (when the parent id is not in the path)."""
    params_class: str = ""
    """SDK list-params class, dotted under `stripe.params`; tells whether `created` filters are accepted."""
    strategy: Strategy = Strategy.EVENTS
    """How changes arrive after the backfill."""
    variants: tuple[tuple[tuple[str, str], ...], ...] = ((),)
    """Parameter sets each listed separately, when one list cannot show everything (`active=true`/`false`)."""
    owner_type: str | None = None
    """For `tax_id` objects: the `owner.type` this stream holds (the account's own, or customers')."""

    @property
    def created_filter(self) -> bool:
        """Whether the list is read by `created` ranges: the endpoint's own filter, or its parents' for per-parent
        streams (whose ranges are then their parents' creation times)."""
        if self.parent is not None:
            return STREAMS_BY_NAME[self.parent].created_filter
        return bool(generated()["streams"][self.name]["created_filter"])

    @property
    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of one record, generated from the SDK's typed resource."""
        schema: dict[str, Any] = generated()["streams"][self.name]["schema"]
        return schema


def _s(
    name: str,
    path: str,
    resource: str,
    object_name: str,
    *,
    params_class: str | None = None,
    retrieve_path: str | None = None,
    **kw: Any,
) -> StreamDef:
    if retrieve_path is None and "{parent}" not in path:
        retrieve_path = f"{path}/{{id}}"
    return StreamDef(
        name, path, resource, object_name, retrieve_path, params_class=params_class or f"{resource}ListParams", **kw
    )


STREAMS: tuple[StreamDef, ...] = (
    _s("customers", "/v1/customers", "Customer", "customer"),
    _s("charges", "/v1/charges", "Charge", "charge"),
    _s("invoices", "/v1/invoices", "Invoice", "invoice"),
    _s("invoiceitems", "/v1/invoiceitems", "InvoiceItem", "invoiceitem", time_field="date"),
    _s("subscriptions", "/v1/subscriptions", "Subscription", "subscription", extra_params=(("status", "all"),)),
    _s(
        "subscription_items",
        "/v1/subscription_items",
        "SubscriptionItem",
        "subscription_item",
        parent="subscriptions",
        parent_param="subscription",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s("subscription_schedules", "/v1/subscription_schedules", "SubscriptionSchedule", "subscription_schedule"),
    _s("products", "/v1/products", "Product", "product"),
    _s("prices", "/v1/prices", "Price", "price", variants=((("active", "true"),), (("active", "false"),))),
    _s("plans", "/v1/plans", "Plan", "plan"),
    _s("coupons", "/v1/coupons", "Coupon", "coupon"),
    _s("promotion_codes", "/v1/promotion_codes", "PromotionCode", "promotion_code"),
    _s("payment_intents", "/v1/payment_intents", "PaymentIntent", "payment_intent"),
    _s("setup_intents", "/v1/setup_intents", "SetupIntent", "setup_intent"),
    _s(
        "payment_methods",
        "/v1/customers/{parent}/payment_methods",
        "PaymentMethod",
        "payment_method",
        parent="customers",
        retrieve_path="/v1/payment_methods/{id}",
        params_class="CustomerPaymentMethodListParams",
    ),
    _s("refunds", "/v1/refunds", "Refund", "refund"),
    _s("disputes", "/v1/disputes", "Dispute", "dispute"),
    _s("payouts", "/v1/payouts", "Payout", "payout"),
    _s("transfers", "/v1/transfers", "Transfer", "transfer"),
    _s(
        "balance_transactions",
        "/v1/balance_transactions",
        "BalanceTransaction",
        "balance_transaction",
        strategy=Strategy.LOOKBACK,
    ),
    _s("application_fees", "/v1/application_fees", "ApplicationFee", "application_fee"),
    _s("credit_notes", "/v1/credit_notes", "CreditNote", "credit_note"),
    _s("checkout_sessions", "/v1/checkout/sessions", "checkout.Session", "checkout.session"),
    _s("tax_rates", "/v1/tax_rates", "TaxRate", "tax_rate"),
    _s("tax_ids", "/v1/tax_ids", "TaxId", "tax_id", owner_type="self", strategy=Strategy.REREAD),
    _s(
        "customer_tax_ids",
        "/v1/customers/{parent}/tax_ids",
        "TaxId",
        "tax_id",
        parent="customers",
        retrieve_path="/v1/tax_ids/{id}",
        params_class="CustomerTaxIdListParams",
        owner_type="customer",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "early_fraud_warnings", "/v1/radar/early_fraud_warnings", "radar.EarlyFraudWarning", "radar.early_fraud_warning"
    ),
    _s("reviews", "/v1/reviews", "Review", "review"),
    _s("topups", "/v1/topups", "Topup", "topup"),
    _s("files", "/v1/files", "File", "file"),
    _s("file_links", "/v1/file_links", "FileLink", "file_link", strategy=Strategy.LOOKBACK),
    _s("events", "/v1/events", "Event", "event", strategy=Strategy.APPEND),
    _s("payment_links", "/v1/payment_links", "PaymentLink", "payment_link"),
    _s("shipping_rates", "/v1/shipping_rates", "ShippingRate", "shipping_rate", strategy=Strategy.REREAD),
    _s("quotes", "/v1/quotes", "Quote", "quote"),
    _s("webhook_endpoints", "/v1/webhook_endpoints", "WebhookEndpoint", "webhook_endpoint", strategy=Strategy.REREAD),
    _s("tax_codes", "/v1/tax_codes", "TaxCode", "tax_code", strategy=Strategy.REREAD),
    _s("accounts", "/v1/accounts", "Account", "account"),
    _s(
        "customer_balance_transactions",
        "/v1/customers/{parent}/balance_transactions",
        "CustomerBalanceTransaction",
        "customer_balance_transaction",
        parent="customers",
        params_class="CustomerBalanceTransactionListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "billing_portal_configurations",
        "/v1/billing_portal/configurations",
        "billing_portal.Configuration",
        "billing_portal.configuration",
    ),
    _s("issuing_cardholders", "/v1/issuing/cardholders", "issuing.Cardholder", "issuing.cardholder"),
    _s("issuing_cards", "/v1/issuing/cards", "issuing.Card", "issuing.card"),
    _s("issuing_authorizations", "/v1/issuing/authorizations", "issuing.Authorization", "issuing.authorization"),
    _s("issuing_transactions", "/v1/issuing/transactions", "issuing.Transaction", "issuing.transaction"),
    _s("invoice_payments", "/v1/invoice_payments", "InvoicePayment", "invoice_payment"),
    _s(
        "invoice_line_items",
        "/v1/invoices/{parent}/lines",
        "InvoiceLineItem",
        "line_item",
        parent="invoices",
        params_class="InvoiceLineItemListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "checkout_session_line_items",
        "/v1/checkout/sessions/{parent}/line_items",
        "LineItem",
        "item",
        parent="checkout_sessions",
        params_class="checkout.SessionLineItemListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "credit_note_lines",
        "/v1/credit_notes/{parent}/lines",
        "CreditNoteLineItem",
        "credit_note_line_item",
        parent="credit_notes",
        params_class="CreditNoteLineItemListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "transfer_reversals",
        "/v1/transfers/{parent}/reversals",
        "TransferReversal",
        "transfer_reversal",
        parent="transfers",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "application_fee_refunds",
        "/v1/application_fees/{parent}/refunds",
        "ApplicationFeeRefund",
        "fee_refund",
        parent="application_fees",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s("issuing_disputes", "/v1/issuing/disputes", "issuing.Dispute", "issuing.dispute"),
    _s(
        "identity_verification_sessions",
        "/v1/identity/verification_sessions",
        "identity.VerificationSession",
        "identity.verification_session",
    ),
    _s(
        "terminal_locations",
        "/v1/terminal/locations",
        "terminal.Location",
        "terminal.location",
        strategy=Strategy.REREAD,
    ),
    _s("terminal_readers", "/v1/terminal/readers", "terminal.Reader", "terminal.reader", strategy=Strategy.REREAD),
    _s(
        "quote_line_items",
        "/v1/quotes/{parent}/line_items",
        "LineItem",
        "item",
        parent="quotes",
        params_class="QuoteLineItemListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "payment_link_line_items",
        "/v1/payment_links/{parent}/line_items",
        "LineItem",
        "item",
        parent="payment_links",
        params_class="PaymentLinkLineItemListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s(
        "persons",
        "/v1/accounts/{parent}/persons",
        "Person",
        "person",
        parent="accounts",
        params_class="AccountPersonListParams",
        strategy=Strategy.PARENT_EVENTS,
    ),
    _s("billing_meters", "/v1/billing/meters", "billing.Meter", "billing.meter"),
    _s("billing_credit_grants", "/v1/billing/credit_grants", "billing.CreditGrant", "billing.credit_grant"),
)

STREAMS_BY_NAME: dict[str, StreamDef] = {s.name: s for s in STREAMS}
STREAMS_BY_OBJECT: dict[str, StreamDef] = {s.object_name: s for s in STREAMS if s.owner_type != "customer"}
"""The stream an event's object belongs to (`tax_id` objects owned by customers: see `stream_of`)."""
CHILDREN_BY_PARENT_OBJECT: dict[str, tuple[StreamDef, ...]] = {
    parent.object_name: tuple(s for s in STREAMS if s.parent == parent.name and s.strategy is Strategy.PARENT_EVENTS)
    for parent in STREAMS
    if any(s.parent == parent.name for s in STREAMS)
}
"""Per-parent streams to list again when an event names their parent (e.g. `customer` -> its balance transactions)."""


def stream_of(obj: dict[str, Any]) -> StreamDef | None:
    """The stream an object (e.g. from an event) belongs to."""
    name = str(obj.get("object"))
    if name == "tax_id" and (obj.get("owner") or {}).get("type", "customer" if obj.get("customer") else "self") == (
        "customer"
    ):
        return STREAMS_BY_NAME["customer_tax_ids"]
    return STREAMS_BY_OBJECT.get(name)


SCHEMAS_FILE = "_schemas.json"


@cache
def generated() -> dict[str, Any]:
    """The generated schemas file, parsed once (discover stays offline and fast)."""
    raw = resources.files("source_stripe").joinpath(SCHEMAS_FILE).read_bytes()
    data: dict[str, Any] = orjson.loads(raw)
    return data

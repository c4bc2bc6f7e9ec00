"""Which real Stripe event a change of each object emits, as the pinned API version names them.

Stripe has no event at all for several objects (balance transactions, subscription items, customer balance
transactions, file links, shipping rates, webhook endpoints, tax codes) and no `.updated` or `.deleted` event for
many others (a payment intent's metadata edit, for one, emits nothing). The fake emits exactly these, so a source
that relies on events for an object Stripe never announces fails its tests here as it would against Stripe.
`tests/test_stripe_server.py` checks every name against the event types of the stripe SDK.
"""

from __future__ import annotations

EventTypes = tuple[str | None, str | None, str | None]
"""(on create, on update, on delete); None where Stripe sends no event."""

EVENTS_BY_OBJECT: dict[str, EventTypes] = {
    "customer": ("customer.created", "customer.updated", "customer.deleted"),
    "charge": ("charge.succeeded", "charge.updated", None),
    "invoice": ("invoice.created", "invoice.updated", "invoice.deleted"),
    "invoiceitem": ("invoiceitem.created", None, "invoiceitem.deleted"),
    "subscription": ("customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"),
    "subscription_schedule": ("subscription_schedule.created", "subscription_schedule.updated", None),
    "product": ("product.created", "product.updated", "product.deleted"),
    "price": ("price.created", "price.updated", "price.deleted"),
    "plan": ("plan.created", "plan.updated", "plan.deleted"),
    "coupon": ("coupon.created", "coupon.updated", "coupon.deleted"),
    "promotion_code": ("promotion_code.created", "promotion_code.updated", None),
    "payment_intent": ("payment_intent.created", None, None),
    "setup_intent": ("setup_intent.created", None, None),
    "payment_method": ("payment_method.attached", "payment_method.updated", "payment_method.detached"),
    "refund": ("refund.created", "refund.updated", None),
    "dispute": ("charge.dispute.created", "charge.dispute.updated", None),
    "payout": ("payout.created", "payout.updated", None),
    "transfer": ("transfer.created", "transfer.updated", None),
    "application_fee": ("application_fee.created", None, None),
    "credit_note": ("credit_note.created", "credit_note.updated", None),
    "checkout.session": (None, "checkout.session.completed", None),
    "tax_rate": ("tax_rate.created", "tax_rate.updated", None),
    "tax_id": ("customer.tax_id.created", "customer.tax_id.updated", "customer.tax_id.deleted"),
    "radar.early_fraud_warning": ("radar.early_fraud_warning.created", "radar.early_fraud_warning.updated", None),
    "review": ("review.opened", "review.closed", None),
    "topup": ("topup.created", None, None),
    "file": ("file.created", None, None),
    "payment_link": ("payment_link.created", "payment_link.updated", None),
    "quote": ("quote.created", None, None),
    "account": (None, "account.updated", None),
    "billing_portal.configuration": (
        "billing_portal.configuration.created",
        "billing_portal.configuration.updated",
        None,
    ),
    "issuing.cardholder": ("issuing_cardholder.created", "issuing_cardholder.updated", None),
    "issuing.card": ("issuing_card.created", "issuing_card.updated", None),
    "issuing.authorization": ("issuing_authorization.created", "issuing_authorization.updated", None),
    "issuing.transaction": ("issuing_transaction.created", "issuing_transaction.updated", None),
    "invoice_payment": (None, "invoice_payment.paid", None),
    "issuing.dispute": ("issuing_dispute.created", "issuing_dispute.updated", None),
    "identity.verification_session": ("identity.verification_session.created", None, None),
    "person": ("person.created", "person.updated", "person.deleted"),
    "billing.meter": ("billing.meter.created", "billing.meter.updated", None),
    "billing.credit_grant": ("billing.credit_grant.created", "billing.credit_grant.updated", None),
}
"""Objects absent here (balance_transaction, subscription_item, customer_balance_transaction, file_link,
shipping_rate, webhook_endpoint, tax_code, line items, credit note lines) have no events at all; transfer
reversals and application fee refunds are announced by their parent's event (`transfer.reversed`,
`application_fee.refunded`) about the parent object: a test updates the parent to send one."""


def event_type(object_name: str, change: int) -> str | None:
    """The event type Stripe sends for change 0 (create), 1 (update) or 2 (delete) of `object_name`, if any."""
    types = EVENTS_BY_OBJECT.get(object_name)
    return None if types is None else types[change]

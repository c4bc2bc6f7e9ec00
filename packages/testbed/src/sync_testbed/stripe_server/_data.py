"""Generated Stripe objects, lazily: object `i` of a collection is rendered from a fixture shape on demand.

Object `i` has id `<prefix>_<i:010d>`, so a cursor id maps back to its position without any index even at a
million objects, and `created` grows monotonically with `i` (many objects share a second). Lists are newest
first: by `created` descending, ties by position descending. Updates, deletes and new objects are kept beside
the generated range; every change appends an event.
"""

from __future__ import annotations

import bisect
import copy
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ._event_types import event_type

FIXTURES = Path(__file__).with_name("fixtures3.json")
"""One real sample of each Stripe object (from stripe/openapi, MIT: `fixtures3.LICENSE` beside it)."""


@dataclass(frozen=True)
class Resource:
    """One listable object type of the fake API."""

    path: str
    object_name: str
    prefix: str
    created_filter: bool = True
    time_field: str = "created"
    parent_path: str | None = None
    parent_field: str | None = None
    hidden_parent: bool = False
    """The parent field is the fake's own bookkeeping: Stripe's object has no such field, so lists omit it."""


RESOURCES: tuple[Resource, ...] = (
    Resource("customers", "customer", "cus"),
    Resource("charges", "charge", "ch"),
    Resource("invoices", "invoice", "in"),
    Resource("invoiceitems", "invoiceitem", "ii", time_field="date"),
    Resource("subscriptions", "subscription", "sub"),
    Resource("subscription_items", "subscription_item", "si", created_filter=False, parent_field="subscription"),
    Resource("subscription_schedules", "subscription_schedule", "sub_sched"),
    Resource("products", "product", "prod"),
    Resource("prices", "price", "price"),
    Resource("plans", "plan", "plan"),
    Resource("coupons", "coupon", "cpn"),
    Resource("promotion_codes", "promotion_code", "promo"),
    Resource("payment_intents", "payment_intent", "pi"),
    Resource("setup_intents", "setup_intent", "seti"),
    Resource(
        "payment_methods",
        "payment_method",
        "pm",
        created_filter=False,
        parent_path="customers",
        parent_field="customer",
    ),
    Resource("refunds", "refund", "re"),
    Resource("disputes", "dispute", "dp"),
    Resource("payouts", "payout", "po"),
    Resource("transfers", "transfer", "tr"),
    Resource("balance_transactions", "balance_transaction", "txn"),
    Resource("application_fees", "application_fee", "fee"),
    Resource("credit_notes", "credit_note", "cn"),
    Resource("checkout/sessions", "checkout.session", "cs"),
    Resource("tax_rates", "tax_rate", "txr"),
    Resource("tax_ids", "tax_id", "txi", created_filter=False, parent_path="customers", parent_field="customer"),
    Resource("radar/early_fraud_warnings", "radar.early_fraud_warning", "issfr"),
    Resource("reviews", "review", "prv"),
    Resource("topups", "topup", "tu"),
    Resource("files", "file", "file"),
    Resource("file_links", "file_link", "link"),
    Resource("payment_links", "payment_link", "plink", created_filter=False),
    Resource("shipping_rates", "shipping_rate", "shr"),
    Resource("quotes", "quote", "qt", created_filter=False),
    Resource("webhook_endpoints", "webhook_endpoint", "we", created_filter=False),
    Resource("tax_codes", "tax_code", "txcd", created_filter=False),
    Resource("accounts", "account", "acct"),
    Resource(
        "balance_transactions_of_customers",
        "customer_balance_transaction",
        "cbtxn",
        created_filter=False,
        parent_path="customers",
        parent_field="customer",
    ),
    Resource("billing_portal/configurations", "billing_portal.configuration", "bpc", created_filter=False),
    Resource("issuing/cardholders", "issuing.cardholder", "ich"),
    Resource("issuing/cards", "issuing.card", "ic"),
    Resource("issuing/authorizations", "issuing.authorization", "iauth"),
    Resource("issuing/transactions", "issuing.transaction", "ipi"),
    Resource("events", "event", "evt"),
    Resource("invoice_payments", "invoice_payment", "inpay"),
    Resource("invoice_lines", "line_item", "il", created_filter=False, parent_path="invoices", parent_field="invoice"),
    Resource(
        "checkout_line_items",
        "item",
        "li",
        created_filter=False,
        parent_path="checkout/sessions",
        parent_field="session",
        hidden_parent=True,
    ),
    Resource(
        "credit_note_lines",
        "credit_note_line_item",
        "cnli",
        created_filter=False,
        parent_path="credit_notes",
        parent_field="credit_note",
        hidden_parent=True,
    ),
    Resource(
        "transfer_reversals",
        "transfer_reversal",
        "trr",
        created_filter=False,
        parent_path="transfers",
        parent_field="transfer",
    ),
    Resource(
        "fee_refunds", "fee_refund", "fr", created_filter=False, parent_path="application_fees", parent_field="fee"
    ),
    Resource("issuing/disputes", "issuing.dispute", "idp"),
    Resource("identity/verification_sessions", "identity.verification_session", "vs"),
    Resource("terminal/locations", "terminal.location", "tml", created_filter=False),
    Resource("terminal/readers", "terminal.reader", "tmr", created_filter=False),
    Resource(
        "quote_line_items",
        "item",
        "qli",
        created_filter=False,
        parent_path="quotes",
        parent_field="quote",
        hidden_parent=True,
    ),
    Resource(
        "payment_link_line_items",
        "item",
        "plli",
        created_filter=False,
        parent_path="payment_links",
        parent_field="payment_link",
        hidden_parent=True,
    ),
    Resource("persons", "person", "person", created_filter=False, parent_path="accounts", parent_field="account"),
    Resource("billing/meters", "billing.meter", "mtr", created_filter=False),
    Resource("billing/credit_grants", "billing.credit_grant", "credgr", created_filter=False),
)
FAN_OUT = 2
"""Generated child object `i` belongs to parent position `i // FAN_OUT`."""
PARENT_PREFIX = {
    "customer": "cus",
    "subscription": "sub",
    "invoice": "in",
    "session": "cs",
    "credit_note": "cn",
    "transfer": "tr",
    "fee": "fee",
    "quote": "qt",
    "payment_link": "plink",
    "account": "acct",
}
RESOURCES_BY_PATH = {r.path: r for r in RESOURCES}
RESOURCES_BY_PREFIX = {r.prefix: r for r in RESOURCES}


class UndeletableError(Exception):
    """Stripe has no way to delete this kind of object."""

    def __init__(self, object_name: str) -> None:
        super().__init__(f"Stripe cannot delete a {object_name}")
        self.object_name = object_name


def load_samples(path: Path = FIXTURES) -> dict[str, dict[str, Any]]:
    """One real sample per Stripe object, keyed by its `object` name."""
    samples: dict[str, dict[str, Any]] = orjson.loads(path.read_bytes())["resources"]
    return samples


def _own_tax_id(obj: dict[str, Any], i: int) -> None:
    """Every fourth generated tax ID is the account's own (`owner.type` self); the others belong to customers."""
    if i % 4 == 0:
        obj["customer"] = None
        obj["owner"] = {"type": "self", "account": None, "application": None, "customer": None}
    else:
        obj["owner"] = {"type": "customer", "account": None, "application": None, "customer": obj["customer"]}


class _CreatedIndex:
    """A read-only sequence of `created` values of the generated range, for bisect."""

    def __init__(self, collection: Collection) -> None:
        self._c = collection

    def __len__(self) -> int:
        return self._c.size

    def __getitem__(self, i: int) -> int:
        return self._c.created_of(i)


@dataclass
class Collection:
    """The objects of one resource: `generated` lazy objects spread over [start, end) plus live changes."""

    resource: Resource
    template: dict[str, Any]
    generated: int = 0
    start: int = 1_600_000_000
    end: int = 1_700_000_000
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    extra_created: list[int] = field(default_factory=list)
    """`created` of objects added after generation, at positions generated, generated+1, …"""

    @property
    def size(self) -> int:
        """Positions in use, deleted ones included."""
        return self.generated + len(self.extra_created)

    def created_of(self, i: int) -> int:
        """Creation second of position `i` (monotonic non-decreasing in `i`)."""
        if i < self.generated:
            return self.start + (i * (self.end - self.start)) // max(self.generated, 1)
        return self.extra_created[i - self.generated]

    def id_of(self, i: int) -> str:
        """The id of position `i`; `position_of` inverts it."""
        return f"{self.resource.prefix}_{i:010d}"

    def position_of(self, object_id: str) -> int | None:
        """Position of an id of this collection, deleted or not; None when the id is not one of ours."""
        prefix, _, digits = object_id.rpartition("_")
        if prefix != self.resource.prefix or not digits.isdigit():
            return None
        i = int(digits)
        return i if i < self.size else None

    def render(self, i: int) -> dict[str, Any]:
        """The object at position `i` as the API returns it."""
        override = self.overrides.get(i)
        if override is not None:
            return override
        obj = dict(self.template)
        obj["id"] = self.id_of(i)
        obj[self.resource.time_field] = self.created_of(i)
        if "created" in obj and self.resource.time_field != "created":
            obj["created"] = self.created_of(i)
        obj["metadata"] = {"position": str(i)}
        obj["description"] = f"{self.resource.object_name} number {i}"
        if "amount" in obj:
            obj["amount"] = (i * 7919) % 100_000
        if self.resource.parent_field is not None:
            obj[self.resource.parent_field] = f"{PARENT_PREFIX[self.resource.parent_field]}_{i // FAN_OUT:010d}"
        if self.resource.path == "subscriptions":
            obj["status"] = "canceled" if i % 10 == 0 else "active"
        elif self.resource.path == "prices":
            obj["active"] = i % 5 != 4  # archived prices exist, and `GET /v1/prices` omits them by default
        elif self.resource.path == "reviews":
            obj["open"] = i % 3 != 2  # `GET /v1/reviews` lists open reviews only
        elif self.resource.path == "tax_ids":
            _own_tax_id(obj, i)
        return obj

    def public(self, i: int) -> dict[str, Any]:
        """The object as a list shows it (without the fake's own parent bookkeeping)."""
        obj = self.render(i)
        if self.resource.hidden_parent and self.resource.parent_field:
            obj = {k: v for k, v in obj.items() if k != self.resource.parent_field}
        return obj

    def alive(self, i: int) -> bool:
        """Whether position `i` holds an object that lists and retrieves."""
        return i not in self.deleted and 0 <= i < self.size

    def positions_between(self, gte: int | None, lt: int | None) -> tuple[int, int]:
        """Positions [lo, hi) whose created lies in [gte, lt) (positions are ordered by created)."""
        index = _CreatedIndex(self)
        lo = 0 if gte is None else bisect.bisect_left(index, gte)
        hi = self.size if lt is None else bisect.bisect_left(index, lt)
        return lo, hi

    def all_alive(self) -> Iterator[int]:
        """Every alive position, oldest first."""
        return (i for i in range(self.size) if i not in self.deleted)


class Store:
    """All collections of the fake account, guarded by one lock for changes."""

    def __init__(
        self, samples: dict[str, dict[str, Any]], *, start: int = 1_600_000_000, end: int = 1_700_000_000
    ) -> None:
        self.lock = threading.RLock()
        self.collections: dict[str, Collection] = {}
        for res in RESOURCES:
            template = copy.deepcopy(samples.get(res.object_name, {"object": res.object_name}))
            template.pop("metadata", None)
            self.collections[res.path] = Collection(res, template, start=start, end=end)
        self.clock_offset = 0.0

    def now(self) -> int:
        """The server's clock, in Unix seconds."""
        return int(time.time() + self.clock_offset)

    def generate(self, path: str, count: int, *, start: int | None = None, end: int | None = None) -> Collection:
        """Give `path` `count` generated objects spread over [start, end) (replaces earlier generation)."""
        with self.lock:
            c = self.collections[path]
            if c.extra_created:
                raise ValueError("generate before adding live objects")
            c.generated = count
            c.start = c.start if start is None else start
            c.end = c.end if end is None else end
            return c

    def by_id(self, object_id: str) -> tuple[Collection, int] | None:
        """The collection and position of an id, if it names one of ours."""
        prefix = object_id.rpartition("_")[0]
        res = RESOURCES_BY_PREFIX.get(prefix)
        if res is None:
            return None
        c = self.collections[res.path]
        i = c.position_of(object_id)
        return None if i is None else (c, i)

    def _event(self, object_name: str, change: int, obj: dict[str, Any]) -> None:
        """Append the event Stripe sends for this change (0 create, 1 update, 2 delete), if it sends one."""
        kind = event_type(object_name, change)
        if kind is None:
            return
        events = self.collections["events"]
        created = self.now()
        if events.extra_created and events.extra_created[-1] > created:
            created = events.extra_created[-1]
        i = events.size
        events.extra_created.append(created)
        events.overrides[i] = {
            "id": events.id_of(i),
            "object": "event",
            "api_version": "2020-08-27",
            "created": created,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 0,
            "request": None,
            "type": kind,
        }

    def create(self, path: str, fields: dict[str, Any] | None = None, *, created: int | None = None) -> dict[str, Any]:
        """Add a live object created now (or at `created`, not before the newest); emits Stripe's event, if any."""
        with self.lock:
            c = self.collections[path]
            when = self.now() if created is None else created
            floor = c.extra_created[-1] if c.extra_created else (c.created_of(c.generated - 1) if c.generated else 0)
            when = max(when, floor)
            i = c.size
            c.extra_created.append(when)
            obj = c.render(i)
            obj["created"] = when
            obj[c.resource.time_field] = when
            obj.update(fields or {})
            c.overrides[i] = obj
            self._event(c.resource.object_name, 0, copy.deepcopy(obj))
            return obj

    def update(self, object_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change fields of a live object; emits Stripe's event for it, if any."""
        with self.lock:
            found = self.by_id(object_id)
            if found is None or not found[0].alive(found[1]):
                raise KeyError(object_id)
            c, i = found
            obj = {**c.render(i), **fields}
            c.overrides[i] = obj
            self._event(c.resource.object_name, 1, copy.deepcopy(obj))
            return obj

    def delete(self, object_id: str) -> dict[str, Any]:
        """Delete a live object and emit Stripe's deletion event with its last copy.

        Only objects Stripe itself can delete (those with a deletion event) can be deleted here: a charge, say,
        never disappears from Stripe, so a test that deleted one would expect a sync to see what no real source can.
        """
        with self.lock:
            found = self.by_id(object_id)
            if found is None or not found[0].alive(found[1]):
                raise KeyError(object_id)
            c, i = found
            if event_type(c.resource.object_name, 2) is None:
                raise UndeletableError(c.resource.object_name)
            obj = c.render(i)
            c.deleted.add(i)
            c.overrides.pop(i, None)
            self._event(c.resource.object_name, 2, copy.deepcopy(obj))
            return {"id": object_id, "object": c.resource.object_name, "deleted": True}

    def expected(self, path: str) -> dict[str, dict[str, Any]]:
        """Every alive object of `path` by id: what a full sync must produce."""
        with self.lock:
            c = self.collections[path]
            out = {}
            for i in c.all_alive():
                obj = c.render(i)
                out[obj["id"]] = obj
            return out

"""Reading outcomes from Stripe: the events after a cursor, and one link's current state.

Turns Stripe's objects into the worker's models (sync.domain.models) so no SDK object crosses inward.
Called by `StripePayments`, which owns the client and error translation.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sync.domain.models import (
    AttemptFailure,
    CreatedLink,
    EventBatch,
    StripeDispute,
    StripeEventRef,
    StripePaymentState,
    StripeRefund,
)
from sync.domain.refunds import REFUND_ID_KEY

# The events that can change what a Payment shows (at most 20 `types[]` per call).
EVENT_TYPES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)
PAYMENT_ID_KEY = "crm_payment_id"  # set by the worker on the link's and the PaymentIntent's metadata
# On a deleted Payment's link: the charge a staff post has told of, so that it is told once.
DELETED_PAID_SAID_KEY = "crm_deleted_paid_said"
# On a link emailed while the CRM refused (or deferred) recording it: to whom (a mark, not the address).
EMAILED_TO_KEY = "crm_emailed_to"
PAGE_SIZE = 100


def event_ref(event: dict[str, Any]) -> StripeEventRef:
    """Which Payment an event concerns, as far as the event itself tells."""
    obj = (event.get("data") or {}).get("object") or {}
    kind = obj.get("object")
    metadata = obj.get("metadata") or {}
    if kind == "payment_intent":
        intent = obj.get("id")
    else:
        intent = _id(obj.get("payment_intent"))
    return StripeEventRef(
        id=event["id"],
        type=event["type"],
        created=int(event["created"]),
        payment_id=metadata.get(PAYMENT_ID_KEY) or None,
        payment_intent_id=intent,
        refund_related=kind == "refund" or event["type"] in ("charge.refunded", "charge.refund.updated"),
    )


def oldest_first_batch(events: Iterable[StripeEventRef], *, max_events: int) -> EventBatch:
    """Take at most `max_events` from an oldest-first stream; the cursor is the last one taken."""
    taken, more = _take(events, max_events)
    return EventBatch(events=tuple(taken), newest_id=taken[-1].id if taken else None, more=more)


def newest_first_batch(events: Iterable[StripeEventRef], *, max_events: int) -> EventBatch:
    """Take at most `max_events` from a newest-first stream; the cursor is the first one taken."""
    taken, more = _take(events, max_events)
    return EventBatch(events=tuple(taken), newest_id=taken[0].id if taken else None, more=more)


def _take(events: Iterable[StripeEventRef], most: int) -> tuple[list[StripeEventRef], bool]:
    """At most `most` events, and whether another follows (read no further than that one)."""
    taken: list[StripeEventRef] = []
    for event in events:
        if len(taken) >= most:
            return taken, True
        taken.append(event)
    return taken, False


def payment_state(
    link_id: str,
    sessions: list[dict[str, Any]],
    *,
    refunds: list[dict[str, Any]] | None,
    disputes: list[dict[str, Any]],
) -> StripePaymentState:
    """Reduce a link's Checkout Sessions (newest first, PaymentIntent and its charge expanded)."""
    paid = _paid_session(sessions)
    claims = {"owners": _owners(sessions), "attempt_ids": _attempt_ids(sessions)}
    if paid is None:
        return _unpaid_state(link_id, sessions).model_copy(update=claims)
    intent = paid.get("payment_intent") if isinstance(paid.get("payment_intent"), dict) else {}
    charge = _charge_of(paid) or {}
    details = paid.get("customer_details") or {}
    return StripePaymentState(
        **claims,
        payment_link_id=link_id,
        # The charge's currency, which its amounts are in (the session's is the same for a link).
        currency=charge.get("currency") or paid.get("currency"),
        checkout_session_id=paid["id"],
        payment_intent_id=intent.get("id") or _id(paid.get("payment_intent")),
        charge_id=charge.get("id"),
        paid=True,
        amount_paid_minor=int(charge.get("amount") or paid.get("amount_total") or 0),
        paid_at=_time(charge.get("created") or paid.get("created")),
        receipt_url=charge.get("receipt_url"),
        payer=details.get("name") or details.get("email"),
        amount_refunded_minor=int(charge.get("amount_refunded") or 0),
        refunds=None if refunds is None else tuple(refund(r) for r in refunds),
        disputes=tuple(_dispute(d) for d in disputes),
    )


def _owners(sessions: list[dict[str, Any]]) -> frozenset[str]:
    """The Payment ids the sessions and their PaymentIntents name ("" for one naming none)."""
    owners = set()
    for session in sessions:
        owners.add((session.get("metadata") or {}).get(PAYMENT_ID_KEY) or "")
        intent = session.get("payment_intent")
        if isinstance(intent, dict):
            owners.add((intent.get("metadata") or {}).get(PAYMENT_ID_KEY) or "")
    return frozenset(owners)


def _attempt_ids(sessions: list[dict[str, Any]]) -> frozenset[str]:
    ids = {s["id"] for s in sessions}
    ids |= {i for i in (_id(s.get("payment_intent")) for s in sessions) if i}
    return frozenset(ids)


def read_link(link: dict[str, Any]) -> CreatedLink:
    """A payment link retrieved with its line items: whose it is and what it charges."""
    items = ((link.get("line_items") or {}).get("data")) or []
    price = (items[0].get("price") or {}) if len(items) == 1 else {}
    return CreatedLink(
        id=link["id"],
        url=link["url"],
        active=link["active"],
        payment_id=link_owner(link),
        currency=price.get("currency"),
        amount_minor=price.get("unit_amount"),
        deleted_paid_said=(link.get("metadata") or {}).get(DELETED_PAID_SAID_KEY) or None,
        emailed_to=(link.get("metadata") or {}).get(EMAILED_TO_KEY) or None,
    )


def session_link(session: dict[str, Any], payment_id: str) -> str | None:
    """The payment link a Checkout Session came from, when the session names this Payment."""
    if (session.get("metadata") or {}).get(PAYMENT_ID_KEY) != payment_id:
        return None
    link = session.get("payment_link")
    return link.get("id") if isinstance(link, dict) else link or None


def link_owner(link: dict[str, Any]) -> str | None:
    """The CRM Payment id a payment link carries in its metadata."""
    return (link.get("metadata") or {}).get(PAYMENT_ID_KEY) or None


def paid_charge(sessions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The charge of the link's completed session, when one is paid."""
    paid = _paid_session(sessions)
    return None if paid is None else _charge_of(paid)


def _paid_session(sessions: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((s for s in sessions if s.get("status") == "complete" and s.get("payment_status") == "paid"), None)


def _charge_of(session: dict[str, Any]) -> dict[str, Any] | None:
    intent = session.get("payment_intent")
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    return charge if isinstance(charge, dict) else None


def _unpaid_state(link_id: str, sessions: list[dict[str, Any]]) -> StripePaymentState:
    for session in sessions:  # newest first: the customer's latest attempt
        intent = session.get("payment_intent")
        error = intent.get("last_payment_error") if isinstance(intent, dict) else None
        if error:
            return StripePaymentState(
                payment_link_id=link_id,
                currency=session.get("currency"),
                checkout_session_id=session["id"],
                payment_intent_id=intent.get("id"),
                last_failure=AttemptFailure(
                    code=str(error.get("code") or error.get("type") or "unknown"),
                    decline_code=error.get("decline_code") or None,
                    message=error.get("message"),
                ),
            )
    return StripePaymentState(payment_link_id=link_id)


def refund(obj: dict[str, Any]) -> StripeRefund:
    """A Stripe refund in the worker's terms."""
    return StripeRefund(
        id=obj["id"],
        amount_minor=int(obj["amount"]),
        status=str(obj.get("status") or "pending"),
        reason=obj.get("reason"),
        failure_reason=obj.get("failure_reason"),
        crm_refund_id=(obj.get("metadata") or {}).get(REFUND_ID_KEY) or None,
    )


def _dispute(dispute: dict[str, Any]) -> StripeDispute:
    return StripeDispute(
        id=dispute["id"],
        amount_minor=int(dispute["amount"]),
        status=str(dispute.get("status")),
        reason=dispute.get("reason"),
        created=int(dispute.get("created") or 0),
    )


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None

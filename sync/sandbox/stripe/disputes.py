"""A cardholder disputing a charge, and the dispute closing.

Events: opening records `charge.dispute.created`, then `charge.dispute.funds_withdrawn` once the
disputed amount leaves the balance ("Occurs when funds are removed from your account due to a
dispute"); closing records `charge.dispute.closed` and, when won, `charge.dispute.funds_reinstated`
("Occurs when funds are reinstated to your account after a dispute is closed"); the merchant
submitting evidence records `charge.dispute.updated` ("Occurs when the dispute is updated (usually
with evidence)") and moves it under review (docs.stripe.com/disputes/responding). Event descriptions
from stripe-python `_event.py` / Stripe's event-type docs; that a chargeback withdraws funds at once
and reinstates them only when won is Stripe's documented dispute flow (docs.stripe.com/disputes).
The charge's `disputed` turns true without an event of its own (charge.updated is for description,
metadata and asynchronous captures). Order of the two events on each step not confirmed.
"""

from __future__ import annotations

from typing import Any

from . import errors, event_objects, ids, payment_objects, refund_objects, store
from .scope import Scope

# stripe-python `_dispute.py`, `reason`.
REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
OPEN_STATUSES = ("needs_response", "under_review", "warning_needs_response", "warning_under_review")


def open_dispute(scope: Scope, stored_charge: store.Stored, *, reason: str, amount: int | None) -> dict[str, Any]:
    """Open a chargeback on a succeeded charge; returns the Dispute.

    Raises:
        errors.ActionError: an unknown reason, a charge that failed, is already disputed or fully
            refunded ("Disputes and chargebacks aren't possible on credit card charges that are
            fully refunded", Stripe's refund docs), or an amount outside 1..charge amount.
    """
    charge = stored_charge.body
    if reason not in REASONS:
        raise errors.ActionError(f"reason must be one of {', '.join(REASONS)}")
    if charge["status"] != "succeeded":
        raise errors.ActionError(f"Charge {charge['id']} did not succeed; there is nothing to dispute")
    if charge["disputed"]:
        raise errors.ActionError(f"Charge {charge['id']} is already disputed")
    if charge["refunded"]:
        raise errors.ActionError(f"Charge {charge['id']} is fully refunded and cannot be disputed")
    amount = charge["amount"] if amount is None else amount
    if not 0 < amount <= charge["amount"]:
        raise errors.ActionError(f"A dispute's amount must be between 1 and {charge['amount']}")
    dispute_id = ids.new_id("dp")
    withdrawal = _adjustment(scope, dispute_id, -amount, charge, "dispute", "Chargeback withdrawal")
    dispute = refund_objects.dispute(
        charge, dispute_id=dispute_id, amount=amount, reason=reason, now=scope.now, withdrawal=withdrawal
    )
    store.insert_object(scope.conn, dispute, mode=scope.mode)
    store.update_object(scope.conn, {**charge, "disputed": True})
    scope.record("charge.dispute.created", {**dispute, "balance_transactions": []})
    scope.record("charge.dispute.funds_withdrawn", dispute)
    return dispute


def submit_evidence(scope: Scope, stored: store.Stored) -> dict[str, Any]:
    """The merchant submits evidence (in the Dashboard, or POST /v1/disputes/{id} with submit=true):
    a dispute that needs a response goes under review.

    Raises:
        errors.ActionError: the dispute does not need a response (under review or closed).
    """
    dispute = stored.body
    under_review = {"needs_response": "under_review", "warning_needs_response": "warning_under_review"}
    if dispute["status"] not in under_review:
        raise errors.ActionError(f"Dispute {dispute['id']} does not need a response ({dispute['status']})")
    details = dict(dispute.get("evidence_details") or {})
    details.update(has_evidence=True, submission_count=int(details.get("submission_count") or 0) + 1)
    updated = {**dispute, "status": under_review[dispute["status"]], "evidence_details": details}
    store.update_object(scope.conn, updated)
    scope.record("charge.dispute.updated", updated, previous=event_objects.previous_attributes(dispute, updated))
    return updated


def close(scope: Scope, stored: store.Stored, *, won: bool) -> dict[str, Any]:
    """Close an open dispute as won (funds reinstated) or lost.

    Raises:
        errors.ActionError: the dispute is already closed.
    """
    dispute = stored.body
    if dispute["status"] not in OPEN_STATUSES:
        raise errors.ActionError(f"Dispute {dispute['id']} is already closed ({dispute['status']})")
    closed = {**dispute, "status": "won" if won else "lost"}
    if won:
        charge = store.get_object(scope.conn, dispute["charge"])
        assert charge is not None
        reinstated = _adjustment(
            scope, dispute["id"], dispute["amount"], charge.body, "dispute_reversal", "Chargeback reversal"
        )
        closed["balance_transactions"] = [*dispute["balance_transactions"], reinstated]
    store.update_object(scope.conn, closed)
    scope.record("charge.dispute.closed", closed)
    if won:
        scope.record("charge.dispute.funds_reinstated", closed)
    return closed


def _adjustment(
    scope: Scope, dispute_id: str, amount: int, charge: dict[str, Any], category: str, what: str
) -> dict[str, Any]:
    txn = payment_objects.balance_transaction(
        txn_id=ids.new_id("txn"),
        amount=amount,
        currency=charge["currency"],
        now=scope.now,
        source=dispute_id,
        type="adjustment",
        reporting_category=category,
        description=f"{what} for {charge['id']}",
    )
    store.insert_object(scope.conn, txn, mode=scope.mode)
    return txn

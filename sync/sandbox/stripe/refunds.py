"""Refunds: creating one (API or Dashboard), settling a pending one, and one failing later.

Events (the refund events apply to all refunds since API 2024-10-28.acacia:
docs.stripe.com/changelog/acacia/2024-10-28/refund-webhook-update):
- created: `refund.created`, then `charge.refunded` with the charge's new `amount_refunded` ("the
  charge.refunded event, which was sent after you created a refund", same changelog);
- settled (pending → succeeded): `refund.updated`, `charge.refund.updated`;
- failed later: `refund.failed`, `refund.updated`, `charge.refund.updated`; the charge's
  `amount_refunded` drops by the refund and `refunded` is false again. A real `charge.refund.updated`
  going from succeeded to failed is quoted in shared/reference/stripe.md §4; whether all three are
  sent, and in this order, is not confirmed against the live API.
- metadata changed through the API: `refund.updated`, `charge.refund.updated`.
Pending refunds count in `amount_refunded` until they fail, as Stripe refuses a second refund of
money already on its way back.

Refunds of a charge paid with one of the refund test cards (cards.py) follow the card: with …7726
every refund starts `pending` (`pending_reason: processing`) until settled; with …5126 it starts
`succeeded`, and failing it later without a reason uses the card's `expired_or_canceled_card`.
"""

from __future__ import annotations

from typing import Any

from . import currencies, errors, event_objects, ids, objects, payment_objects, payments, refund_objects, store
from .cards import NORMAL_REFUNDS, RefundBehaviour
from .scope import Scope

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# stripe-python `_refund.py`, `failure_reason`.
FAILURE_REASONS = (
    "lost_or_stolen_card",
    "expired_or_canceled_card",
    "charge_for_pending_refund_disputed",
    "insufficient_funds",
    "declined",
    "merchant_request",
    "unknown",
)
# What a refund that fails later without a stated reason fails with (the control API's default).
DEFAULT_FAILURE_REASON = "expired_or_canceled_card"


def charge_to_refund(scope: Scope, *, charge_id: str | None, intent_id: str | None) -> store.Stored:
    """The succeeded charge a refund request names, by `charge` or by `payment_intent`.

    Raises:
        errors.StripeError: as the API answers (no such object, or no successful charge).
    """
    if charge_id is not None and intent_id is not None:
        # Not confirmed against the live API: Stripe may accept both when they agree.
        raise errors.parameters_exclusive(["charge", "payment_intent"])
    if charge_id is None and intent_id is None:
        # Wording not confirmed against the live API.
        raise errors.invalid("You must provide either a charge or a payment_intent to refund.")
    if intent_id is not None:
        intent = store.get_object(scope.conn, intent_id, type="payment_intent", mode=scope.mode)
        if intent is None:
            raise errors.resource_missing("payment_intent", intent_id, param="payment_intent")
        charge = None
        if intent.body["latest_charge"] is not None:
            charge = store.get_object(scope.conn, intent.body["latest_charge"], type="charge")
        if charge is None or charge.body["status"] != "succeeded":
            raise _no_successful_charge(intent_id, param="payment_intent")
        return charge
    assert charge_id is not None
    charge = store.get_object(scope.conn, charge_id, type="charge", mode=scope.mode)
    if charge is None:
        raise errors.resource_missing("charge", charge_id, param="charge")
    if charge.body["status"] != "succeeded":
        # Refunding a failed charge by its id names its PaymentIntent (a real run quoted in client
        # code: "This PaymentIntent (pi_...) does not have a successful charge to refund.").
        raise _no_successful_charge(charge.body["payment_intent"], param="charge")
    return charge


def _no_successful_charge(intent_id: str, *, param: str) -> errors.StripeError:
    return errors.invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.", param=param)


def create(
    scope: Scope,
    stored_charge: store.Stored,
    *,
    amount: int | None,
    reason: str | None,
    metadata: dict[str, Any],
    status: str = "succeeded",
) -> dict[str, Any]:
    """Refund `amount` (default: all that is left) of a succeeded charge; returns the Refund.

    `status="pending"` (a Dashboard knob) makes the refund wait for `settle`; a charge paid with the
    pending-refund test card makes every refund of it wait, whatever `status` says.

    Raises:
        errors.StripeError: with Stripe's texts when the charge is disputed, already fully
            refunded, or has less left than `amount`.
    """
    charge = stored_charge.body
    dispute = _open_dispute(scope, charge["id"])
    if dispute is not None:
        # "Charge ch_... has been charged back; cannot issue a refund." (code charge_disputed),
        # quoted in many client logs. Which dispute statuses allow a refund is not confirmed.
        raise errors.invalid(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed"
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining <= 0:
        raise errors.invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
    if amount is None:
        amount = remaining
    if amount <= 0:
        # Wording and code not confirmed against the live API.
        raise errors.invalid("Invalid positive integer", param="amount", code="parameter_invalid_integer")
    if amount > remaining:
        # Text as the live API words it (quoted in client code, e.g. "Refund amount ($20.00) is
        # greater than unrefunded amount on charge ($0.00)"); sent without a `code`.
        asked = currencies.display_amount(amount, charge["currency"])
        left = currencies.display_amount(remaining, charge["currency"])
        raise errors.invalid(
            f"Refund amount ({asked}) is greater than unrefunded amount on charge ({left})", param="amount"
        )
    if _refund_behaviour(stored_charge).starts_pending:
        status = "pending"
    refund_id = ids.new_id("re")
    txn = _balance_transaction(
        scope, amount=-amount, currency=charge["currency"], source=refund_id, kind="refund", description=None
    )
    refund = refund_objects.refund(
        charge,
        refund_id=refund_id,
        amount=amount,
        reason=reason,
        metadata=metadata,
        status=status,
        now=scope.now,
        balance_transaction=txn,
    )
    store.insert_object(scope.conn, refund, mode=scope.mode)
    scope.record("refund.created", refund)
    # previous_attributes on charge.refunded as older payloads carry it; not confirmed for current versions.
    scope.update(charge, _with_refunded(charge, charge["amount_refunded"] + amount), event="charge.refunded")
    return refund


def update_metadata(scope: Scope, stored: store.Stored, metadata: Any) -> dict[str, Any]:
    refund = stored.body
    new = {**refund, "metadata": objects.merge_metadata(refund["metadata"], metadata)}
    if new != refund:
        scope.update(refund, new, event="refund.updated")
        scope.record("charge.refund.updated", new, previous=event_objects.previous_attributes(refund, new))
    return new


def settle(scope: Scope, stored: store.Stored) -> dict[str, Any]:
    """A pending refund reaches the customer.

    Raises:
        errors.ActionError: the refund is not pending.
    """
    refund = stored.body
    if refund["status"] != "pending":
        raise errors.ActionError(f"Refund {refund['id']} is {refund['status']}, not pending")
    new = refund_objects.settled_refund(refund)
    previous = event_objects.previous_attributes(refund, new)
    scope.update(refund, new, event="refund.updated")
    scope.record("charge.refund.updated", new, previous=previous)
    return new


def fail(scope: Scope, stored: store.Stored, *, failure_reason: str | None = None) -> dict[str, Any]:
    """A pending or succeeded refund fails later; the money returns to the balance.

    Without `failure_reason`, the reason the charge's test card gives, else `DEFAULT_FAILURE_REASON`.

    Raises:
        errors.ActionError: the refund already failed or was canceled, or an unknown reason.
    """
    refund = stored.body
    charge = store.get_object(scope.conn, refund["charge"])
    assert charge is not None
    if failure_reason is None:
        failure_reason = _refund_behaviour(charge).fails_later_with or DEFAULT_FAILURE_REASON
    if failure_reason not in FAILURE_REASONS:
        raise errors.ActionError(f"failure_reason must be one of {', '.join(FAILURE_REASONS)}")
    if refund["status"] not in ("pending", "succeeded"):
        raise errors.ActionError(f"Refund {refund['id']} is {refund['status']} and cannot fail")
    txn = _balance_transaction(
        scope,
        amount=refund["amount"],
        currency=refund["currency"],
        source=refund["id"],
        kind="refund_failure",
        description=f"REFUND FAILURE FOR {refund['charge']}",
    )
    new = refund_objects.failed_refund(refund, failure_reason=failure_reason, failure_balance_transaction=txn)
    previous = event_objects.previous_attributes(refund, new)
    store.update_object(scope.conn, new)
    scope.record("refund.failed", new)
    scope.record("refund.updated", new, previous=previous)
    scope.record("charge.refund.updated", new, previous=previous)
    store.update_object(scope.conn, _with_refunded(charge.body, charge.body["amount_refunded"] - refund["amount"]))
    return new


def _refund_behaviour(stored_charge: store.Stored) -> RefundBehaviour:
    """What refunds of this charge do, by the test card it was paid with."""
    card = payments.card_paid_with(stored_charge)
    return NORMAL_REFUNDS if card is None else card.refund_behaviour


def _with_refunded(charge: dict[str, Any], amount_refunded: int) -> dict[str, Any]:
    # `refunded` "stays false until the charge is fully refunded" (stripe-python _charge.py).
    return {**charge, "amount_refunded": amount_refunded, "refunded": amount_refunded >= charge["amount"]}


def _open_dispute(scope: Scope, charge_id: str) -> dict[str, Any] | None:
    for stored in store.list_objects(scope.conn, "dispute", mode=scope.mode, equal={"charge": charge_id}):
        if stored.body["status"] not in ("won", "warning_closed"):
            return stored.body
    return None


def _balance_transaction(
    scope: Scope, *, amount: int, currency: str, source: str, kind: str, description: str | None
) -> str:
    txn = payment_objects.balance_transaction(
        txn_id=ids.new_id("txn"),
        amount=amount,
        currency=currency,
        now=scope.now,
        source=source,
        type=kind,
        reporting_category="refund" if kind == "refund" else "refund_failure",
        description=description,
    )
    store.insert_object(scope.conn, txn, mode=scope.mode)
    return txn["id"]

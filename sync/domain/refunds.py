"""Refunds staff ask for in the CRM: check each one, then say what Stripe should be asked.

Pure: no SDK, no clock, no I/O. A Refund record in status Requested (and not yet in Stripe) is
either issued or refused with a sentence staff understand; a refused one never reaches Stripe.
Several requests on one Payment are checked in the order they were made, each against what the
ones before it leave. The charge, its currency and its totals are Stripe's, read from the
Payment's own link: a Stripe id or amount typed on the record never decides what is refunded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from sync.domain import messages, money, ownership
from sync.domain.models import Payment, PaymentStatus, RefundStatus, StripePaymentState, StripeRefund
from sync.domain.stripe_results import paid_status
from sync.domain.validation import normalise_currency

# Stripe's refund reasons (docs.stripe.com/api/refunds/create); any other text staff type goes in
# the refund's metadata, and Stripe is told `requested_by_customer`.
STRIPE_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
REFUND_ID_KEY = "crm_refund_id"
_REFUNDABLE = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED})
# Stripe refunds that hold money: what is left to refund excludes them.
_HOLDING = frozenset({"pending", "requires_action", "succeeded"})


@dataclass(frozen=True)
class RefundSpec:
    """Everything Stripe needs to create one refund."""

    idempotency_key: str
    charge_id: str | None
    payment_intent_id: str | None
    amount_minor: int | None  # None: everything still refundable, as Stripe counts it
    reason: str
    metadata: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class IssueRefund:
    refund_id: str
    payment_id: str
    currency: str
    spec: RefundSpec | None  # None when `made` is set: nothing more to ask Stripe
    # The Stripe refund already made for this record (found by the id in its metadata): a crash
    # between creating it and writing it back, even past Stripe's 24-hour idempotency window.
    made: StripeRefund | None = None


@dataclass(frozen=True)
class RefuseRefund:
    refund_id: str
    payment_id: str
    message: str


RefundAction = IssueRefund | RefuseRefund


def refund_idempotency_key(refund_id: str, amount_minor: int | None, reason: str) -> str:
    """Stripe idempotency key for a Refund record as asked; staff correcting a refused one get a new key.

    The key alone does not keep a refund single: the caller first looks for a Stripe refund
    carrying this record's id, which also covers crashes older than Stripe's 24-hour key window.
    """
    digest = hashlib.sha256(reason.encode()).hexdigest()[:8]
    return f"crm-stripe-sync:refund:{refund_id}:{'all' if amount_minor is None else amount_minor}:{digest}"


def plan_refunds(payment: Payment, state: StripePaymentState | None, *, default_currency: str) -> list[RefundAction]:
    """One action for each Refund record on `payment` that staff asked for and Stripe has not seen.

    `state` is what Stripe holds for the Payment's own link, read with its refunds (None when the
    record names no link). The charge, its currency and what is left on it come from there, never
    from the record's Stripe fields (invariant 7).
    """
    asked = [r for r in payment.refunds if r.status is RefundStatus.REQUESTED and not r.stripe_refund_id]
    if not asked:
        return []
    # A refund Stripe already made for a record (the worker stopped before writing it back) is
    # adopted first, whatever it did to the charge: it may be the very refund that emptied it.
    actions: list[RefundAction] = []
    if state is not None and ownership.state_problem(payment, state) is None:
        made = {r.crm_refund_id: r for r in state.refunds or () if r.crm_refund_id}
        for refund in (r for r in asked if r.id in made):
            currency = (state.currency or "").lower()
            actions.append(IssueRefund(refund.id, payment.id, currency, spec=None, made=made[refund.id]))
        asked = [r for r in asked if r.id not in made]
    if not asked:
        return actions
    problem = _payment_problem(payment, state, default_currency=default_currency)
    if problem is not None or state is None:
        message = problem or messages.REFUND_NO_STRIPE_CHARGE
        return actions + [RefuseRefund(refund_id=r.id, payment_id=payment.id, message=message) for r in asked]
    currency = (state.currency or "").lower()
    paid = money.from_minor_units(state.amount_paid_minor or 0, currency)
    committed = money.from_minor_units(stripe_committed_minor(state), currency)
    for refund in asked:
        amount, refused = _amount(refund.amount, paid=paid, committed=committed, currency=currency)
        if refused is not None:
            actions.append(RefuseRefund(refund_id=refund.id, payment_id=payment.id, message=refused))
            continue
        assert amount is not None
        committed += amount
        minor = money.to_minor_units(amount, currency) if refund.amount is not None else None
        staff_reason = " ".join((refund.reason or "").split())
        reason = staff_reason.lower().replace(" ", "_")
        metadata = {REFUND_ID_KEY: refund.id, "crm_payment_id": payment.id}
        if reason not in STRIPE_REASONS:
            reason = "requested_by_customer"
            if staff_reason:
                metadata["crm_reason"] = staff_reason[:500]  # Stripe metadata values hold 500 characters
        spec = RefundSpec(
            idempotency_key=refund_idempotency_key(refund.id, minor, staff_reason),
            charge_id=state.charge_id,
            payment_intent_id=None if state.charge_id else state.payment_intent_id,
            amount_minor=minor,
            reason=reason,
            metadata=metadata,
        )
        actions.append(IssueRefund(refund_id=refund.id, payment_id=payment.id, currency=currency, spec=spec))
    return actions


def stripe_committed_minor(state: StripePaymentState) -> int:
    """What the charge has given back or is giving back: its refunds succeeded and pending.

    The charge's own `amount_refunded` is the floor; a pending refund may not be in it yet.
    """
    moving = sum(r.amount_minor for r in state.refunds or () if r.status in _HOLDING)
    return max(state.amount_refunded_minor, moving)


def _payment_problem(payment: Payment, state: StripePaymentState | None, *, default_currency: str) -> str | None:
    """Why no refund of this Payment can be issued, judged on what Stripe holds; None if it can."""
    if state is None:
        if payment.status in _REFUNDABLE or payment.status is PaymentStatus.REFUNDED:
            return messages.REFUND_NO_STRIPE_CHARGE  # marked paid by hand (cash, cheque): Stripe holds nothing
        return messages.REFUND_NOT_PAID
    foreign = ownership.state_problem(payment, state)
    if foreign is not None:
        return foreign
    if not state.paid or not (state.charge_id or state.payment_intent_id):
        return messages.REFUND_NOT_PAID
    if any(d.status == "lost" for d in state.disputes):
        return messages.REFUND_DISPUTE_LOST  # the money is with the customer already
    status = paid_status(state)
    if status is PaymentStatus.DISPUTED:
        return messages.REFUND_DISPUTED
    if status is PaymentStatus.REFUNDED:
        return messages.REFUND_ALREADY_REFUNDED
    charged = (state.currency or "").lower()
    recorded = normalise_currency(payment.currency or payment.project_currency, default_currency)
    if recorded != charged:
        return messages.REFUND_CURRENCY_MISMATCH.format(record=recorded.upper(), charge=charged.upper())
    return None


def _amount(
    asked: Decimal | None, *, paid: Decimal, committed: Decimal, currency: str
) -> tuple[Decimal | None, str | None]:
    """The amount this refund takes, or the reason it cannot be issued."""
    left = paid - committed

    def show(value: Decimal) -> str:
        return money.format_amount(value, currency)

    if asked is None:
        if left <= 0:
            return None, messages.REFUND_NOTHING_LEFT.format(paid=show(paid), committed=show(committed))
        return left, None
    if not asked.is_finite() or asked <= 0:
        return None, messages.REFUND_NOT_POSITIVE.format(amount=f"{asked.normalize():f}")
    places = money.decimals_for(currency)
    if asked != asked.quantize(Decimal(1).scaleb(-places), rounding="ROUND_DOWN"):
        return None, messages.REFUND_TOO_PRECISE.format(
            amount=f"{asked.normalize():f}", places=places, currency=currency.upper()
        )
    if asked > left:
        return None, messages.REFUND_TOO_LARGE.format(
            amount=show(asked), left=show(max(left, Decimal(0))), paid=show(paid), committed=show(committed)
        )
    return asked, None

"""Refunds staff ask for in the CRM: check each one, then say what Stripe should be asked.

Pure: no SDK, no clock, no I/O. A Refund record in status Requested (and not yet in Stripe) is
either issued or refused with a sentence staff understand; a refused one never reaches Stripe.
Several requests on one Payment are checked in the order they were made, each against what the
ones before it leave.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal

from sync import money
from sync.core import messages
from sync.core.validation import normalise_currency
from sync.models import Payment, PaymentStatus, RefundStatus

# Stripe's refund reasons (docs.stripe.com/api/refunds/create); any other text staff type goes in
# the refund's metadata, and Stripe is told `requested_by_customer`.
STRIPE_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
REFUND_ID_KEY = "crm_refund_id"
_REFUNDABLE = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED})
# Refunds that hold money: what is left to refund excludes them.
_COMMITTED = frozenset({RefundStatus.PENDING, RefundStatus.SUCCEEDED})


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
    spec: RefundSpec


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


def plan_refunds(payment: Payment, *, default_currency: str) -> list[RefundAction]:
    """One action for each Refund record on `payment` that staff asked for and Stripe has not seen."""
    asked = [r for r in payment.refunds if r.status is RefundStatus.REQUESTED and not r.stripe_refund_id]
    if not asked:
        return []
    currency = normalise_currency(payment.currency or payment.project_currency, default_currency)
    paid = payment.amount_paid or Decimal(0)
    recorded = sum((r.amount or Decimal(0) for r in payment.refunds if r.status in _COMMITTED), Decimal(0))
    committed = max(recorded, payment.amount_refunded or Decimal(0))
    actions: list[RefundAction] = []
    for refund in asked:
        problem = _status_problem(payment)
        amount = refund.amount
        if problem is None:
            amount, problem = _amount(refund.amount, paid=paid, committed=committed, currency=currency)
        if problem is not None:
            actions.append(RefuseRefund(refund_id=refund.id, payment_id=payment.id, message=problem))
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
            charge_id=payment.charge_id,
            payment_intent_id=None if payment.charge_id else payment.payment_intent_id,
            amount_minor=minor,
            reason=reason,
            metadata=metadata,
        )
        actions.append(IssueRefund(refund_id=refund.id, payment_id=payment.id, currency=currency, spec=spec))
    return actions


def _status_problem(payment: Payment) -> str | None:
    if payment.status is PaymentStatus.REFUNDED:
        return messages.REFUND_ALREADY_REFUNDED
    if payment.status is PaymentStatus.DISPUTED:
        return messages.REFUND_DISPUTED
    if payment.status not in _REFUNDABLE:
        return messages.REFUND_NOT_PAID
    if not (payment.charge_id or payment.payment_intent_id):
        return messages.REFUND_NO_STRIPE_CHARGE  # marked paid by hand (cash, cheque): Stripe holds nothing
    return None


def _amount(
    asked: Decimal | None, *, paid: Decimal, committed: Decimal, currency: str
) -> tuple[Decimal | None, str | None]:
    """The amount this refund takes, or the reason it cannot be issued."""
    left = paid - committed
    show = lambda value: money.format_amount(value, currency)  # noqa: E731
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

"""What the CRM should show for a Payment, given what Stripe holds for its link now.

Pure: no SDK, no clock, no I/O. Events are only triggers; the runner reads the link's current state
from Stripe and calls `plan_outcome`, so events applied late, twice or in any order give the same
record. A plan carries only the values that differ from the record, so applying it again is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sync.domain import messages, money
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.models import (
    Payment,
    PaymentStatus,
    RefundRecord,
    RefundSource,
    RefundStatus,
    StripeDispute,
    StripePaymentState,
    StripeRefund,
)
from sync.domain.validation import plain_text

# Statuses that say the money arrived; a Payment in one of them is not announced as paid again.
PAID_FAMILY = frozenset(
    {PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED}
)
# Statuses whose Payments may see a failed attempt: the link is out and not yet paid.
AWAITING_PAYMENT = frozenset({PaymentStatus.LINK_SENT, PaymentStatus.PAYMENT_FAILED})
# A dispute in these states no longer holds the money back.
DISPUTE_SETTLED = frozenset({"won", "warning_closed"})
_REFUND_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.CANCELED,
}


@dataclass(frozen=True)
class StaffNotice:
    """A Chatter post on the Project telling staff what happened."""

    kind: str  # "paid", "paid_twice", "disputed", "foreign" or "deleted_paid"
    project_id: str
    values: dict[str, str] = field(hash=False)


@dataclass(frozen=True)
class RefundWrite:
    """Absolute values for one Refund record: by record id (a CRM refund) or by Stripe refund id (upsert)."""

    stripe_refund_id: str
    record_id: str | None
    change: RefundChange


@dataclass(frozen=True)
class OutcomeWrite:
    """What to change for one Payment; empty parts are left alone."""

    payment_id: str
    payment_last_modified: datetime
    change: PaymentChange  # only the fields that differ from the record
    refunds: tuple[RefundWrite, ...] = ()
    notices: tuple[StaffNotice, ...] = ()
    payment_read_at: datetime | None = None  # when the CRM served the record the plan is based on

    @property
    def new_status(self) -> PaymentStatus | None:
        status = self.change.status
        return status if isinstance(status, PaymentStatus) else None


def paid_by_hand(payment: Payment) -> bool:
    """Marked paid by staff (cash, cheque) rather than recorded from Stripe: a paid status without
    Paid At, which the worker always writes when it records a payment. A Charge Id alone does not
    count: it may be typed, or put back from Stripe (invariant 7) before the payment is recorded,
    which must still say that it was paid twice."""
    return payment.status in PAID_FAMILY and payment.paid_at is None


def plan_outcome(payment: Payment, state: StripePaymentState) -> OutcomeWrite | None:
    """The changes that make `payment` show `state`; None when the record already does.

    A Payment set (back) to Requested is the request path's first: it holds the link against Stripe
    before anything is emailed or recorded (requests.judge_existing_link), so a paid one set back
    is not announced as paid a second time by an event or sweep that reads it in between.
    """
    if payment.status is PaymentStatus.REQUESTED:
        return None
    currency = (state.currency or payment.currency or "usd").lower()
    desired: dict[str, Any] = {}
    notices: list[StaffNotice] = []
    if state.paid:
        desired.update(_paid_fields(state, currency))
        desired["status"] = paid_status(state)
        if payment.status not in PAID_FAMILY and payment.project_id:
            notices.append(_paid_notice(payment, state, currency))
        if payment.status is PaymentStatus.CANCELED:
            desired["sync_error"] = messages.PAID_AFTER_CANCEL
        if paid_by_hand(payment):
            # Paid by card on top of a payment staff recorded by hand: maybe twice. Said once, when
            # the card payment is first recorded (its paid time is new), on the record and to staff.
            amount = money.format_amount(money.from_minor_units(state.amount_paid_minor or 0, currency), currency)
            desired["sync_error"] = messages.PAID_TWICE.format(amount=amount)
            if payment.project_id:
                notices.append(_paid_notice(payment, state, currency, kind="paid_twice"))
        dispute = _newest(state.disputes)
        if dispute is not None:
            desired.update(_dispute_fields(dispute, currency))
            if dispute.id != payment.dispute_id and payment.project_id:
                notices.append(_dispute_notice(payment, dispute, currency))
    elif state.last_failure is not None and payment.status in AWAITING_PAYMENT:
        failure = state.last_failure
        code = failure.decline_code or failure.code
        desired.update(
            status=PaymentStatus.PAYMENT_FAILED,
            last_failure_code=code,
            last_failure=failure_guidance(code),
            checkout_session_id=state.checkout_session_id,
            payment_intent_id=state.payment_intent_id,
        )
    changed = {k: v for k, v in desired.items() if not _same(getattr(payment, k), v)}
    if "status" in changed and "sync_error" not in desired and refusal_said(payment.sync_error):
        # The org refused a write of this record, and this one moves it on: if it goes through, the
        # refusal (a rule since lifted) no longer holds; if not, it is said again (issue 23).
        changed["sync_error"] = None
    refunds = _refund_writes(payment, state.refunds or (), currency) if state.paid else ()
    if not changed and not refunds:
        return None
    return OutcomeWrite(
        payment_id=payment.id,
        payment_last_modified=payment.last_modified,
        payment_read_at=payment.read_at,
        change=PaymentChange(**changed),
        refunds=refunds,
        notices=tuple(notices) if changed.keys() & {"status", "dispute_id", "paid_at"} else (),
    )


_REFUSAL_SAID = messages.CRM_REFUSED_UPDATE.split("{", 1)[0]


def refusal_said(sync_error: str | None) -> bool:
    """Whether a Sync Error is the worker's note that the org refused its write (CRM_REFUSED_UPDATE)."""
    return (sync_error or "").startswith(_REFUSAL_SAID)


def paid_status(state: StripePaymentState) -> PaymentStatus:
    """Paid, Partially Refunded, Refunded or Disputed, from the charge's totals and disputes."""
    if any(d.status not in DISPUTE_SETTLED for d in state.disputes):
        return PaymentStatus.DISPUTED
    paid = state.amount_paid_minor or 0
    if paid and state.amount_refunded_minor >= paid:
        return PaymentStatus.REFUNDED
    if state.amount_refunded_minor > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.PAID


def refund_status(stripe_status: str) -> RefundStatus:
    """The Refund record's status for Stripe's word (an unknown word counts as still moving)."""
    return _REFUND_STATUS.get(stripe_status, RefundStatus.PENDING)


def failure_guidance(code: str) -> str:
    """One sentence telling staff what to do about a failed attempt with this code."""
    sentence = messages.DECLINE_GUIDANCE.get(code) or messages.DECLINE_OTHER.format(code=code)
    return sentence + messages.STILL_PAYABLE


def refund_failure_text(reason: str | None) -> str:
    why = messages.REFUND_FAILURE_GUIDANCE.get(reason or "unknown", f"Stripe gave the reason '{reason}'.")
    return messages.REFUND_FAILED.format(why=why)


def _paid_fields(state: StripePaymentState, currency: str) -> dict[str, Any]:
    return {
        "checkout_session_id": state.checkout_session_id,
        "payment_intent_id": state.payment_intent_id,
        "charge_id": state.charge_id,
        "amount_paid": money.from_minor_units(state.amount_paid_minor or 0, currency),
        "paid_at": state.paid_at,
        "receipt_url": state.receipt_url,
        "amount_refunded": money.from_minor_units(state.amount_refunded_minor, currency),
        # A paid record shows no failure, whether or not the earlier failed attempt was ever seen.
        "last_failure_code": None,
        "last_failure": None,
        "next_reminder_at": None,  # nothing left to remind the customer of
    }


def _dispute_fields(dispute: StripeDispute, currency: str) -> dict[str, Any]:
    return {
        "dispute_id": dispute.id,
        "dispute_status": dispute.status,
        "dispute_reason": dispute.reason,
        "amount_disputed": money.from_minor_units(dispute.amount_minor, currency),
    }


def _newest(disputes: tuple[StripeDispute, ...]) -> StripeDispute | None:
    return max(disputes, key=lambda d: (d.created, d.id), default=None)


def _refund_writes(payment: Payment, refunds: tuple[StripeRefund, ...], currency: str) -> tuple[RefundWrite, ...]:
    by_stripe_id = {r.stripe_refund_id: r for r in payment.refunds if r.stripe_refund_id}
    by_id = {r.id: r for r in payment.refunds}
    writes = []
    for refund in sorted(refunds, key=lambda r: r.id):
        status = refund_status(refund.status)
        failure = refund_failure_text(refund.failure_reason) if status is RefundStatus.FAILED else None
        # The amount is Stripe's too: a record asked for "the rest" (blank) shows what that came to.
        desired: dict[str, Any] = {
            "status": status,
            "stripe_refund_id": refund.id,
            "failure_reason": failure,
            "amount": money.from_minor_units(refund.amount_minor, currency),
        }
        record: RefundRecord | None
        if refund.crm_refund_id and refund.crm_refund_id in by_id:
            record = by_id[refund.crm_refund_id]  # asked for from the CRM: keep staff's reason and source
            record_id: str | None = record.id
        else:
            record = by_stripe_id.get(refund.id)
            record_id = None
            desired.update(
                payment=payment.id,
                reason=refund.reason,
                source=RefundSource.STRIPE_DASHBOARD if not refund.crm_refund_id else RefundSource.CRM,
            )
        current = {} if record is None else {k: getattr(record, k, None) for k in desired}
        if record is not None and "payment" in desired:
            current["payment"] = payment.id  # the record was found under this Payment
        if any(not _same(current.get(k), v) for k, v in desired.items()):
            writes.append(RefundWrite(stripe_refund_id=refund.id, record_id=record_id, change=RefundChange(**desired)))
    return tuple(writes)


def _paid_notice(payment: Payment, state: StripePaymentState, currency: str, *, kind: str = "paid") -> StaffNotice:
    assert payment.project_id is not None
    return StaffNotice(
        kind=kind,
        project_id=payment.project_id,
        values={
            "payment_type": (payment.type.value if payment.type else "payment").title(),
            "amount": money.format_amount(money.from_minor_units(state.amount_paid_minor or 0, currency), currency),
            "payer": plain_text(state.payer) or payment.customer_email or "the customer",
            "project": payment.project_name or "",
        },
    )


def foreign_notice(payment: Payment, problem: str) -> StaffNotice | None:
    """The post telling staff a Stripe id on this Payment names another Payment's object."""
    if not payment.project_id:
        return None
    return StaffNotice(
        kind="foreign",
        project_id=payment.project_id,
        values={
            "payment_type": (payment.type.value if payment.type else "payment").title(),
            "project": payment.project_name or "",
            "problem": problem,
        },
    )


def deleted_paid_notice(project_id: str, state: StripePaymentState) -> StaffNotice:
    """The post telling staff money was paid on the link of a Payment someone deleted."""
    currency = (state.currency or "usd").lower()
    return StaffNotice(
        kind="deleted_paid",
        project_id=project_id,
        values={
            "amount": money.format_amount(money.from_minor_units(state.amount_paid_minor or 0, currency), currency),
            "payer": plain_text(state.payer) or "the customer",
            "charge": state.charge_id or state.payment_intent_id or "?",
        },
    )


def _dispute_notice(payment: Payment, dispute: StripeDispute, currency: str) -> StaffNotice:
    assert payment.project_id is not None
    return StaffNotice(
        kind="disputed",
        project_id=payment.project_id,
        values={
            "payment_type": (payment.type.value if payment.type else "payment").title(),
            "amount": money.format_amount(money.from_minor_units(dispute.amount_minor, currency), currency),
            "reason": (dispute.reason or "not given").replace("_", " "),
            "project": payment.project_name or "",
        },
    )


def _same(current: Any, desired: Any) -> bool:
    """Equal as the CRM stores them: amounts by value, times to the second, blanks as None."""
    if isinstance(desired, Decimal) or isinstance(current, Decimal):
        return current is not None and desired is not None and Decimal(current) == Decimal(desired)
    if isinstance(desired, datetime) and isinstance(current, datetime):
        return int(desired.timestamp()) == int(current.timestamp())
    return (current or None) == (desired or None)

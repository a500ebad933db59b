"""Stripe ids on a CRM record are claims (invariant 7): whose a Stripe object is, and which of the
worker's own fields a record holds differently from what Stripe says.

Pure: no SDK, no clock (`now` is passed in), no I/O. The worker puts the Payment's id in the
metadata of every link it makes; Stripe copies it to the link's Checkout Sessions, and the worker
sets it on their PaymentIntents too. An object that names another Payment, or none, is never used
for this one: no refund, no deactivation, no outcome, no email.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sync.domain import messages, money
from sync.domain.changes import PaymentChange
from sync.domain.models import CreatedLink, Payment, StripePaymentState
from sync.domain.staff_actions import append_log
from sync.domain.stripe_results import OutcomeWrite, foreign_notice

# The worker-owned fields Stripe is the source of, with the words staff see for them. The full
# list of worker-owned fields is in the mapping (FieldSpec.worker_owned); these are compared.
STRIPE_SOURCED = {
    "payment_link_id": "Payment Link Id",
    "link_url": "Payment Link URL",
    "checkout_session_id": "Checkout Session Id",
    "payment_intent_id": "Payment Intent Id",
    "charge_id": "Charge Id",
    "amount_paid": "Amount Paid",
    "paid_at": "Paid At",
    "amount_refunded": "Amount Refunded",
}
_LABELS = {**STRIPE_SOURCED, "link_terms": "Link Terms"}
# Refund statuses after which Stripe's refunded total can go down again.
_REVERSED = frozenset({"failed", "canceled"})


def link_problem(payment_id: str, link: CreatedLink) -> str | None:
    """Why this link must not be used for the Payment, or None when its metadata names the Payment."""
    if link.payment_id == payment_id:
        return None
    return messages.FOREIGN_OBJECT.format(what="payment link", object_id=link.id)


def state_problem(payment: Payment, state: StripePaymentState) -> str | None:
    """Why what Stripe holds for the link must not be recorded on `payment`, or None.

    Every Checkout Session of the link and its PaymentIntent must name this Payment; a link with no
    session yet holds nothing to record.
    """
    if state.owners <= {payment.id}:
        return None
    return messages.FOREIGN_OBJECT.format(what="payment link", object_id=state.payment_link_id)


def foreign_write(payment: Payment, problem: str, *, now: datetime) -> OutcomeWrite | None:
    """The Sync Error, Sync Log line and staff post that say so; None when the record says so already."""
    if payment.sync_error == problem:
        return None
    line = messages.LOG_FOREIGN.format(what="payment link", object_id=payment.payment_link_id or "?")
    notice = foreign_notice(payment, problem)
    return OutcomeWrite(
        payment_id=payment.id,
        payment_last_modified=payment.last_modified,
        payment_read_at=payment.read_at,
        change=PaymentChange(
            sync_error=problem, sync_log=append_log(payment.sync_log, line, now=now), last_synced_at=now
        ),
        notices=(notice,) if notice is not None else (),
    )


def relink(payment: Payment, state: StripePaymentState) -> PaymentChange:
    """The fields that put the Payment's own link back, when `state` was read from it in place of the
    link the record named (which named another Payment); empty when the record names it already.

    A Sync Error saying the named link was another's is cleared with it: it is no longer true.
    """
    if state.payment_link_id == payment.payment_link_id:
        return PaymentChange()
    change = PaymentChange(payment_link_id=state.payment_link_id)
    if state.link_url and state.link_url != payment.link_url:
        change |= PaymentChange(link_url=state.link_url)
    said = messages.FOREIGN_OBJECT.format(what="payment link", object_id=payment.payment_link_id)
    if payment.sync_error == said:
        change |= PaymentChange(sync_error=None)
    return change


def link_restore(
    url: str | None, terms: str | None, link: CreatedLink, *, sync_log: str | None, now: datetime
) -> PaymentChange:
    """The fields that put the link's own URL, and what it charges, back on the record (said in the
    Sync Log); empty when the record has them.

    `url` and `terms` are the record's; `sync_log` is the log the write would carry anyway (it may
    hold a line of this cycle already). Link Terms are `CUR amount digest` (staff_actions.link_terms):
    Stripe holds the currency and amount; the digest of the wording stays as recorded.
    """
    change = PaymentChange()
    if url != link.url:
        change |= PaymentChange(link_url=link.url)
    charged = _charged_terms(terms, link)
    if charged is not None and charged != terms:
        change |= PaymentChange(link_terms=charged)
    if not change:
        return change
    names = [n for n in ("link_url", "link_terms") if change.writes(n)]
    recorded = {"link_url": url, "link_terms": terms}
    before = "; ".join(f"{_LABELS[n]} was {_shown(recorded[n])}" for n in names)
    line = messages.LOG_TAMPERED.format(fields=", ".join(_LABELS[n] for n in names), before=before)
    return change | PaymentChange(sync_log=append_log(sync_log, line, now=now))


def _charged_terms(terms: str | None, link: CreatedLink) -> str | None:
    parts = (terms or "").split(" ")
    if len(parts) != 3 or link.currency is None or link.amount_minor is None:
        return None  # a link made before terms were kept, or read without its line item
    amount = money.from_minor_units(link.amount_minor, link.currency)
    return f"{link.currency.upper()} {amount.normalize():f} {parts[2]}"


def tampered(payment: Payment, change: PaymentChange, state: StripePaymentState) -> list[str]:
    """The Stripe-sourced fields in `change` whose record value Stripe never gave: edited, not late.

    A value Stripe has moved on from is not tampering: a first value, a new attempt's session or
    PaymentIntent, a refunded total that grew since it was written, or one a failed refund lowered.
    """
    found = []
    changes = change.written()
    for name in STRIPE_SOURCED.keys() & changes.keys():
        current = getattr(payment, name, None)
        if current in (None, ""):
            continue
        if name in ("checkout_session_id", "payment_intent_id") and current in state.attempt_ids:
            continue
        if name == "amount_refunded" and _refunded_total_explained(Decimal(current), changes[name], state):
            continue
        found.append(name)
    return sorted(found, key=list(STRIPE_SOURCED).index)


def tamper_line(payment: Payment, names: list[str], *, now: datetime) -> str:
    """The Sync Log with a line saying which fields were put back, and what they had said."""
    labels = ", ".join(STRIPE_SOURCED[n] for n in names)
    before = "; ".join(f"{STRIPE_SOURCED[n]} was {_shown(getattr(payment, n, None))}" for n in names)
    line = messages.LOG_TAMPERED.format(fields=labels, before=before)
    return append_log(payment.sync_log, line, now=now)


def _refunded_total_explained(current: Decimal, desired: Any, state: StripePaymentState) -> bool:
    if desired is None or current < Decimal(desired):
        return True  # refunds made since it was written
    return any(r.status in _REVERSED for r in state.refunds or ())


def _shown(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)[:120]

"""What staff asked for on a Payment that already has a link, and what to do about it.

Pure: no SDK, no clock (`now` is passed in), no I/O. One action per Payment per cycle, the most
pressing first: a cancel, then a changed amount or description, then a resend, then a reminder due.
Every action carries the absolute values to write once it is done, so doing it again after a crash
writes the same record.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sync.domain import messages, money
from sync.domain.actions import EmailContext
from sync.domain.changes import PaymentChange
from sync.domain.models import Payment, PaymentStatus, StripePaymentState
from sync.domain.stripe_results import AWAITING_PAYMENT, DISPUTE_SETTLED, PAID_FAMILY, paid_by_hand
from sync.domain.validation import normalise_currency

SYNC_LOG_LIMIT = 32768  # the Sync Log field's length; the oldest lines go first


@dataclass(frozen=True)
class ReminderPolicy:
    """When unpaid links are emailed again: first after `first_after`, then every `every`, `max_count` times."""

    first_after: timedelta = timedelta(hours=48)
    every: timedelta = timedelta(days=3)
    max_count: int = 3  # 0: reminders off

    @property
    def on(self) -> bool:
        return self.max_count > 0


@dataclass(frozen=True)
class SendAgain:
    """Email the Payment's current link again (a resend or a reminder), then write `on_sent`."""

    payment_id: str
    link_url: str
    link_id: str
    email: EmailContext
    kind: Literal["resend", "reminder"]
    on_sent: PaymentChange


@dataclass(frozen=True)
class WriteOnly:
    """Write `change` and nothing else (a refusal, a cancel with no link, a schedule that ended)."""

    payment_id: str
    change: PaymentChange
    event: str  # the log event name
    reason: str | None = None


@dataclass(frozen=True)
class RetireLink:
    """Deactivate the link in Stripe, read the link's state, then finish with `after_retire`."""

    payment_id: str
    link_id: str
    purpose: Literal["cancel", "replace", "paid_by_hand"]
    change: str | None = None  # for a replacement: what changed, for the log


@dataclass(frozen=True)
class PutAmountBack:
    """An Amount that no longer says what a paid Payment charged: read the charge from Stripe (the
    record's Amount Paid may have been typed too), then finish with `amount_put_back`."""

    payment_id: str
    link_id: str


StaffAction = SendAgain | WriteOnly | RetireLink | PutAmountBack


def link_terms(payment: Payment, *, default_currency: str) -> str | None:
    """What a link made from this Payment would charge: currency, amount and a digest of the wording.

    Stored on the Payment when its link is made; a later edit that changes it replaces the link.
    """
    if payment.amount is None:
        return None
    currency = normalise_currency(payment.currency or payment.project_currency, default_currency).upper()
    wording = " ".join((payment.description or "").split())
    digest = hashlib.sha256(wording.encode()).hexdigest()[:12]
    return f"{currency} {payment.amount.normalize():f} {digest}"


def next_reminder_at(
    *, sent_at: datetime, reminders_sent: int, opted_out: bool, policy: ReminderPolicy
) -> datetime | None:
    """When the next reminder is due after a send at `sent_at`; None when none will be sent."""
    if not policy.on or opted_out or reminders_sent >= policy.max_count:
        return None
    return sent_at + (policy.first_after if reminders_sent == 0 else policy.every)


def append_log(log: str | None, line: str, *, now: datetime) -> str:
    """The Sync Log with one more dated line; the oldest lines are dropped to fit the field."""
    entry = f"{now.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')} {line}"
    text = f"{log}\n{entry}" if log else entry
    while len(text) > SYNC_LOG_LIMIT and "\n" in text:
        text = text.split("\n", 1)[1]
    return text[-SYNC_LOG_LIMIT:]


def plan_staff_action(
    payment: Payment,
    *,
    now: datetime,
    email: EmailContext | None,
    reminders: ReminderPolicy,
    default_currency: str,
) -> StaffAction | None:
    """The one action this Payment needs now, or None.

    `email` is the context of the link email (None when the Payment has no valid recipient, in
    which case nothing is emailed).
    """
    if payment.cancel_requested or _canceled_with_live_link(payment):
        return _plan_cancel(payment, now=now)
    if paid_by_hand_with_live_link(payment):
        assert payment.payment_link_id is not None
        return RetireLink(payment_id=payment.id, link_id=payment.payment_link_id, purpose="paid_by_hand")
    if _amount_edited_after_payment(payment):
        if payment.payment_link_id:
            return PutAmountBack(payment.id, payment.payment_link_id)
        put_back = amount_put_back(payment, payment.amount_paid, now=now, default_currency=default_currency)
        return _said_amount_refusal(payment, put_back)
    if payment.status is PaymentStatus.REQUESTED:
        return None  # the request path sends it (and clears a Resend ticked before the first send)
    if payment.status in AWAITING_PAYMENT and payment.payment_link_id:
        change = _terms_change(payment, default_currency=default_currency)
        if change is not None:
            return RetireLink(payment_id=payment.id, link_id=payment.payment_link_id, purpose="replace", change=change)
    if payment.resend:
        return _plan_resend(payment, now=now, email=email, reminders=reminders)
    if _reminder_due(payment, now=now, reminders=reminders):
        return _plan_reminder(payment, now=now, email=email, reminders=reminders)
    return None


def after_retire(
    payment: Payment, state: StripePaymentState, *, purpose: str, now: datetime, change: str | None = None
) -> tuple[PaymentChange, bool]:
    """The values to write once the link is deactivated, given what Stripe then holds for it.

    Returns (change, paid). When the customer paid first (`paid`), the change only closes the
    request and say so plainly; the outcome path then records the payment itself.
    """
    if purpose == "paid_by_hand":
        # Paid on the link too (before it was deactivated): the outcome path records it and says so.
        stopped = PaymentChange(link_deactivated_at=now, next_reminder_at=None, resend=False)
        if state.paid:
            return stopped, True
        return stopped | PaymentChange(sync_log=append_log(payment.sync_log, messages.LOG_PAID_BY_HAND, now=now)), False
    if state.paid:
        closed = PaymentChange(cancel_requested=False, link_deactivated_at=now)
        if purpose == "cancel":
            return closed | PaymentChange(sync_error=messages.PAID_AFTER_CANCEL), True
        currency = (state.currency or payment.currency or "usd").lower()
        paid = money.format_amount(money.from_minor_units(state.amount_paid_minor or 0, currency), currency)
        asked = money.format_amount(payment.amount, currency) if payment.amount is not None else "?"
        return closed | PaymentChange(sync_error=messages.PAID_BEFORE_REPLACEMENT.format(paid=paid, asked=asked)), True
    if purpose == "cancel":
        return PaymentChange(
            status=PaymentStatus.CANCELED,
            cancel_requested=False,
            resend=False,
            link_deactivated_at=now,
            next_reminder_at=None,
            sync_error=None,
            sync_log=append_log(payment.sync_log, messages.LOG_CANCELED, now=now),
        ), False
    line = messages.LOG_REPLACED.format(
        change=change or "amount or description", old=payment.link_revision, new=payment.link_revision + 1
    )
    return next_revision(payment.link_revision, payment.sync_log, line, now=now), False


def next_revision(revision: int, sync_log: str | None, line: str, *, now: datetime) -> PaymentChange:
    """Back to Requested with the next link revision and no link, `line` in the Sync Log: the request
    path makes the new link (a new idempotency key), writes it back at once and emails it, exactly as
    for a new request. Only once the old link is deactivated, or was: never two live links."""
    return PaymentChange(
        status=PaymentStatus.REQUESTED,
        link_revision=revision + 1,
        link_url=None,
        payment_link_id=None,
        link_terms=None,
        checkout_session_id=None,
        payment_intent_id=None,
        last_failure_code=None,
        last_failure=None,
        next_reminder_at=None,
        resend=False,
        sync_error=None,
        sync_log=append_log(sync_log, line, now=now),
    )


def recorded_paid_status(payment: Payment) -> PaymentStatus:
    """The paid-family status the record's own amounts and dispute say."""
    if payment.dispute_id and (payment.dispute_status or "") not in DISPUTE_SETTLED:
        return PaymentStatus.DISPUTED
    paid = payment.amount_paid or Decimal(0)
    refunded = payment.amount_refunded or Decimal(0)
    if paid and refunded >= paid:
        return PaymentStatus.REFUNDED
    if refunded > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.PAID


def paid_by_hand_with_live_link(payment: Payment) -> bool:
    """Paid by hand while its link is still live: the link is deactivated and reminders stopped."""
    return paid_by_hand(payment) and payment.payment_link_id is not None and payment.link_deactivated_at is None


# --- an amount edited once paid ------------------------------------------------------------------
def _amount_edited_after_payment(payment: Payment) -> bool:
    """A paid Payment (recorded from Stripe) whose Amount no longer says what was charged."""
    if payment.status not in PAID_FAMILY or paid_by_hand(payment) or payment.amount_paid is None:
        return False
    return payment.amount is None or payment.amount != payment.amount_paid


def amount_put_back(
    payment: Payment, charged: Decimal | None, *, now: datetime, default_currency: str
) -> PaymentChange | None:
    """Refused visibly: the Amount is put back to what Stripe charged, and the record says why and
    what to do instead; a later Final balance counts what was charged either way. None when the
    Amount already says it (only Amount Paid was typed: the outcome path puts that back)."""
    if charged is None or payment.amount == charged:
        return None
    currency = normalise_currency(payment.currency or payment.project_currency, default_currency)
    shown = money.format_amount(charged, currency)
    typed = money.format_amount(payment.amount, currency) if payment.amount is not None else "blank"
    line = messages.LOG_AMOUNT_PUT_BACK.format(charged=shown, typed=typed)
    return PaymentChange(
        amount=charged,
        sync_error=messages.AMOUNT_EDIT_REFUSED_PAID.format(charged=shown),
        sync_log=append_log(payment.sync_log, line, now=now),
    )


def _said_amount_refusal(payment: Payment, change: PaymentChange | None) -> WriteOnly | None:
    if change is None:
        return None
    return WriteOnly(payment.id, change, event="payment.amount_edit_refused", reason="already paid")


# --- cancel --------------------------------------------------------------------------------------
def _canceled_with_live_link(payment: Payment) -> bool:
    return (
        payment.status is PaymentStatus.CANCELED
        and payment.payment_link_id is not None
        and payment.link_deactivated_at is None
    )


def _known_paid(payment: Payment) -> bool:
    return payment.status in PAID_FAMILY or payment.paid_at is not None


def _plan_cancel(payment: Payment, *, now: datetime) -> StaffAction:
    if _known_paid(payment):
        refused = PaymentChange(cancel_requested=False, sync_error=messages.CANCEL_REFUSED_PAID)
        if payment.status is PaymentStatus.CANCELED:
            refused |= PaymentChange(status=recorded_paid_status(payment))  # staff set it; the payment stands
        return WriteOnly(payment.id, refused, event="payment.cancel_refused", reason="already paid")
    if payment.payment_link_id:
        return RetireLink(payment_id=payment.id, link_id=payment.payment_link_id, purpose="cancel")
    return WriteOnly(
        payment.id,
        PaymentChange(
            status=PaymentStatus.CANCELED,
            cancel_requested=False,
            resend=False,
            next_reminder_at=None,
            sync_error=None,
            sync_log=append_log(payment.sync_log, messages.LOG_CANCELED_NO_LINK, now=now),
        ),
        event="payment.canceled",
    )


# --- amount or description changed ---------------------------------------------------------------
def _terms_change(payment: Payment, *, default_currency: str) -> str | None:
    """What changed since the link was made, or None. A link made before terms were kept is left alone."""
    if not payment.link_terms:
        return None
    current = link_terms(payment, default_currency=default_currency)
    if current is None or current == payment.link_terms:
        return None
    old, new = payment.link_terms.split(" "), current.split(" ")
    changes = []
    if old[:2] != new[:2]:
        changes.append(f"amount {' '.join(old[:2])} → {' '.join(new[:2])}")
    if old[2:] != new[2:]:
        changes.append("description edited")
    return ", ".join(changes) or "terms edited"


# --- resend --------------------------------------------------------------------------------------
def _plan_resend(
    payment: Payment, *, now: datetime, email: EmailContext | None, reminders: ReminderPolicy
) -> StaffAction:
    status = payment.status
    if status in AWAITING_PAYMENT and payment.link_url and payment.payment_link_id and email is not None:
        count = payment.times_sent + 1
        return SendAgain(
            payment_id=payment.id,
            link_url=payment.link_url,
            link_id=payment.payment_link_id,
            email=email,
            kind="resend",
            on_sent=PaymentChange(
                resend=False,
                last_sent_at=now,
                times_sent=count,
                next_reminder_at=next_reminder_at(
                    sent_at=now, reminders_sent=payment.reminders_sent, opted_out=payment.no_reminders, policy=reminders
                ),
                sync_error=None,
                sync_log=append_log(payment.sync_log, messages.LOG_RESENT.format(to=email.to, count=count), now=now),
            ),
        )
    if status in AWAITING_PAYMENT and email is None:
        reason = messages.RESEND_REFUSED["no_email"]
    elif status in PAID_FAMILY:
        reason = messages.RESEND_REFUSED["paid"]
    elif status is PaymentStatus.CANCELED:
        reason = messages.RESEND_REFUSED["canceled"]
    elif status is PaymentStatus.ERROR:
        reason = messages.RESEND_REFUSED["error"].format(error=payment.sync_error or "").strip()
    else:
        reason = messages.RESEND_REFUSED["other"]
    return WriteOnly(
        payment.id, PaymentChange(resend=False, sync_error=reason), event="payment_link.resend_refused", reason=reason
    )


# --- reminders -----------------------------------------------------------------------------------
def _reminder_due(payment: Payment, *, now: datetime, reminders: ReminderPolicy) -> bool:
    return (
        reminders.on
        and payment.status in AWAITING_PAYMENT
        and not payment.no_reminders
        and payment.next_reminder_at is not None
        and payment.next_reminder_at <= now
    )


def _plan_reminder(
    payment: Payment, *, now: datetime, email: EmailContext | None, reminders: ReminderPolicy
) -> StaffAction | None:
    if payment.reminders_sent >= reminders.max_count:
        line = messages.LOG_REMINDERS_DONE.format(count=payment.reminders_sent)
        finished = PaymentChange(next_reminder_at=None, sync_log=append_log(payment.sync_log, line, now=now))
        return WriteOnly(payment.id, finished, event="payment.reminders_finished")
    if not payment.link_url or not payment.payment_link_id or email is None:
        return None
    number = payment.reminders_sent + 1
    return SendAgain(
        payment_id=payment.id,
        link_url=payment.link_url,
        link_id=payment.payment_link_id,
        email=email,
        kind="reminder",
        on_sent=PaymentChange(
            reminders_sent=number,
            last_sent_at=now,
            next_reminder_at=next_reminder_at(
                sent_at=now, reminders_sent=number, opted_out=payment.no_reminders, policy=reminders
            ),
            sync_log=append_log(payment.sync_log, messages.LOG_REMINDED.format(number=number, to=email.to), now=now),
        ),
    )

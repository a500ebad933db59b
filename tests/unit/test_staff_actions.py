"""The pure decision for staff actions on a Payment with a link: Payment state -> one action."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from sync.domain import messages
from sync.domain.actions import EmailContext
from sync.domain.models import PaymentStatus, StripePaymentState
from sync.domain.staff_actions import (
    SYNC_LOG_LIMIT,
    PutAmountBack,
    ReminderPolicy,
    RetireLink,
    SendAgain,
    WriteOnly,
    after_retire,
    amount_put_back,
    append_log,
    link_terms,
    next_reminder_at,
    plan_staff_action,
)
from tests.unit.factories import T0, payment

EMAIL = EmailContext(
    to="pat@example.com", project_name="Kitchen", payment_type="Deposit", amount="$5.00", description=""
)
POLICY = ReminderPolicy(first_after=timedelta(hours=48), every=timedelta(days=3), max_count=2)
TERMS = link_terms(payment(), default_currency="usd")


def sent(**overrides):
    """A Payment whose link was emailed at T0 and whose terms are unchanged."""
    values = dict(
        status=PaymentStatus.LINK_SENT,
        link_url="https://pay.example/1",
        payment_link_id="plink_1",
        link_terms=TERMS,
        times_sent=1,
        last_sent_at=T0,
        next_reminder_at=T0 + timedelta(hours=48),
    )
    values.update(overrides)
    return payment(**values)


def plan(p, *, now=T0, email=EMAIL, reminders=POLICY):
    return plan_staff_action(p, now=now, email=email, reminders=reminders, default_currency="usd")


def test_nothing_to_do_for_an_unchanged_link_before_its_reminder():
    assert plan(sent()) is None


# --- cancel --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "p",
    [
        sent(cancel_requested=True),
        sent(status=PaymentStatus.CANCELED),
        sent(status=PaymentStatus.PAYMENT_FAILED, cancel_requested=True),
        sent(status=PaymentStatus.ERROR, cancel_requested=True),
    ],
    ids=["flag", "status", "after-a-failed-attempt", "errored-with-link"],
)
def test_cancel_of_an_unpaid_link_retires_it_first(p):
    assert plan(p) == RetireLink(payment_id=p.id, link_id="plink_1", purpose="cancel")


def test_cancel_wins_over_resend_edit_and_reminder():
    p = sent(cancel_requested=True, resend=True, amount=Decimal("1.00"), next_reminder_at=T0)
    assert isinstance(plan(p), RetireLink) and plan(p).purpose == "cancel"


def test_canceled_with_its_link_already_deactivated_needs_nothing():
    assert plan(sent(status=PaymentStatus.CANCELED, link_deactivated_at=T0)) is None


@pytest.mark.parametrize(
    ("status", "restored"),
    [
        (PaymentStatus.PAID, None),
        (PaymentStatus.REFUNDED, None),
        (PaymentStatus.CANCELED, PaymentStatus.PAID),  # staff set it; the record's amounts say Paid
    ],
)
def test_cancel_of_a_paid_payment_is_refused_without_stripe(status, restored):
    p = sent(status=status, cancel_requested=status is not PaymentStatus.CANCELED, paid_at=T0, amount_paid=Decimal(5))
    action = plan(p)
    assert isinstance(action, WriteOnly)
    assert (
        action.change.written()["sync_error"] == messages.CANCEL_REFUSED_PAID
        and action.change.written()["cancel_requested"] is False
    )
    assert action.change.written().get("status") is restored


def test_restored_status_follows_the_recorded_refunds():
    p = sent(status=PaymentStatus.CANCELED, paid_at=T0, amount_paid=Decimal(10), amount_refunded=Decimal(4))
    assert plan(p).change.written()["status"] is PaymentStatus.PARTIALLY_REFUNDED


def test_cancel_before_any_link_was_made_needs_no_stripe():
    p = payment(cancel_requested=True)
    action = plan(p)
    assert isinstance(action, WriteOnly) and action.change.written()["status"] is PaymentStatus.CANCELED
    assert messages.LOG_CANCELED_NO_LINK in action.change.written()["sync_log"]


def test_after_retire_an_unpaid_cancel_records_the_deactivation():
    change, paid = after_retire(
        sent(cancel_requested=True), StripePaymentState(payment_link_id="plink_1"), purpose="cancel", now=T0
    )
    fields = change.written()
    assert not paid
    assert fields["status"] is PaymentStatus.CANCELED and fields["link_deactivated_at"] == T0
    assert fields["next_reminder_at"] is None and messages.LOG_CANCELED in fields["sync_log"]


def test_after_retire_a_payment_made_in_the_race_is_said_plainly():
    state = StripePaymentState(payment_link_id="plink_1", paid=True, amount_paid_minor=500, currency="usd")
    change, paid = after_retire(sent(cancel_requested=True), state, purpose="cancel", now=T0)
    fields = change.written()
    assert paid and fields["sync_error"] == messages.PAID_AFTER_CANCEL
    assert "status" not in fields  # the outcome path records the payment itself


# --- amount or description changed ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("edit", "change"),
    [
        ({"amount": Decimal("4500.00")}, "amount USD 20000 → USD 4500"),
        ({"currency": "eur"}, "amount USD 20000 → EUR 20000"),
        ({"description": "Deposit for cabinets"}, "description edited"),
    ],
)
def test_an_edit_that_changes_what_the_link_charges_replaces_it(edit, change):
    action = plan(sent(**edit))
    assert action == RetireLink(payment_id=action.payment_id, link_id="plink_1", purpose="replace", change=change)


@pytest.mark.parametrize(
    "edit",
    [
        {"amount": Decimal("20000.000")},  # the same amount, written otherwise
        {"description": "  Deposit "},  # the same words, spaced otherwise
        {"customer_email": "other@example.com"},  # not part of what the link charges
    ],
)
def test_an_edit_that_does_not_change_the_charge_keeps_the_link(edit):
    assert plan(sent(**edit)) is None


def test_a_link_made_before_terms_were_kept_is_left_alone():
    assert plan(sent(link_terms=None, amount=Decimal(1))) is None


def test_replacement_goes_back_to_requested_with_the_next_revision_and_no_link():
    p = sent(link_revision=2, last_failure="declined", last_failure_code="generic_decline")
    change, paid = after_retire(
        p, StripePaymentState(payment_link_id="plink_1"), purpose="replace", now=T0, change="amount USD 5 → USD 6"
    )
    fields = change.written()
    assert not paid
    assert fields["status"] is PaymentStatus.REQUESTED and fields["link_revision"] == 3
    assert fields["payment_link_id"] is None and fields["link_url"] is None and fields["link_terms"] is None
    assert fields["last_failure"] is None
    assert "amount USD 5 → USD 6" in fields["sync_log"] and "revision 2" in fields["sync_log"]


def test_replacement_of_a_link_paid_meanwhile_says_what_was_paid():
    state = StripePaymentState(payment_link_id="plink_1", paid=True, amount_paid_minor=2000000, currency="usd")
    change, paid = after_retire(sent(amount=Decimal("18000")), state, purpose="replace", now=T0)
    fields = change.written()
    assert paid and "paid $20,000.00" in fields["sync_error"] and "$18,000.00" in fields["sync_error"]


# --- resend --------------------------------------------------------------------------------------
def test_resend_emails_the_same_link_and_counts_it():
    action = plan(sent(resend=True, times_sent=2))
    assert isinstance(action, SendAgain) and action.kind == "resend" and action.link_url == "https://pay.example/1"
    assert action.on_sent.written()["resend"] is False and action.on_sent.written()["times_sent"] == 3
    assert action.on_sent.written()["last_sent_at"] == T0 and action.on_sent.written()[
        "next_reminder_at"
    ] == T0 + timedelta(hours=48)


@pytest.mark.parametrize(
    ("status", "sentence"),
    [
        (PaymentStatus.PAID, messages.RESEND_REFUSED["paid"]),
        (PaymentStatus.DISPUTED, messages.RESEND_REFUSED["paid"]),
        (PaymentStatus.CANCELED, messages.RESEND_REFUSED["canceled"]),
        (PaymentStatus.UNKNOWN, messages.RESEND_REFUSED["other"]),
    ],
)
def test_resend_is_refused_where_nothing_is_payable(status, sentence):
    action = plan(sent(resend=True, status=status, link_deactivated_at=T0))
    assert isinstance(action, WriteOnly) and action.change.written() == {"resend": False, "sync_error": sentence}


def test_resend_without_a_valid_email_says_so():
    action = plan(sent(resend=True), email=None)
    assert action.change.written() == {"resend": False, "sync_error": messages.RESEND_REFUSED["no_email"]}


def test_resend_of_an_errored_request_keeps_the_error_in_the_message():
    action = plan(payment(resend=True, status=PaymentStatus.ERROR, sync_error="The amount is missing."))
    assert action.change.written()["sync_error"] == (
        "Not resent: the request has an error and was never sent; fix it, then set its status back to Requested. "
        "The amount is missing."
    )


def test_a_request_not_yet_sent_is_the_request_paths_even_with_resend_ticked():
    assert plan(payment(resend=True)) is None


# --- reminders -----------------------------------------------------------------------------------
def test_reminder_is_due_at_its_time_not_before():
    assert plan(sent(), now=T0 + timedelta(hours=47)) is None
    action = plan(sent(), now=T0 + timedelta(hours=48))
    assert isinstance(action, SendAgain) and action.kind == "reminder"
    assert action.on_sent.written()["reminders_sent"] == 1
    assert action.on_sent.written()["next_reminder_at"] == T0 + timedelta(hours=48) + timedelta(days=3)


def test_the_last_allowed_reminder_ends_the_schedule():
    action = plan(sent(reminders_sent=1), now=T0 + timedelta(days=9))
    assert action.on_sent.written()["reminders_sent"] == 2 and action.on_sent.written()["next_reminder_at"] is None


@pytest.mark.parametrize(
    ("p", "reminders"),
    [
        (sent(no_reminders=True), POLICY),
        # Recorded from Stripe (a Payment marked paid by hand has its link turned off instead, below).
        (sent(status=PaymentStatus.PAID, paid_at=T0, charge_id="ch_1"), POLICY),
        (sent(), ReminderPolicy(max_count=0)),
        (sent(next_reminder_at=None), POLICY),
    ],
    ids=["opted-out", "paid", "reminders-off", "none-scheduled"],
)
def test_no_reminder(p, reminders):
    assert plan(p, now=T0 + timedelta(days=30), reminders=reminders) is None


def test_a_schedule_past_the_maximum_is_closed_without_an_email():
    action = plan(sent(reminders_sent=2), now=T0 + timedelta(days=30))
    assert isinstance(action, WriteOnly) and action.change.written()["next_reminder_at"] is None


def test_next_reminder_schedule():
    assert next_reminder_at(sent_at=T0, reminders_sent=0, opted_out=False, policy=POLICY) == T0 + timedelta(hours=48)
    assert next_reminder_at(sent_at=T0, reminders_sent=1, opted_out=False, policy=POLICY) == T0 + timedelta(days=3)
    assert next_reminder_at(sent_at=T0, reminders_sent=2, opted_out=False, policy=POLICY) is None
    assert next_reminder_at(sent_at=T0, reminders_sent=0, opted_out=True, policy=POLICY) is None


# --- the sync log --------------------------------------------------------------------------------
def test_sync_log_keeps_the_newest_lines_within_the_field():
    log = None
    for n in range(2000):
        log = append_log(log, f"line {n} " + "x" * 40, now=T0)
    assert len(log) <= SYNC_LOG_LIMIT
    assert log.endswith("line 1999 " + "x" * 40) and log.startswith("2026-11-26 15:00 UTC line")


# --- marked paid by hand -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "retired"),
    [
        ({"status": PaymentStatus.PAID}, True),  # cash or cheque: a paid status, nothing from Stripe
        ({"status": PaymentStatus.PARTIALLY_REFUNDED}, True),
        ({"status": PaymentStatus.PAID, "paid_at": T0, "charge_id": "ch_1"}, False),  # recorded from Stripe
        ({"status": PaymentStatus.PAID, "link_deactivated_at": T0}, False),  # its link is off already
        ({"status": PaymentStatus.PAID, "payment_link_id": None}, False),  # no link to turn off
    ],
)
def test_a_payment_marked_paid_by_hand_has_its_live_link_deactivated(overrides, retired):
    action = plan(sent(next_reminder_at=T0 + timedelta(hours=48), **overrides))
    if retired:
        assert action == RetireLink(payment_id=action.payment_id, link_id="plink_1", purpose="paid_by_hand")
    else:
        assert action is None


def test_after_the_link_of_a_hand_marked_payment_is_off_reminders_stop_and_the_log_says_why():
    p = sent(status=PaymentStatus.PAID, next_reminder_at=T0 + timedelta(hours=48))
    change, paid = after_retire(p, StripePaymentState(payment_link_id="plink_1"), purpose="paid_by_hand", now=T0)
    fields = change.written()
    assert not paid
    assert fields["link_deactivated_at"] == T0 and fields["next_reminder_at"] is None
    assert "status" not in fields  # staff's Paid stands
    assert messages.LOG_PAID_BY_HAND in fields["sync_log"]


def test_a_hand_marked_payment_also_paid_on_its_link_is_left_to_the_outcome_path():
    state = StripePaymentState(payment_link_id="plink_1", paid=True, amount_paid_minor=500, currency="usd")
    change, paid = after_retire(sent(status=PaymentStatus.PAID), state, purpose="paid_by_hand", now=T0)
    assert paid and change.written() == {"link_deactivated_at": T0, "next_reminder_at": None, "resend": False}


# --- an amount edited on a paid Payment ----------------------------------------------------------
@pytest.mark.parametrize("typed", [Decimal("4500"), None])
def test_an_amount_edited_on_a_paid_payment_is_put_back_to_what_stripe_charged_and_said(typed):
    p = sent(status=PaymentStatus.PAID, paid_at=T0, charge_id="ch_1", amount_paid=Decimal("20000"), amount=typed)
    assert plan(p) == PutAmountBack(p.id, "plink_1")  # what was charged is read from Stripe first
    # Amount Paid typed too (a claim): the Amount goes back to the charge Stripe shows, not to it.
    typed_paid = p.model_copy(update={"amount_paid": Decimal("26000")})
    change = amount_put_back(typed_paid, Decimal("20000"), now=T0, default_currency="usd")
    assert change is not None
    fields = change.written()
    assert fields["amount"] == Decimal("20000")
    assert fields["sync_error"] == messages.AMOUNT_EDIT_REFUSED_PAID.format(charged="$20,000.00")
    assert ("changed to $4,500.00" if typed else "changed to blank") in fields["sync_log"]


def test_an_amount_that_says_what_stripe_charged_is_left_alone_even_if_amount_paid_was_typed():
    p = sent(status=PaymentStatus.PAID, paid_at=T0, charge_id="ch_1", amount_paid=Decimal("26000"))
    assert amount_put_back(p, Decimal("20000.00"), now=T0, default_currency="usd") is None
    assert amount_put_back(p, None, now=T0, default_currency="usd") is None  # Stripe shows no charge


def test_a_paid_payment_whose_amount_says_what_was_charged_needs_nothing():
    p = sent(status=PaymentStatus.PAID, paid_at=T0, charge_id="ch_1", amount_paid=Decimal("20000"))
    assert p.amount == Decimal("20000.00") and plan(p) is None

"""Staff actions applied by the runner with fakes for the CRM and Stripe: end states, not call sequences."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sync.domain import messages
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.domain.models import CrmSnapshot, PaymentStatus, RefundRecord, RefundSource, RefundStatus, StripePaymentState
from sync.domain.staff_actions import ReminderPolicy
from sync.service.runner import LONGEST_TRANSACTION, next_window, window_caught_up
from tests.unit.factories import T0, payment
from tests.unit.fakes import FakeCrm, FakeStripe
from tests.unit.test_runner import build, crm_with

REMINDERS = ReminderPolicy(first_after=timedelta(hours=48), every=timedelta(days=3), max_count=2)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self):
        return self.now


def sent_link(crm: FakeCrm, stripe: FakeStripe, clock: Clock) -> None:
    build(crm, stripe, now=clock, reminders=REMINDERS).run_cycle()
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT


def emails_for(crm: FakeCrm, payment_id: str = "p1") -> list[str]:
    return [e.subject for e in crm.sent if e.related_record_id == payment_id]


def test_reminders_are_sent_on_schedule_once_each_across_restarts():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    assert crm.payments["p1"].next_reminder_at == T0 + timedelta(hours=48)

    for hours in (47, 48, 48, 48 + 71, 48 + 72, 48 + 72 + 72, 500):
        clock.now = T0 + timedelta(hours=hours)
        build(crm, stripe, now=clock, reminders=REMINDERS).run_cycle()  # a fresh worker each time

    subjects = emails_for(crm)
    assert len(subjects) == 3 and subjects[1].startswith("Reminder:") and subjects[2].startswith("Reminder:")
    final = crm.payments["p1"]
    assert final.reminders_sent == 2 and final.next_reminder_at is None and final.times_sent == 1


def test_no_reminder_once_stripe_shows_the_link_paid():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    stripe.states["plink_1"] = StripePaymentState(payment_link_id="plink_1", paid=True, amount_paid_minor=2000000)
    clock.now = T0 + timedelta(days=3)

    build(crm, stripe, now=clock, reminders=REMINDERS).run_cycle()

    assert len(emails_for(crm)) == 1
    assert crm.payments["p1"].status is PaymentStatus.PAID  # read back at once instead


def test_cancel_deactivates_the_live_link_and_records_it():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"cancel_requested": True})

    report = build(crm, stripe, now=clock).run_cycle()

    assert stripe.deactivated == ["plink_1"]
    canceled = crm.payments["p1"]
    assert canceled.status is PaymentStatus.CANCELED and canceled.link_deactivated_at == T0
    assert not canceled.cancel_requested and report.outcomes["p1"] == "updated"
    build(crm, stripe, now=clock).run_cycle()
    assert stripe.deactivated == ["plink_1"]  # done once


def test_cancel_waits_while_stripe_is_unreachable():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"status": PaymentStatus.CANCELED})
    stripe.deactivate_link = lambda link_id: (_ for _ in ()).throw(RetryableError("Stripe HTTP 503"))

    report = build(crm, stripe, now=clock).run_cycle()

    assert report.outcomes["p1"] == "pending" and crm.payments["p1"].link_deactivated_at is None


def test_edited_amount_gets_a_new_link_in_the_same_cycle_and_one_live_link():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"amount": Decimal("15000.00")})

    build(crm, stripe, now=clock).run_cycle()

    after = crm.payments["p1"]
    assert after.status is PaymentStatus.LINK_SENT and after.link_revision == 1 and after.payment_link_id == "plink_2"
    assert stripe.deactivated == ["plink_1"]
    assert [link.id for link in stripe.links_for_payment("p1")] == ["plink_2"]
    assert stripe.bodies["crm-stripe-sync:payment-link:p1:r1"].amount_minor == 1500000
    assert "amount USD 20000 → USD 15000" in after.sync_log
    assert after.times_sent == 2 and len(crm.sent) == 2


def test_resend_sends_the_same_link():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"resend": True})

    build(crm, stripe, now=clock).run_cycle()

    assert len(crm.sent) == 2 and crm.sent[0].body == crm.sent[1].body
    assert not crm.payments["p1"].resend and crm.payments["p1"].times_sent == 2
    assert len(stripe.links) == 1


def paid_with(*refunds: RefundRecord, **overrides) -> FakeCrm:
    values = dict(
        status=PaymentStatus.PAID,
        payment_link_id="plink_1",
        link_url="https://pay.example/1",
        amount_paid=Decimal("1000.00"),
        amount_refunded=Decimal("0"),
        charge_id="ch_1",
        refunds=refunds,
    )
    values.update(overrides)
    return crm_with("p1", **values)


def charged(stripe: FakeStripe, minor: int = 100000, currency: str = "usd") -> FakeStripe:
    """Stripe holds a paid charge ch_1 on the Payment's link plink_1."""
    stripe.states["plink_1"] = StripePaymentState(
        payment_link_id="plink_1",
        currency=currency,
        checkout_session_id="cs_1",
        payment_intent_id="pi_1",
        charge_id="ch_1",
        paid=True,
        amount_paid_minor=minor,
        refunds=(),
        owners=frozenset({"p1"}),
    )
    return stripe


def asked(n: int, amount: str | None) -> RefundRecord:
    return RefundRecord(
        id=f"r{n}",
        amount=None if amount is None else Decimal(amount),
        reason=None,
        status=RefundStatus.REQUESTED,
        source=None,
        stripe_refund_id=None,
        failure_reason=None,
    )


def test_refunds_are_issued_once_and_refusals_never_reach_stripe():
    crm, stripe = paid_with(asked(1, "400"), asked(2, "700")), charged(FakeStripe())

    build(crm, stripe).run_cycle()
    build(crm, stripe).run_cycle()

    assert [s.amount_minor for s in stripe.refund_specs] == [40000]
    refunds = {r.id: r for r in crm.payments["p1"].refunds}
    assert refunds["r1"].status is RefundStatus.SUCCEEDED and refunds["r1"].stripe_refund_id == "re_1"
    assert refunds["r2"].status is RefundStatus.ERROR and "$600.00" in refunds["r2"].failure_reason
    assert refunds["r2"].source is RefundSource.CRM  # refused, and still a CRM refund


def test_refunds_wait_without_stripe_for_the_charge_to_judge_them_by():
    crm, stripe = paid_with(asked(1, "400"), asked(2, "-1")), charged(FakeStripe())
    crm.setups = ()  # no Stripe Setup: Stripe is not connected

    report = build(crm, stripe).run_cycle()

    assert stripe.refund_specs == []
    refunds = {r.id: r for r in crm.payments["p1"].refunds}
    assert [refunds[r].status for r in ("r1", "r2")] == [RefundStatus.REQUESTED] * 2
    assert report.outcomes["r1"] == report.outcomes["r2"] == "waiting"


def test_a_key_revoked_while_refunding_is_reported_on_the_setup():
    crm, stripe = paid_with(asked(1, "400")), charged(FakeStripe())
    stripe.refund_fail = StripeKeyRejected("Stripe rejected the API key")

    build(crm, stripe).run_cycle()

    assert crm.payments["p1"].refunds[0].status is RefundStatus.REQUESTED
    assert crm.setup_writes[-1]["error"] == messages.KEY_REJECTED


def test_the_changed_window_moves_past_a_full_batch_and_never_back():
    rows = tuple(payment(id=f"p{n}", last_modified=T0 + timedelta(seconds=n)) for n in range(3))
    full = CrmSnapshot(setups=(), project_requests=(), requested_payments=(), action_payments=rows, read_at=T0)
    assert next_window(None, full, batch_size=3, fallback_now=T0) == (T0 + timedelta(seconds=2), "p2")
    ahead = (T0 + timedelta(minutes=5), "p9")
    assert next_window(ahead, full, batch_size=3, fallback_now=T0) == ahead  # a batch of older flagged rows
    partial = CrmSnapshot(setups=(), project_requests=(), requested_payments=(), read_at=T0 + timedelta(hours=1))
    assert next_window(ahead, partial, batch_size=3, fallback_now=T0) == (T0 + timedelta(hours=1, seconds=-5), "")


def test_a_cancel_stripe_refuses_says_why_on_the_record_once():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"cancel_requested": True})
    stripe.deactivate_link = lambda link_id: (_ for _ in ()).throw(PermanentError("No such payment_link"))

    report = build(crm, stripe, now=clock).run_cycle()
    written = crm.payments["p1"]
    build(crm, stripe, now=clock).run_cycle()

    assert report.outcomes["p1"] == "error"
    assert written.sync_error == messages.STRIPE_REFUSED_DEACTIVATION.format(detail="No such payment_link")
    assert written.cancel_requested and crm.payments["p1"] == written  # not written again


# --- Stripe ids on the record are claims (invariant 7) ----------------------------------------------
def test_cancel_of_a_link_that_names_another_payment_deactivates_nothing_and_says_so():
    crm, stripe, clock = crm_with("p1", "p2"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    other = crm.payments["p2"].payment_link_id
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"payment_link_id": other, "cancel_requested": True})

    report = build(crm, stripe, now=clock).run_cycle()
    build(crm, stripe, now=clock).run_cycle()

    assert stripe.deactivated == [] and crm.payments["p2"].status is PaymentStatus.LINK_SENT
    edited = crm.payments["p1"]
    assert report.outcomes["p1"] == "error" and edited.status is PaymentStatus.LINK_SENT
    assert "belongs to another Payment" in edited.sync_error and "belongs to another Payment" in edited.sync_log
    assert len(crm.posts) == 1 and "belongs to another Payment" in crm.posts[0].body  # said once


def test_resend_and_reminders_email_the_links_own_url_and_put_it_back():
    crm, stripe, clock = crm_with("p1"), FakeStripe(), Clock()
    sent_link(crm, stripe, clock)
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"link_url": "https://evil.example/pay", "resend": True})

    build(crm, stripe, now=clock, reminders=REMINDERS).run_cycle()
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"link_url": "https://evil.example/again"})
    clock.now = T0 + timedelta(hours=49)
    build(crm, stripe, now=clock, reminders=REMINDERS).run_cycle()

    assert len(crm.sent) == 3  # first send, resend, reminder
    assert all("https://pay.example/1" in e.body and "evil" not in e.body for e in crm.sent)
    final = crm.payments["p1"]
    assert final.link_url == "https://pay.example/1" and final.sync_log.count("did not match Stripe") == 2


def test_every_ten_minutes_the_window_goes_back_over_the_longest_transaction_once():
    # A long transaction commits rows stamped before a read already made; they are read on catch-up.
    ahead = (T0 + timedelta(minutes=30), "p9")
    assert window_caught_up(None, now=T0, caught_up_at=None) == (None, T0)  # the first read is a full one
    assert window_caught_up(ahead, now=T0 + timedelta(minutes=9), caught_up_at=T0) == (ahead, T0)
    now = T0 + timedelta(minutes=17)  # a transaction begun at T0 - 1 min that took 9 min ended by now
    back, at = window_caught_up(ahead, now=now, caught_up_at=T0)
    assert back == (T0 - LONGEST_TRANSACTION - timedelta(seconds=5), "") and at == now
    assert back[0] <= T0 - timedelta(minutes=1)  # its row is in the window
    behind = (T0 - timedelta(hours=1), "p1")  # already further back (a full batch walking forward)
    assert window_caught_up(behind, now=now, caught_up_at=T0) == (behind, now)

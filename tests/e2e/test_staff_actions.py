"""Staff act from the CRM (worker as a process): refunds, resend, cancel, edits, reminders, deposit on signing.

Each scenario acts through the sandbox as staff, the customer or the Stripe Dashboard would, runs
the worker once (a fresh process, so nothing local survives between runs) and checks end states:
the records, the emails in the org's outbox and the objects in Stripe.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from sync.adapters.salesforce.gateway import SalesforceCrm
from sync.domain import messages
from sync.domain.refunds import plan_refunds
from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker
from tests.e2e.test_outcomes import link_sent
from tests.integration.conftest import settings_for, stripe_for


def paid(sandbox: Sandbox, worker: Worker, *, amount: str = "5000.00", card: str = "4242424242424242") -> dict:
    """A Deposit request paid by the customer and recorded Paid."""
    payment = link_sent(sandbox, worker, amount=amount)
    sandbox.pay(payment["link_url"], card=card, email="pat@example.com")
    assert worker.once().code == 0
    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid"
    return after


def stripe_refunds_of(sandbox: Sandbox, payment: dict) -> list[dict]:
    return [r for r in sandbox.stripe_objects("refund") if r["charge"] == payment["charge_id"]]


def refund_record(sandbox: Sandbox, refund_id: str) -> dict:
    return next(r for r in sandbox.refunds() if r["id"] == refund_id)


def emails_to(sandbox: Sandbox, payment_id: str) -> list[dict]:
    return [e for e in sandbox.outbox() if e["related_record_id"] == payment_id]


# --- refunds -------------------------------------------------------------------------------------
def test_partial_refunds_then_the_rest_match_stripe_to_the_cent(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    first = sandbox.request_refund(payment["id"], amount="1250.55", reason="Tile not installed")
    second = sandbox.request_refund(payment["id"], amount="0.45", reason="duplicate")

    run = worker.once()

    assert run.code == 0, run.stderr
    made = stripe_refunds_of(sandbox, payment)
    assert sorted(r["amount"] for r in made) == [45, 125055]
    by_crm_id = {r["metadata"]["crm_refund_id"]: r for r in made}
    assert by_crm_id[first]["reason"] == "requested_by_customer"
    assert by_crm_id[first]["metadata"]["crm_reason"] == "Tile not installed"
    assert by_crm_id[second]["reason"] == "duplicate"
    for refund_id in (first, second):
        record = refund_record(sandbox, refund_id)
        assert record["status"] == "succeeded" and record["source"] == "crm"
        assert record["stripe_refund_id"] == by_crm_id[refund_id]["id"]
    after = sandbox.payment(payment["id"])
    assert after["status"] == "partially_refunded" and after["amount_refunded"] == Decimal("1251.00")

    rest = sandbox.request_refund(payment["id"])  # blank: everything still refundable
    assert worker.once().code == 0

    assert refund_record(sandbox, rest)["amount"] == Decimal("3749.00")
    after = sandbox.payment(payment["id"])
    assert after["status"] == "refunded" and after["amount_refunded"] == after["amount_paid"] == Decimal("5000.00")
    charge = next(c for c in sandbox.stripe_objects("charge") if c["id"] == payment["charge_id"])
    assert charge["amount_refunded"] == 500000 and charge["refunded"] is True
    assert len(stripe_refunds_of(sandbox, payment)) == 3

    assert worker.once().code == 0  # nothing is issued twice
    assert len(stripe_refunds_of(sandbox, payment)) == 3


@pytest.mark.parametrize(
    ("amount", "fragment"),
    [
        ("5000.01", "more than what is left to refund: $5,000.00"),
        ("0", "must be more than zero"),
        ("-5", "must be more than zero"),
        ("10.005", "more than 2 decimal places"),
    ],
)
def test_invalid_refund_gets_error_and_no_stripe_request(sandbox: Sandbox, worker: Worker, amount, fragment):
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    refund = sandbox.request_refund(payment["id"], amount=amount)
    before = len(sandbox.stripe_requests())

    assert worker.once().code == 0

    record = refund_record(sandbox, refund)
    assert record["status"] == "error" and fragment in record["failure_reason"]
    assert not stripe_refunds_of(sandbox, payment)
    posted = [r for r in sandbox.stripe_requests()[before:] if r["method"] == "POST" and "refunds" in r["path"]]
    assert posted == []
    assert sandbox.payment(payment["id"])["status"] == "paid"


def test_refund_on_an_unpaid_payment_is_refused(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    refund = sandbox.request_refund(payment["id"], amount="10")

    assert worker.once().code == 0

    assert refund_record(sandbox, refund)["failure_reason"] == messages.REFUND_NOT_PAID
    assert sandbox.stripe_objects("refund") == []


def test_crm_and_dashboard_refunds_on_one_payment_add_up_and_overflow_is_refused(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = paid(sandbox, worker, amount="1000.00")
    sandbox.dashboard_refund(payment["charge_id"], amount=30000)  # $300 in the Dashboard
    assert worker.once().code == 0
    crm = sandbox.request_refund(payment["id"], amount="600.00")
    too_much = sandbox.request_refund(payment["id"], amount="100.01")

    assert worker.once().code == 0

    assert refund_record(sandbox, crm)["status"] == "succeeded"
    refused = refund_record(sandbox, too_much)
    assert refused["status"] == "error"
    assert "more than what is left to refund: $100.00" in refused["failure_reason"]
    after = sandbox.payment(payment["id"])
    assert after["amount_refunded"] == Decimal("900.00") and after["status"] == "partially_refunded"
    assert sorted(r["source"] for r in sandbox.refunds() if r["status"] == "succeeded") == ["crm", "stripe_dashboard"]


@pytest.mark.parametrize("amount", ["100.00", None], ids=["part", "the-rest"])
def test_refund_made_in_stripe_before_a_crash_is_adopted_not_made_again(sandbox: Sandbox, worker: Worker, amount):
    """`the-rest`: a blank amount refunds the whole charge, so Stripe shows it refunded in full before
    the record knows it was this refund (found by the chaos suite)."""
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    refund = sandbox.request_refund(payment["id"], amount=amount)
    # The worker created the refund, then died before writing it back: the record still says Requested.
    # The key it used is past Stripe's 24-hour window by now, so only the metadata can tell.
    crm = SalesforceCrm(settings=settings_for(sandbox), mapping=sandbox.mapping)
    state = stripe_for(sandbox).payment_state(payment["payment_link_id"], with_refunds=True)
    [action] = plan_refunds(crm.read_payments([payment["id"]])[0], state, default_currency="usd")
    stripe_for(sandbox).create_refund(replace(action.spec, idempotency_key="an-expired-key"))

    assert worker.once().code == 0

    assert len(stripe_refunds_of(sandbox, payment)) == 1
    record = refund_record(sandbox, refund)
    assert (
        record["status"] == "succeeded" and record["stripe_refund_id"] == stripe_refunds_of(sandbox, payment)[0]["id"]
    )
    expected = Decimal(amount) if amount else payment["amount_paid"]
    assert record["amount"] == expected and record["failure_reason"] is None
    assert sandbox.payment(payment["id"])["amount_refunded"] == expected


def test_pending_refund_from_the_crm_settles_later_through_the_events(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = paid(sandbox, worker, card="4000000000007726")  # Stripe's "pending refund" test card
    refund = sandbox.request_refund(payment["id"], amount="500.00")
    assert worker.once().code == 0
    record = refund_record(sandbox, refund)
    assert record["status"] == "pending"

    sandbox.settle_refund(record["stripe_refund_id"])
    assert worker.once().code == 0

    assert refund_record(sandbox, refund)["status"] == "succeeded"
    assert sandbox.payment(payment["id"])["amount_refunded"] == Decimal("500.00")


def test_crm_refund_that_fails_days_later_says_why(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = paid(sandbox, worker, card="4000000000005126")  # Stripe's "asynchronous refund failure" card
    refund = sandbox.request_refund(payment["id"], amount="500.00")
    assert worker.once().code == 0
    record = refund_record(sandbox, refund)
    assert record["status"] == "succeeded"

    sandbox.fail_refund(record["stripe_refund_id"])
    assert worker.once().code == 0

    failed = refund_record(sandbox, refund)
    assert failed["status"] == "failed" and "expired or was canceled" in failed["failure_reason"]
    after = sandbox.payment(payment["id"])
    assert after["amount_refunded"] == Decimal("0") and after["status"] == "paid"


# --- resend --------------------------------------------------------------------------------------
def test_resend_emails_the_same_link_again_and_counts_it(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.update_payment(payment["id"], resend=True)

    run = worker.once()

    assert run.code == 0 and "payment_link.resent" in run.events
    emails = emails_to(sandbox, payment["id"])
    assert len(emails) == 2 and payment["link_url"] in emails[1]["body"]
    after = sandbox.payment(payment["id"])
    assert after["resend"] is False and after["times_sent"] == 2
    assert after["last_sent_at"] > payment["last_sent_at"]
    assert after["link_url"] == payment["link_url"] and len(sandbox.payment_links()) == 1
    assert worker.once().code == 0 and len(emails_to(sandbox, payment["id"])) == 2


@pytest.mark.parametrize("state", ["paid", "canceled", "error"])
def test_resend_is_refused_with_a_message_when_nothing_is_payable(sandbox: Sandbox, worker: Worker, state):
    sandbox.add_setup()
    if state == "paid":
        payment = paid(sandbox, worker)
    elif state == "canceled":
        payment = link_sent(sandbox, worker)
        sandbox.update_payment(payment["id"], status="canceled")
        assert worker.once().code == 0
    else:
        project = sandbox.add_project("Shed", customer_email="pat@example.com")
        payment = {"id": sandbox.create_payment(project, amount="-5", type="custom", description="Shed")}
        assert worker.once().code == 0
    sent_before = len(emails_to(sandbox, payment["id"]))
    sandbox.update_payment(payment["id"], resend=True)

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["resend"] is False and after["sync_error"].startswith("Not resent:")
    assert len(emails_to(sandbox, payment["id"])) == sent_before


# --- cancel --------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["status", "flag"])
def test_cancel_deactivates_the_link_so_the_customer_cannot_pay(sandbox: Sandbox, worker: Worker, how):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    if how == "status":
        sandbox.update_payment(payment["id"], status="canceled")
    else:
        sandbox.update_payment(payment["id"], cancel_requested=True)

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "canceled" and after["link_deactivated_at"] is not None
    assert after["cancel_requested"] is False
    [link] = sandbox.payment_links()
    assert link["active"] is False
    with pytest.raises(Exception, match="inactive"):
        sandbox.pay(payment["link_url"])


def test_payment_completed_before_the_cancel_reached_stripe_is_shown_not_hidden(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.update_payment(payment["id"], cancel_requested=True)
    sandbox.pay(payment["link_url"], email="pat@example.com")  # the customer pays in the race

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid" and after["amount_paid"] == Decimal("5000.00")
    assert after["sync_error"] == messages.PAID_AFTER_CANCEL
    assert after["cancel_requested"] is False


def test_cancel_of_a_paid_payment_is_refused_and_the_status_restored(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    sandbox.update_payment(payment["id"], status="canceled")

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid" and after["sync_error"] == messages.CANCEL_REFUSED_PAID


def test_cancel_of_a_request_not_yet_sent_sends_nothing(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Porch", customer_email="pat@example.com")
    payment = sandbox.create_payment(project, amount="100", type="custom", description="Porch", cancel_requested=True)

    assert worker.once().code == 0

    assert sandbox.payment(payment)["status"] == "canceled"
    assert sandbox.payment_links() == [] and emails_to(sandbox, payment) == []


# --- amount or description changed ---------------------------------------------------------------
def test_changed_amount_replaces_the_link_and_keeps_the_history(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.update_payment(payment["id"], amount="4500.00")

    run = worker.once()

    assert run.code == 0, run.stderr
    after = sandbox.payment(payment["id"])
    assert after["status"] == "link_sent" and after["link_revision"] == 1
    assert after["link_url"] != payment["link_url"]
    links = {link["id"]: link for link in sandbox.payment_links()}
    assert links[payment["payment_link_id"]]["active"] is False
    assert links[after["payment_link_id"]]["active"] is True
    assert [link_id for link_id, link in links.items() if link["active"]] == [after["payment_link_id"]]
    assert "amount USD 5000 → USD 4500" in after["sync_log"]
    emails = emails_to(sandbox, payment["id"])
    assert len(emails) == 2 and after["link_url"] in emails[1]["body"] and "$4,500.00" in emails[1]["body"]
    paid_now = sandbox.pay(after["link_url"], email="pat@example.com")
    charge = next(c for c in sandbox.stripe_objects("charge") if c["id"] == paid_now["charge"]["id"])
    assert charge["amount"] == 450000


# --- reminders -----------------------------------------------------------------------------------
def test_reminders_follow_the_schedule_and_never_repeat_across_restarts(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    schedule = {"REMINDER_FIRST_AFTER_HOURS": "48", "REMINDER_EVERY_DAYS": "3", "REMINDER_MAX_COUNT": "2"}
    payment = link_sent(sandbox, worker)
    assert worker.once(**schedule).code == 0
    assert len(emails_to(sandbox, payment["id"])) == 1  # not due yet

    sandbox.clock.advance(timedelta(hours=49))
    assert worker.once(**schedule).code == 0
    assert worker.once(**schedule).code == 0  # a restart: the same reminder is not sent again
    after = sandbox.payment(payment["id"])
    emails = emails_to(sandbox, payment["id"])
    assert len(emails) == 2 and emails[1]["subject"].startswith("Reminder:")
    assert after["reminders_sent"] == 1 and after["next_reminder_at"] is not None

    sandbox.clock.advance(timedelta(days=3, minutes=1))
    assert worker.once(**schedule).code == 0
    sandbox.clock.advance(timedelta(days=3, minutes=1))
    assert worker.once(**schedule).code == 0
    after = sandbox.payment(payment["id"])
    assert after["reminders_sent"] == 2 and after["next_reminder_at"] is None
    assert len(emails_to(sandbox, payment["id"])) == 3


def test_no_reminder_for_an_opted_out_or_paid_payment(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    opted_out = link_sent(sandbox, worker, name="Attic")
    sandbox.update_payment(opted_out["id"], no_reminders=True)
    paid_meanwhile = link_sent(sandbox, worker, name="Garage")
    sandbox.pay(paid_meanwhile["link_url"], email="pat@example.com")
    sandbox.clock.advance(timedelta(days=3))

    assert worker.once().code == 0

    assert len(emails_to(sandbox, opted_out["id"])) == 1
    assert len(emails_to(sandbox, paid_meanwhile["id"])) == 1
    assert sandbox.payment(paid_meanwhile["id"])["status"] == "paid"


# --- deposit on signing --------------------------------------------------------------------------
def test_deposit_is_requested_once_when_the_project_is_signed(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Loft", customer_email="pat@example.com", contract_amount=Decimal("30000"))
    rule = {"DEPOSIT_ON_STAGE": "Signed", "DEPOSIT_PERCENT": "30"}
    assert worker.once(**rule).code == 0
    assert sandbox.payments() == []

    sandbox.update_project(project, stage="Signed")
    assert worker.once(**rule).code == 0
    sandbox.update_project(project, stage="In Progress")
    sandbox.update_project(project, stage="Signed")
    assert worker.once(**rule).code == 0

    [payment] = sandbox.payments()
    assert payment["type"] == "deposit" and payment["amount"] == Decimal("9000.00")
    assert payment["status"] == "link_sent"
    assert sandbox.project(project)["signing_deposit_requested"] is True


def test_deposit_on_signing_is_off_by_default(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Deck", customer_email="pat@example.com", contract_amount=Decimal("30000"))
    sandbox.update_project(project, stage="Signed")

    assert worker.once().code == 0

    assert sandbox.payments() == []


# --- crashes -------------------------------------------------------------------------------------
REFUND_KILL_ROUNDS = 10


def test_worker_killed_at_random_instants_never_refunds_twice(sandbox: Sandbox, worker: Worker):
    rng = random.Random(20261127)
    sandbox.add_setup()
    projects = [sandbox.add_project(f"K{i}", customer_email=f"k{i}@example.com") for i in range(4)]
    for project in projects:
        sandbox.request_payment(project, type="progress", amount="1000.00", description="Framing")
    assert worker.once().code == 0
    for payment in sandbox.payments():
        sandbox.pay(payment["link_url"], email="pat@example.com")
    assert worker.once().code == 0
    payments = sandbox.payments()
    assert all(p["status"] == "paid" for p in payments)
    sandbox.latency["stripe"] = 0.15  # so that kills also land between a refund and its write-back
    asked: list[str] = []
    in_the_window = 0
    for _ in range(REFUND_KILL_ROUNDS):
        for payment in rng.sample(payments, 2):
            asked.append(sandbox.request_refund(payment["id"], amount=f"{rng.randint(1, 9000) / 100:.2f}"))
        proc = worker.start()
        time.sleep(rng.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        worker.collect(proc)
        recorded = {r["stripe_refund_id"] for r in sandbox.refunds() if r["stripe_refund_id"]}
        if any(r["id"] not in recorded for r in sandbox.stripe_objects("refund")):
            in_the_window += 1  # killed after Stripe made a refund, before the CRM had it

    sandbox.latency["stripe"] = 0
    for _ in range(3):
        if worker.once().code == 0:
            break
    made = Counter(r["metadata"].get("crm_refund_id") for r in sandbox.stripe_objects("refund"))
    assert made == Counter(asked), "a refund request gave other than exactly one Stripe refund"
    records = {r["id"]: r for r in sandbox.refunds()}
    assert all(records[i]["status"] == "succeeded" for i in asked)
    charges = {c["id"]: c for c in sandbox.stripe_objects("charge")}
    for payment in sandbox.payments():
        refunded = charges[payment["charge_id"]]["amount_refunded"]
        assert payment["amount_refunded"] * 100 == refunded
    adopted = sum(text.count('"refund.adopted"') for text in worker.outputs)
    print(
        f"kills: {REFUND_KILL_ROUNDS}, of which left a Stripe refund the CRM did not have: {in_the_window}; "
        f"refunds adopted after a kill: {adopted}"
    )
    assert in_the_window >= 1 and adopted >= 1, "no kill landed in the window this test exists for"


def test_resend_ticked_before_the_first_send_sends_once(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Porch", customer_email="pat@example.com")
    payment = sandbox.create_payment(project, amount="100", type="custom", description="Porch", resend=True)

    assert worker.once().code == 0
    assert worker.once().code == 0

    after = sandbox.payment(payment)
    assert after["status"] == "link_sent" and after["resend"] is False and after["times_sent"] == 1
    assert len(emails_to(sandbox, payment)) == 1
    assert "Link revision 0 emailed to pat@example.com." in after["sync_log"]


def test_cancel_after_a_declined_attempt_closes_the_page_the_customer_left_open(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    declined = sandbox.pay(payment["link_url"], card="4000000000000002", email="pat@example.com")
    assert worker.once().code == 0
    assert sandbox.payment(payment["id"])["status"] == "payment_failed"
    sandbox.update_payment(payment["id"], cancel_requested=True)

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "canceled" and after["next_reminder_at"] is None
    [session] = [s for s in sandbox.stripe_objects("checkout.session") if s["id"] == declined["checkout_session"]["id"]]
    assert session["status"] == "expired"

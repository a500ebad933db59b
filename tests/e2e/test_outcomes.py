"""Outcomes in Stripe reach the Payment record (worker as a process): paid, failed, refunded, disputed.

Each scenario acts through the sandbox as the customer or the Stripe Dashboard would, then runs the
worker once (a fresh process with no local state, as on a new host) and checks the CRM's end state.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests

from sync.domain.actions import LinkSpec
from sync.domain.stripe_results import failure_guidance
from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker, wait_until
from tests.integration.conftest import stripe_for


def link_sent(sandbox: Sandbox, worker: Worker, *, amount: str = "5000.00", name: str = "Kitchen") -> dict:
    """A Project's Deposit request, taken by the worker to Link Sent."""
    project = sandbox.add_project(name, customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="deposit", amount=amount, description=f"{name} deposit")
    assert worker.once().code == 0
    [payment] = [p for p in sandbox.payments() if p["project"] == project]
    assert payment["status"] == "link_sent"
    return payment


def charge_of(sandbox: Sandbox, payment: dict) -> dict:
    return next(
        c
        for c in sandbox.stripe_objects("charge")
        if c["status"] == "succeeded" and c["payment_intent"] == sandbox.payment(payment["id"])["payment_intent_id"]
    )


def test_paid_link_shows_amount_time_ids_and_receipt_and_tells_staff_once(sandbox: Sandbox, worker: Worker):
    setup = sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    paid = sandbox.pay(payment["link_url"], email="pat@example.com")

    run = worker.once()

    assert run.code == 0, run.stderr
    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid"
    assert after["amount_paid"] == Decimal("5000.00") and after["amount_refunded"] == Decimal("0")
    assert after["paid_at"] is not None
    assert after["checkout_session_id"] == paid["checkout_session"]["id"]
    assert after["payment_intent_id"] == paid["payment_intent"]["id"]
    assert after["charge_id"] == paid["charge"]["id"]
    assert after["receipt_url"] == paid["charge"]["receipt_url"]
    assert requests.get(after["receipt_url"], timeout=5).status_code == 200
    [post] = sandbox.staff_posts()
    assert post["parent_id"] == payment["project"]
    assert post["body"] == "Deposit of $5,000.00 received from pat@example.com for Kitchen."
    assert "payment.marked_paid" in run.events
    cursor = sandbox.setup(setup)["events_cursor"]
    assert cursor and cursor.startswith("evt_")

    again = worker.once()  # the same events are not applied twice, and staff are not told twice
    assert again.code == 0
    assert sandbox.payment(payment["id"])["last_synced_at"] == after["last_synced_at"]
    assert len(sandbox.staff_posts()) == 1


@pytest.mark.parametrize(
    ("card", "code"),
    [
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000119", "processing_error"),
    ],
)
def test_declined_card_leaves_request_payable_and_says_what_to_do(sandbox: Sandbox, worker: Worker, card, code):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.pay(payment["link_url"], card=card)

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "payment_failed"
    assert after["last_failure_code"] == code
    assert after["last_failure"] == failure_guidance(code)
    assert [link["active"] for link in sandbox.payment_links()] == [True]
    assert sandbox.staff_posts() == []


def test_declined_then_paid_with_another_card_ends_paid(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.pay(payment["link_url"], card="4000000000009995")
    assert worker.once().code == 0
    assert sandbox.payment(payment["id"])["status"] == "payment_failed"

    sandbox.pay(payment["link_url"])
    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid" and after["last_failure_code"] is None
    assert [link["active"] for link in sandbox.payment_links()] == [False]  # single use: now spent
    assert len(sandbox.staff_posts()) == 1


def test_dashboard_refunds_appear_as_refund_records_and_totals_equal_stripes(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker, amount="5000.00")
    charge = sandbox.pay(payment["link_url"])["charge"]["id"]
    first = sandbox.dashboard_refund(charge, amount=125_050, reason="requested_by_customer")["refund"]["id"]

    assert worker.once().code == 0
    after = sandbox.payment(payment["id"])
    assert after["status"] == "partially_refunded" and after["amount_refunded"] == Decimal("1250.50")
    [refund] = sandbox.refunds()
    assert refund["payment"] == payment["id"] and refund["stripe_refund_id"] == first
    assert (refund["amount"], refund["status"], refund["source"]) == (
        Decimal("1250.50"),
        "succeeded",
        "stripe_dashboard",
    )

    second = sandbox.dashboard_refund(charge)["refund"]["id"]  # everything that is left
    assert worker.once().code == 0
    assert sandbox.payment(payment["id"])["status"] == "refunded"
    assert sandbox.payment(payment["id"])["amount_refunded"] == Decimal("5000.00")

    sandbox.fail_refund(second, failure_reason="expired_or_canceled_card")  # days later, it bounces
    assert worker.once().code == 0
    after = sandbox.payment(payment["id"])
    stripe_charge = sandbox.stripe.get_object(charge)
    assert after["amount_refunded"] == Decimal(stripe_charge["amount_refunded"]) / 100 == Decimal("1250.50")
    assert after["status"] == "partially_refunded"
    failed = next(r for r in sandbox.refunds() if r["stripe_refund_id"] == second)
    assert failed["status"] == "failed" and "expired or was canceled" in failed["failure_reason"]
    assert len(sandbox.refunds()) == 2


def test_pending_refund_then_settled_is_followed(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    charge = sandbox.pay(payment["link_url"])["charge"]["id"]
    refund = sandbox.dashboard_refund(charge, amount=10_000, status="pending")["refund"]["id"]
    assert worker.once().code == 0
    assert [r["status"] for r in sandbox.refunds()] == ["pending"]
    sandbox.settle_refund(refund)
    assert worker.once().code == 0
    assert [r["status"] for r in sandbox.refunds()] == ["succeeded"]


def test_dispute_sets_disputed_with_reason_and_amount_and_tells_staff(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    charge = sandbox.pay(payment["link_url"])["charge"]["id"]
    assert worker.once().code == 0
    dispute = sandbox.open_dispute(charge, reason="product_not_received")["dispute"]["id"]

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "disputed" and after["dispute_id"] == dispute
    assert after["dispute_reason"] == "product_not_received" and after["amount_disputed"] == Decimal("5000.00")
    posts = [p["body"] for p in sandbox.staff_posts()]
    assert len(posts) == 2 and "disputed" in posts[1] and "product not received" in posts[1]

    sandbox.close_dispute(dispute, won=True)
    assert worker.once().code == 0
    assert sandbox.payment(payment["id"])["status"] == "paid"
    assert sandbox.payment(payment["id"])["dispute_status"] == "won"


def test_evidence_submitted_in_the_dashboard_shows_the_dispute_under_review(sandbox: Sandbox, worker: Worker):
    # charge.dispute.updated, which the worker subscribes to, is what tells it (issue 24, item 5).
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    charge = sandbox.pay(payment["link_url"])["charge"]["id"]
    dispute = sandbox.open_dispute(charge)["dispute"]["id"]
    assert worker.once().code == 0
    assert sandbox.payment(payment["id"])["dispute_status"] == "needs_response"

    sandbox.submit_dispute_evidence(dispute)
    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert (after["status"], after["dispute_status"]) == ("disputed", "under_review")


def test_a_cursor_lost_midway_reads_back_the_window_and_loses_nothing(sandbox: Sandbox, worker: Worker):
    setup = sandbox.add_setup()
    first = link_sent(sandbox, worker, name="Kitchen")
    second = link_sent(sandbox, worker, name="Deck")
    sandbox.pay(first["link_url"])
    assert worker.once().code == 0
    sandbox.update_setup(setup, events_cursor="evt_1EditedByHandXXXXXXXXX")  # a cursor Stripe never issued
    sandbox.pay(second["link_url"], card="4000000000000002")

    run = worker.once()

    assert run.code == 0
    assert "events.cursor_lost" in run.events
    assert sandbox.payment(first["id"])["status"] == "paid"
    assert sandbox.payment(second["id"])["status"] == "payment_failed"
    assert sandbox.setup(setup)["events_cursor"].startswith("evt_")
    assert sandbox.setup(setup)["events_cursor"] != "evt_1EditedByHandXXXXXXXXX"
    assert len(sandbox.staff_posts()) == 1


def test_worker_stopped_longer_than_the_event_window_is_repaired_by_the_sweep(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    paid = link_sent(sandbox, worker, name="Kitchen")
    refunded = link_sent(sandbox, worker, name="Deck")
    untouched = link_sent(sandbox, worker, name="Porch")
    earlier = link_sent(sandbox, worker, name="Garage")
    earlier_charge = sandbox.pay(earlier["link_url"])["charge"]["id"]
    assert worker.once().code == 0
    assert sandbox.payment(earlier["id"])["status"] == "paid"  # and the Setup holds a cursor now
    sandbox.dashboard_refund(earlier_charge)  # refunded in full while the worker was off
    sandbox.pay(paid["link_url"])
    charge = sandbox.pay(refunded["link_url"])["charge"]["id"]
    sandbox.dashboard_refund(charge, amount=50_000)
    sandbox.clock.advance(timedelta(days=35))  # the worker was off; every event is past retention

    run = worker.once()

    assert run.code == 0
    assert "events.cursor_lost" in run.events and "reconcile.finished" in run.events
    assert sandbox.payment(paid["id"])["status"] == "paid"
    after = sandbox.payment(refunded["id"])
    assert after["status"] == "partially_refunded" and after["amount_refunded"] == Decimal("500.00")
    assert sandbox.payment(earlier["id"])["status"] == "refunded"  # paid Payments are swept after a gap too
    assert sorted(r["payment"] for r in sandbox.refunds()) == sorted([refunded["id"], earlier["id"]])
    assert {r["source"] for r in sandbox.refunds()} == {"stripe_dashboard"}
    assert sandbox.payment(untouched["id"])["status"] == "link_sent"


def test_reconcile_command_repairs_a_record_edited_by_hand_and_prints_it(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.pay(payment["link_url"])
    assert worker.once().code == 0
    sandbox.update_payment(payment["id"], status="link_sent", amount_paid=None)  # someone "fixed" it by hand

    run = worker.command("reconcile")

    assert run.code == 0, run.stderr
    assert sandbox.payment(payment["id"])["status"] == "paid"
    assert sandbox.payment(payment["id"])["amount_paid"] == Decimal("5000.00")
    assert "Checked 1 Payment(s) against Stripe; changed 1." in run.stdout
    assert f"{payment['id']}: status -> paid" in run.stdout


def test_running_worker_shows_paid_within_one_poll_interval(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    proc = worker.start(POLL_INTERVAL_SECONDS="2")
    try:
        time.sleep(1)  # the loop is up
        sandbox.pay(payment["link_url"])
        paid_at = time.monotonic()
        assert wait_until(lambda: sandbox.payment(payment["id"])["status"] == "paid", timeout=10, interval=0.05)
        delay = time.monotonic() - paid_at
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        worker.collect(proc)
    assert delay < 2 + 2, f"Paid showed after {delay:.1f} s"


def test_payments_and_refunds_made_elsewhere_on_the_account_are_left_alone(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    ours = link_sent(sandbox, worker)
    spec = LinkSpec(
        idempotency_key="someone-else",
        amount_minor=1000,
        currency="usd",
        product_name="T-shirt",
        payment_description="Shop",
        metadata={},
    )
    foreign = stripe_for(sandbox).create_payment_link(spec)  # another integration's link: no CRM ids
    charge = sandbox.pay(foreign.url)["charge"]["id"]
    sandbox.dashboard_refund(charge)

    run = worker.once()

    assert run.code == 0
    assert sandbox.refunds() == [] and sandbox.staff_posts() == []
    assert sandbox.payment(ours["id"])["status"] == "link_sent"
    assert not {"outcome.write_refused", "events.deferred"} & set(run.events)


def test_two_workers_reading_the_same_payments_tell_staff_once_each(sandbox: Sandbox, worker: Worker):
    import concurrent.futures

    sandbox.add_setup()
    payments = [link_sent(sandbox, worker, name=f"Job {n}") for n in range(8)]
    for payment in payments:
        sandbox.pay(payment["link_url"])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: worker.once(), range(2)))
    deferred = sum(run.events.count("outcome.write_deferred") for run in runs)
    print(f"graphs refused by If-Unmodified-Since: {deferred}")
    worker.once()  # whoever was refused (412) finds nothing left to do

    assert all(run.code in (0, 3) for run in runs), [run.stderr for run in runs]
    assert {sandbox.payment(p["id"])["status"] for p in payments} == {"paid"}
    posts = sandbox.staff_posts()
    assert sorted(p["parent_id"] for p in posts) == sorted(p["project"] for p in payments)

"""Stripe as strict as it is (issue 24): the worker as a process against the sandbox's Stripe."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker, wait_until


def test_a_500_saved_under_the_link_key_does_not_hold_the_payment_a_day(sandbox: Sandbox, worker: Worker):
    # Item 1: Stripe replays a saved 500 under the key for 24 hours; retried under the same key, the
    # Payment stayed without its link that long.
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="sam@example.com")
    sandbox.request_payment(project, amount=Decimal("1200"), type="progress", description="Cabinets")
    sandbox.stripe.add_saved_failure("^/v1/payment_links$")

    assert worker.once().code == 0
    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert payment["status"] == "link_sent"
    [live] = [link for link in sandbox.payment_links() if link["active"]]
    assert live["id"] == payment["payment_link_id"] and len(sandbox.outbox()) == 1


def test_an_event_listed_late_behind_the_cursor_is_applied_by_the_next_sweep(sandbox: Sandbox, worker: Worker):
    # Item 2: an event that shows in /v1/events after the cursor moved past its place is never
    # walked; the sweep, which reads every open Payment's state in Stripe, applies its outcome.
    sandbox.add_setup()
    late, prompt = (
        sandbox.add_project(name, customer_email=f"{name.lower()}@example.com") for name in ("Late", "Prompt")
    )
    for project in (late, prompt):
        sandbox.request_payment(project, amount=Decimal("300"), type="progress", description="Tiles")
    proc = worker.start(RECONCILE_INTERVAL_MINUTES="30")
    try:
        assert wait_until(lambda: [p["status"] for p in sandbox.payments()] == ["link_sent"] * 2)
        assert wait_until(lambda: "reconcile.finished" in proc.log_path.read_text())  # the start-up sweep
        by_project = {p["project"]: p for p in sandbox.payments()}

        sandbox.stripe.delay_events(600)  # the late customer's events are listed ten minutes on
        sandbox.pay(by_project[late]["link_url"])
        sandbox.stripe.delay_events(0, count=0)
        sandbox.pay(by_project[prompt]["link_url"])  # listed at once: the cursor moves past the late ones
        assert wait_until(lambda: sandbox.payment(by_project[prompt]["id"])["status"] == "paid")

        sandbox.clock.advance(timedelta(minutes=11))  # listed now, behind the cursor
        time.sleep(3)  # three polls
        assert sandbox.payment(by_project[late]["id"])["status"] == "link_sent"  # no poll walks back

        sandbox.clock.advance(timedelta(minutes=20))  # the sweep is due, 30 minutes after the last
        assert wait_until(lambda: sandbox.payment(by_project[late]["id"])["status"] == "paid")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        worker.collect(proc)
    paid = sandbox.payment(by_project[late]["id"])
    [intent] = [
        i for i in sandbox.stripe_objects("payment_intent") if i["metadata"].get("crm_payment_id") == paid["id"]
    ]
    assert (paid["amount_paid"], paid["charge_id"]) == (Decimal("300.00"), intent["latest_charge"])


def test_a_refund_listed_late_on_a_paid_payment_is_applied_by_the_next_sweep(sandbox: Sandbox, worker: Worker):
    # Item 2: the periodic sweep reads open Payments only; a Dashboard refund of a paid one whose
    # events Stripe listed behind the cursor was seen only by a `--all` sweep.
    sandbox.add_setup()
    refunded, prompt = (
        sandbox.add_project(name, customer_email=f"{name.lower()}@example.com") for name in ("Refunded", "Prompt")
    )
    for project in (refunded, prompt):
        sandbox.request_payment(project, amount=Decimal("300"), type="progress", description="Tiles")
    proc = worker.start(RECONCILE_INTERVAL_MINUTES="30")
    try:
        assert wait_until(lambda: [p["status"] for p in sandbox.payments()] == ["link_sent"] * 2)
        assert wait_until(lambda: "reconcile.finished" in proc.log_path.read_text())  # the start-up sweep
        by_project = {p["project"]: p for p in sandbox.payments()}
        charge = sandbox.pay(by_project[refunded]["link_url"])["charge"]["id"]
        assert wait_until(lambda: sandbox.payment(by_project[refunded]["id"])["status"] == "paid")

        sandbox.stripe.delay_events(600)  # the refund's events are listed ten minutes on
        sandbox.dashboard_refund(charge, amount=10_000)
        sandbox.stripe.delay_events(0, count=0)
        sandbox.pay(by_project[prompt]["link_url"])  # listed at once: the cursor moves past the late ones
        assert wait_until(lambda: sandbox.payment(by_project[prompt]["id"])["status"] == "paid")

        sandbox.clock.advance(timedelta(minutes=11))  # listed now, behind the cursor
        time.sleep(3)  # three polls
        assert sandbox.payment(by_project[refunded]["id"])["amount_refunded"] in (None, Decimal("0"))

        sandbox.clock.advance(timedelta(minutes=20))  # the sweep is due, 30 minutes after the last
        assert wait_until(lambda: sandbox.payment(by_project[refunded]["id"])["status"] == "partially_refunded")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        worker.collect(proc)
    after = sandbox.payment(by_project[refunded]["id"])
    assert after["amount_refunded"] == Decimal("100.00")
    assert [(r["amount"], r["source"]) for r in sandbox.refunds()] == [(Decimal("100"), "stripe_dashboard")]

"""Stripe as strict as it is (issue 24): the worker as a process against the sandbox's Stripe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest

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


@contextmanager
def two_links_sent(sandbox: Sandbox, worker: Worker) -> Iterator[tuple[dict, dict]]:
    """Two Payments Link Sent by a running worker that sweeps every 30 minutes and has swept once
    (at start-up): the first one's events are to be listed late, the second's move the cursor."""
    sandbox.add_setup()
    projects = [sandbox.add_project(name, customer_email=f"{name.lower()}@example.com") for name in ("Late", "Prompt")]
    for project in projects:
        sandbox.request_payment(project, amount=Decimal("300"), type="progress", description="Tiles")
    proc = worker.start(RECONCILE_INTERVAL_MINUTES="30")
    try:
        assert wait_until(lambda: [p["status"] for p in sandbox.payments()] == ["link_sent"] * 2)
        assert wait_until(lambda: "reconcile.finished" in proc.log_path.read_text())
        by_project = {p["project"]: p for p in sandbox.payments()}
        yield by_project[projects[0]], by_project[projects[1]]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        worker.collect(proc)


def _listed_late(sandbox: Sandbox, act: Callable[[], object], prompt: dict) -> None:
    """`act`'s events are listed ten minutes on; the prompt Payment's payment moves the cursor past them."""
    sandbox.stripe.delay_events(600)
    act()
    sandbox.stripe.delay_events(0, count=0)
    sandbox.pay(prompt["link_url"])
    assert wait_until(lambda: sandbox.payment(prompt["id"])["status"] == "paid")
    sandbox.clock.advance(timedelta(minutes=11))  # listed now, behind the cursor
    time.sleep(3)  # three polls


def test_an_event_listed_late_behind_the_cursor_is_applied_by_the_next_sweep(sandbox: Sandbox, worker: Worker):
    # Item 2: an event that shows in /v1/events after the cursor moved past its place is never
    # walked; the sweep, which reads every open Payment's state in Stripe, applies its outcome.
    with two_links_sent(sandbox, worker) as (late, prompt):
        _listed_late(sandbox, lambda: sandbox.pay(late["link_url"]), prompt)
        assert sandbox.payment(late["id"])["status"] == "link_sent"  # no poll walks back

        sandbox.clock.advance(timedelta(minutes=20))  # the sweep is due, 30 minutes after the last
        assert wait_until(lambda: sandbox.payment(late["id"])["status"] == "paid")
    paid = sandbox.payment(late["id"])
    [intent] = [
        i for i in sandbox.stripe_objects("payment_intent") if i["metadata"].get("crm_payment_id") == paid["id"]
    ]
    assert (paid["amount_paid"], paid["charge_id"]) == (Decimal("300.00"), intent["latest_charge"])


def test_a_refund_listed_late_on_a_paid_payment_is_applied_by_the_next_sweep(sandbox: Sandbox, worker: Worker):
    # Item 2: the periodic sweep reads open Payments only; a Dashboard refund of a paid one whose
    # events Stripe listed behind the cursor was seen only by a `--all` sweep.
    with two_links_sent(sandbox, worker) as (refunded, prompt):
        charge = sandbox.pay(refunded["link_url"])["charge"]["id"]
        assert wait_until(lambda: sandbox.payment(refunded["id"])["status"] == "paid")
        _listed_late(sandbox, lambda: sandbox.dashboard_refund(charge, amount=10_000), prompt)
        assert sandbox.payment(refunded["id"])["amount_refunded"] in (None, Decimal("0"))

        sandbox.clock.advance(timedelta(minutes=20))  # the sweep is due, 30 minutes after the last
        assert wait_until(lambda: sandbox.payment(refunded["id"])["status"] == "partially_refunded")
    assert sandbox.payment(refunded["id"])["amount_refunded"] == Decimal("100.00")
    assert [(r["amount"], r["source"]) for r in sandbox.refunds()] == [(Decimal("100"), "stripe_dashboard")]


def test_an_amount_under_stripes_minimum_once_converted_says_what_to_do_and_is_not_retried(
    sandbox: Sandbox, worker: Worker
):
    # Item 4: £0.35 passes GBP's own minimum (£0.30, which the worker checks), but this Stripe
    # account is paid out in USD and £0.35 is about $0.44, under its $0.50 (docs.stripe.com/currencies).
    sandbox.add_setup()
    project = sandbox.add_project("Shed", customer_email="kim@example.com", currency="GBP")
    sandbox.request_payment(project, amount=Decimal("0.35"), type="progress", description="Hinges")

    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert payment["status"] == "error"
    said = payment["sync_error"]
    assert said.startswith("Stripe refused £0.35: it is under Stripe's minimum charge once converted to the currency")
    assert "Amount must convert to at least 50 cents. £0.35 converts to approximately $0.44." in said
    assert "Request a larger amount" in said and "set the Payment back to Requested" in said
    assert "[Stripe Request-Id req_" in said

    assert worker.once().code == 0  # the same amount is not sent to Stripe again

    assert sandbox.stripe.request_counts()[("POST", "/v1/payment_links")] == 1
    assert sandbox.payment(payment["id"])["sync_error"] == said
    assert sandbox.payment_links() == [] and sandbox.outbox() == []


@pytest.mark.parametrize("account_version", ["2022-08-01", "2024-06-20"])
def test_an_account_on_an_older_api_version_gets_every_outcome_onto_the_records(
    sandbox: Sandbox, worker: Worker, account_version: str
):
    # Item 3: events are rendered in the account's default version, not the worker's pinned one.
    # Before 2024-10-28 a card refund sends only charge.refunded / charge.refund.updated; before
    # 2022-11-15 a PaymentIntent carries `charges`, not `latest_charge`.
    sandbox.set_stripe_account(api_version=account_version)  # as if pinned so in Workbench from the start
    sandbox.add_setup()
    refunded = _link_sent(sandbox, worker, "Kitchen")
    disputed = _link_sent(sandbox, worker, "Deck")
    charge = sandbox.pay(refunded["link_url"], email="pat@example.com")["charge"]["id"]
    disputed_charge = sandbox.pay(disputed["link_url"])["charge"]["id"]
    assert worker.once().code == 0
    assert {sandbox.payment(p["id"])["status"] for p in (refunded, disputed)} == {"paid"}

    first = sandbox.dashboard_refund(charge, amount=100_000)["refund"]["id"]
    assert worker.once().code == 0
    after = sandbox.payment(refunded["id"])
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", Decimal("1000.00"))
    assert [(r["stripe_refund_id"], r["source"]) for r in sandbox.refunds()] == [(first, "stripe_dashboard")]

    second = sandbox.dashboard_refund(charge)["refund"]["id"]  # the rest
    assert worker.once().code == 0
    assert sandbox.payment(refunded["id"])["status"] == "refunded"
    sandbox.fail_refund(second)  # it bounces days later
    assert worker.once().code == 0
    after = sandbox.payment(refunded["id"])
    assert (after["status"], after["amount_refunded"]) == ("partially_refunded", Decimal("1000.00"))
    assert next(r for r in sandbox.refunds() if r["stripe_refund_id"] == second)["status"] == "failed"

    dispute = sandbox.open_dispute(disputed_charge, reason="fraudulent")["dispute"]["id"]
    assert worker.once().code == 0
    after = sandbox.payment(disputed["id"])
    assert (after["status"], after["dispute_id"], after["amount_disputed"]) == (
        "disputed",
        dispute,
        Decimal("5000.00"),
    )
    sandbox.close_dispute(dispute, won=False)
    assert worker.once().code == 0
    assert sandbox.payment(disputed["id"])["dispute_status"] == "lost"

    events = sandbox.stripe.events()  # the account really sent the older shapes
    assert {e["api_version"] for e in events} == {account_version}
    assert not [e for e in events if e["type"].startswith("refund.")]
    intents = [e["data"]["object"] for e in events if e["type"] == "payment_intent.succeeded"]
    assert all(("latest_charge" in i) == (account_version >= "2022-11-15") for i in intents)


def _link_sent(sandbox: Sandbox, worker: Worker, name: str) -> dict:
    project = sandbox.add_project(name, customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="deposit", amount="5000.00", description=f"{name} deposit")
    assert worker.once().code == 0
    [payment] = [p for p in sandbox.payments() if p["project"] == project]
    assert payment["status"] == "link_sent"
    return payment

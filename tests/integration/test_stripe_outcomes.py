"""Reading outcomes through the Stripe adapter against the Stripe emulator: events, cursors, link state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.adapters.stripe.payments import StripePayments
from sync.domain.actions import LinkSpec
from sync.sandbox.environment import Sandbox
from tests.integration.conftest import stripe_for


def _link(stripe: StripePayments, payment_id: str, amount: int = 500_000) -> str:
    spec = LinkSpec(
        idempotency_key=f"k-{payment_id}",
        amount_minor=amount,
        currency="usd",
        product_name="Deposit",
        payment_description="Kitchen: Deposit",
        metadata={"crm_payment_id": payment_id, "crm_project_id": "a01x", "crm_link_revision": "0"},
    )
    return stripe.create_payment_link(spec).id


@pytest.fixture
def stripe(sandbox: Sandbox) -> StripePayments:
    return stripe_for(sandbox)


def test_events_after_a_cursor_come_oldest_first_and_name_their_payment(sandbox: Sandbox, stripe: StripePayments):
    sandbox.pay(_link(stripe, "a02PAY0"))  # an earlier payment, so there is a cursor to go on from
    link = _link(stripe, "a02PAY1")
    start = stripe.events_before(None, since=sandbox.clock.now() - timedelta(days=1), max_events=100)
    assert start.newest_id is not None
    sandbox.pay(link, card="4000000000000002")
    sandbox.pay(link)

    batch = stripe.events_after(start.newest_id, max_events=100)

    assert not batch.cursor_lost
    types = [e.type for e in batch.events]
    assert types.index("payment_intent.payment_failed") < types.index("checkout.session.completed")
    assert [e.created for e in batch.events] == sorted(e.created for e in batch.events)
    assert {e.payment_id for e in batch.events if e.type.startswith(("payment_intent", "checkout"))} == {"a02PAY1"}
    assert batch.newest_id == batch.events[-1].id
    again = stripe.events_after(batch.newest_id, max_events=100)
    assert again.events == () and again.newest_id is None


def test_a_batch_is_cut_at_its_limit_and_the_next_poll_goes_on_from_there(sandbox: Sandbox, stripe: StripePayments):
    for n in range(3):
        sandbox.pay(_link(stripe, f"a02PAY{n}"))
    since = sandbox.clock.now() - timedelta(days=1)
    oldest_first = list(reversed(stripe.events_before(None, since=since, max_events=1000).events))
    first = stripe.events_after(oldest_first[0].id, max_events=4)
    assert first.more and len(first.events) == 4
    rest = stripe.events_after(first.newest_id or "", max_events=1000)
    assert not rest.more
    assert [e.id for e in first.events + rest.events] == [e.id for e in oldest_first[1:]]


def test_the_window_walked_newest_first_in_steps_is_the_window_listed_at_once(sandbox: Sandbox, stripe: StripePayments):
    for n in range(4):
        sandbox.pay(_link(stripe, f"a02PAY{n}"))
    since = sandbox.clock.now() - timedelta(days=1)
    everything = stripe.events_before(None, since=since, max_events=1000)
    walked, older, steps = [], None, 0
    while True:
        step = stripe.events_before(older, since=since, max_events=3)
        steps += 1
        walked += step.events
        assert step.newest_id == (step.events[0].id if step.events else None)
        if not step.more:
            break
        older = step.events[-1].id
    assert len(everything.events) > 6 and steps == -(-len(everything.events) // 3)
    assert [e.id for e in walked] == [e.id for e in everything.events]
    assert [e.created for e in walked] == sorted((e.created for e in walked), reverse=True)


def test_a_walk_whose_step_has_passed_retention_ends_there(sandbox: Sandbox, stripe: StripePayments):
    sandbox.pay(_link(stripe, "a02PAY1"))
    first = stripe.events_before(None, since=sandbox.clock.now() - timedelta(days=1), max_events=1)
    sandbox.clock.advance(timedelta(days=31))  # past Stripe's 30-day retention
    rest = stripe.events_before(first.events[-1].id, since=sandbox.clock.now() - timedelta(days=30), max_events=5)
    assert rest.events == () and not rest.more


def test_an_unknown_or_expired_cursor_is_reported_lost_and_nothing_listed(sandbox: Sandbox, stripe: StripePayments):
    sandbox.pay(_link(stripe, "a02PAY1"))
    sandbox.stripe.clear_request_log()
    batch = stripe.events_after("evt_1NotAnEventWeKnow", max_events=50)
    assert batch.cursor_lost and batch.events == () and batch.newest_id is None
    # One refused request, not a walk of the window: the caller walks it newest first, in steps.
    assert len([r for r in sandbox.stripe_requests() if r["template"] == "/v1/events"]) == 1

    known = stripe.events_before(None, since=sandbox.clock.now() - timedelta(days=1), max_events=1).newest_id
    assert known is not None and not stripe.events_after(known, max_events=50).cursor_lost
    sandbox.clock.advance(timedelta(days=31))  # past Stripe's 30-day retention
    expired = stripe.events_after(known, max_events=50)
    assert expired.cursor_lost and expired.events == ()


def test_state_of_a_paid_link_has_amount_time_ids_and_a_receipt_that_opens(sandbox: Sandbox, stripe: StripePayments):
    link = _link(stripe, "a02PAY1")
    paid = sandbox.pay(link, email="pat@example.com")

    state = stripe.payment_state(link, with_refunds=False)

    assert state.paid and state.amount_paid_minor == 500_000 and state.currency == "usd"
    assert state.checkout_session_id == paid["checkout_session"]["id"]
    assert state.payment_intent_id == paid["payment_intent"]["id"]
    assert state.charge_id == paid["charge"]["id"]
    assert state.paid_at is not None and state.amount_refunded_minor == 0
    assert state.refunds is None and state.disputes == ()
    import requests

    receipt = requests.get(state.receipt_url or "", timeout=5)
    assert receipt.status_code == 200 and "5,000.00" in receipt.text
    assert stripe.payment_id_of_intent(state.payment_intent_id or "") == "a02PAY1"


@pytest.mark.parametrize(
    ("card", "code", "decline_code"),
    [
        ("4000000000000002", "card_declined", "generic_decline"),
        ("4000000000009995", "card_declined", "insufficient_funds"),
        ("4000000000000069", "expired_card", None),
        ("4000000000000119", "processing_error", None),
    ],
)
def test_state_of_a_declined_attempt_keeps_the_link_payable(sandbox, stripe, card, code, decline_code):
    link = _link(stripe, "a02PAY1")
    sandbox.pay(link, card=card)
    state = stripe.payment_state(link, with_refunds=False)
    assert not state.paid and state.last_failure is not None
    assert (state.last_failure.code, state.last_failure.decline_code) == (code, decline_code)
    assert [lk["active"] for lk in sandbox.payment_links()] == [True]


def test_state_shows_refunds_with_their_status_and_disputes(sandbox: Sandbox, stripe: StripePayments):
    link = _link(stripe, "a02PAY1")
    charge = sandbox.pay(link)["charge"]["id"]
    first = sandbox.dashboard_refund(charge, amount=100_000, reason="requested_by_customer")["refund"]["id"]
    sandbox.dashboard_refund(charge, amount=50_000, status="pending")
    sandbox.fail_refund(first)
    sandbox.open_dispute(charge, reason="product_not_received")

    state = stripe.payment_state(link, with_refunds=True)

    assert state.amount_refunded_minor == 50_000  # the failed refund no longer counts
    assert state.refunds is not None
    assert sorted((r.amount_minor, r.status, r.failure_reason) for r in state.refunds) == [
        (50_000, "pending", None),
        (100_000, "failed", "expired_or_canceled_card"),
    ]
    assert all(r.crm_refund_id is None for r in state.refunds)
    [dispute] = state.disputes
    assert (dispute.reason, dispute.status, dispute.amount_minor) == ("product_not_received", "needs_response", 500_000)


def test_state_of_an_unopened_link_is_empty(sandbox: Sandbox, stripe: StripePayments):
    link = _link(stripe, "a02PAY1")
    state = stripe.payment_state(link, with_refunds=True)
    assert not state.paid and state.last_failure is None and state.checkout_session_id is None

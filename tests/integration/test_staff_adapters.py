"""The adapters' part in staff actions, against the sandbox over loopback HTTP.

Salesforce: which Payments the one composite read returns for staff actions and refunds, paging
through changed Payments, and Refund writes. Stripe: refunds made once and found again by their
CRM record id.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from sync.adapters.salesforce.gateway import SalesforceCrm
from sync.config.settings import Settings
from sync.domain.changes import RefundChange
from sync.domain.errors import PermanentError
from sync.domain.models import RefundStatus
from sync.domain.refunds import RefundSpec, plan_refunds
from sync.ports import RefundUpdate
from sync.sandbox.environment import Sandbox
from sync.service.runner import next_window
from tests.integration.conftest import settings_for, stripe_for
from tests.integration.test_stripe_outcomes import _link


def payment_in(sandbox: Sandbox, project: str, status: str, **fields) -> str:
    return sandbox.create_payment(project, status=status, amount="100.00", type="custom", **fields)


def test_the_snapshot_returns_payments_with_a_staff_action_waiting(sandbox: Sandbox, crm: SalesforceCrm):
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    now = sandbox.clock.now()
    expected = {
        "resend": payment_in(sandbox, project, "paid", resend=True),
        "cancel": payment_in(sandbox, project, "link_sent", cancel_requested=True),
        "canceled live": payment_in(sandbox, project, "canceled", payment_link_id="plink_1"),
        "due": payment_in(sandbox, project, "link_sent", next_reminder_at=now - timedelta(minutes=1)),
    }
    left_out = {
        "canceled done": payment_in(sandbox, project, "canceled", payment_link_id="plink_2", link_deactivated_at=now),
        "paid": payment_in(sandbox, project, "paid"),
    }
    payment_in(sandbox, project, "link_sent", next_reminder_at=now + timedelta(hours=1))
    payment_in(sandbox, project, "payment_failed", no_reminders=True, next_reminder_at=now)

    window = (now + timedelta(minutes=5), "")  # nothing changed after this: only actions are read
    snapshot = crm.read_snapshot(reminders_due_by=now, changed_after=window)

    got = {p.id for p in snapshot.action_payments}
    assert got == set(expected.values()), {k for k, v in expected.items() if v not in got}
    assert not got & set(left_out.values())
    without_reminders = crm.read_snapshot(reminders_due_by=None, changed_after=window)
    assert {p.id for p in without_reminders.action_payments} == set(expected.values()) - {expected["due"]}


def test_the_snapshot_returns_payments_with_a_refund_asked_for(sandbox: Sandbox, crm: SalesforceCrm):
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    asked = payment_in(sandbox, project, "paid")
    sandbox.request_refund(asked, amount="10")
    done = payment_in(sandbox, project, "paid")
    refund = sandbox.request_refund(done, amount="10")
    sandbox.update_refund(refund, status="succeeded", stripe_refund_id="re_1")

    snapshot = crm.read_snapshot()

    [payment] = snapshot.refund_payments
    assert payment.id == asked and [r.amount for r in payment.refunds] == [Decimal("10")]


def test_changed_payments_are_paged_through_without_repeats_or_stalls(
    sandbox: Sandbox, crm_for: Callable[[Settings], SalesforceCrm]
):
    crm = crm_for(settings_for(sandbox, BATCH_SIZE="3"))
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    created = {payment_in(sandbox, project, "link_sent") for _ in range(8)}  # mostly within one second

    seen: list[str] = []
    window = None
    for _ in range(6):
        snapshot = crm.read_snapshot(changed_after=window)
        seen.extend(p.id for p in snapshot.action_payments)
        window = next_window(window, snapshot, batch_size=3, fallback_now=sandbox.clock.now())
        if len(snapshot.action_payments) < 3:
            break

    assert set(seen) == created and len(seen) == len(created)
    sandbox.clock.advance(timedelta(seconds=30))
    overlap = crm.read_snapshot(changed_after=window)  # the last few seconds are read once more
    window = next_window(window, overlap, batch_size=3, fallback_now=sandbox.clock.now())
    assert crm.read_snapshot(changed_after=window).action_payments == ()  # nothing changed since
    edited = sorted(created)[4]
    sandbox.update_payment(edited, amount="150.00")
    assert [p.id for p in crm.read_snapshot(changed_after=window).action_payments] == [edited]


def test_refund_records_are_written_by_id(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    payment = payment_in(sandbox, project, "paid")
    refund = sandbox.request_refund(payment, amount=None)

    [result] = crm.update_refunds(
        [RefundUpdate(refund, RefundChange(status=RefundStatus.ERROR, failure_reason="Nothing to refund."))]
    )

    assert result.error is None
    [record] = sandbox.refunds()
    assert record["status"] == "error" and record["failure_reason"] == "Nothing to refund."


def paid_link(sandbox: Sandbox, payment_id: str, amount: int = 100_000, card: str = "4242424242424242") -> dict:
    stripe = stripe_for(sandbox)
    link = _link(stripe, payment_id, amount)
    return sandbox.pay(link, card=card)


def spec_for(charge_id: str, refund_id: str, amount_minor: int | None, key: str = "k1") -> RefundSpec:
    return RefundSpec(
        idempotency_key=key,
        charge_id=charge_id,
        payment_intent_id=None,
        amount_minor=amount_minor,
        reason="requested_by_customer",
        metadata={"crm_refund_id": refund_id, "crm_payment_id": "a02PAY1"},
    )


def test_a_refund_is_made_once_per_key_and_read_back_with_its_record_id(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    paid = paid_link(sandbox, "a02PAY1")
    charge = paid["charge"]["id"]
    spec = spec_for(charge, "a04REF1", 25_000)

    made = stripe.create_refund(spec)
    again = stripe.create_refund(spec)

    assert made == again and made.amount_minor == 25_000 and made.status == "succeeded"
    assert made.crm_refund_id == "a04REF1"
    state = stripe.payment_state(paid["payment_link"]["id"], with_refunds=True)
    assert state.refunds == (made,) and state.owners == {"a02PAY1"} and state.charge_id == charge
    assert len(sandbox.stripe_objects("refund")) == 1


def test_a_refund_without_amount_takes_what_is_left_and_stripe_refuses_more(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    charge = paid_link(sandbox, "a02PAY1")["charge"]["id"]
    stripe.create_refund(spec_for(charge, "a04REF1", 30_000, key="k1"))

    rest = stripe.create_refund(spec_for(charge, "a04REF2", None, key="k2"))
    assert rest.amount_minor == 70_000

    with pytest.raises(PermanentError, match="already been refunded"):
        stripe.create_refund(spec_for(charge, "a04REF3", 1, key="k3"))


def test_plan_and_adapter_agree_on_a_pending_refund_card(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    payment = payment_in(sandbox, project, "paid", amount_paid="1000.00")
    paid = paid_link(sandbox, payment, card="4000000000007726")
    sandbox.request_refund(payment, amount="100.00")
    state = stripe_for(sandbox).payment_state(paid["payment_link"]["id"], with_refunds=True)
    [action] = plan_refunds(crm.read_payments([payment])[0], state, default_currency="usd")

    made = stripe_for(sandbox).create_refund(action.spec)

    assert made.status == "pending" and made.amount_minor == 10_000


def test_deactivating_a_link_also_expires_a_checkout_page_left_open(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    link = _link(stripe, "a02PAY1")
    declined = sandbox.pay(link, card="4000000000000002")  # the customer's page stays open to retry
    session_id = declined["checkout_session"]["id"]

    stripe.deactivate_link(link)

    [session] = [s for s in sandbox.stripe_objects("checkout.session") if s["id"] == session_id]
    assert session["status"] == "expired"
    [stored] = [lk for lk in sandbox.payment_links() if lk["id"] == link]
    assert stored["active"] is False
    stripe.deactivate_link(link)  # again: nothing left to expire, no error


def test_a_link_read_back_says_whose_it_is_and_what_it_charges(sandbox: Sandbox):
    stripe = stripe_for(sandbox)
    link_id = _link(stripe, "a02PAY1", 123_456)

    read = stripe.link(link_id)

    assert read.id == link_id and read.active and read.url.startswith("http")
    assert read.payment_id == "a02PAY1" and read.currency == "usd" and read.amount_minor == 123_456
    with pytest.raises(PermanentError, match="No such payment_link"):
        stripe.link("plink_doesnotexist")

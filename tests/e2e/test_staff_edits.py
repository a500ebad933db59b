"""Staff edits the way office staff really make them never mislead a customer (issue 17), the worker as a process."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sync.domain import messages
from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker
from tests.e2e.test_outcomes import link_sent
from tests.e2e.test_staff_actions import paid


def test_a_yen_deposit_is_half_the_contract_rounded_half_up_to_the_yen(sandbox: Sandbox, worker: Worker):
    # Item 6: rounded to cents, 5,001 yen at 50% gave 2,500.50 and was then refused as too precise.
    sandbox.add_setup()
    project = sandbox.add_project(
        "Tatami room", customer_email="ken@example.com", contract_amount=Decimal("5001"), currency="JPY"
    )
    sandbox.request_payment(project, type="deposit")

    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert (payment["status"], payment["amount"], payment["currency"]) == ("link_sent", Decimal("2501"), "jpy")
    [price] = sandbox.stripe.objects("price")
    assert (price["unit_amount"], price["currency"]) == (2501, "jpy")  # yen have no minor unit
    [mail] = sandbox.outbox()
    assert "JPY 2,501" in mail["body"] or "JPY 2,501" in mail["subject"]


def test_a_blank_deposit_on_a_contract_of_zero_names_the_contract(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Shed", customer_email="al@example.com", contract_amount=Decimal("0"))
    sandbox.request_payment(project, type="deposit")

    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert payment["status"] == "error"
    assert payment["sync_error"] == messages.CONTRACT_NOT_POSITIVE.format(type="deposit", contract="$0.00")
    assert sandbox.payment_links() == []


def test_a_payment_marked_paid_by_hand_has_its_link_turned_off_and_its_reminders_stopped(
    sandbox: Sandbox, worker: Worker
):
    # Item 5: cash or a cheque, recorded by setting Paid; the card link stayed payable and reminded.
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    assert payment["next_reminder_at"] is not None
    sandbox.update_payment(payment["id"], status="paid")

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid" and after["sync_error"] is None  # staff's Paid stands
    assert after["link_deactivated_at"] is not None and after["next_reminder_at"] is None
    assert messages.LOG_PAID_BY_HAND in after["sync_log"]
    [link] = sandbox.payment_links()
    assert link["active"] is False
    with pytest.raises(Exception, match="inactive"):
        sandbox.pay(payment["link_url"])
    assert worker.once().code == 0 and sandbox.staff_posts() == []  # nothing more to do, nothing said


def test_a_card_payment_on_top_of_one_marked_by_hand_is_recorded_and_said_as_maybe_twice(
    sandbox: Sandbox, worker: Worker
):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.update_payment(payment["id"], status="paid")
    sandbox.pay(payment["link_url"], email="pat@example.com")  # before the worker turned the link off

    assert worker.once().code == 0
    assert worker.once().code == 0  # and again: said once

    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid" and after["amount_paid"] == Decimal("5000.00") and after["charge_id"]
    assert after["sync_error"] == messages.PAID_TWICE.format(amount="$5,000.00")
    [post] = sandbox.staff_posts()
    assert "Check for a double payment" in post["body"] and "$5,000.00" in post["body"]


# --- item 1: a Payment set back to Requested --------------------------------------------------------
def test_a_paid_payment_set_back_to_requested_is_not_emailed_and_gets_its_status_back(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    assert len(sandbox.staff_posts()) == 1
    sandbox.update_payment(payment["id"], status="requested")

    assert worker.once().code == 0
    assert worker.command("reconcile", "--all").code == 0  # a sweep after: still no second post

    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid" and after["sync_error"] == messages.REQUESTED_BUT_PAID
    assert len(sandbox.outbox()) == 1  # the first request only: the spent link is never emailed again
    assert len(sandbox.staff_posts()) == 1


def test_a_canceled_payment_set_back_to_requested_gets_a_new_live_link_not_its_dead_one(
    sandbox: Sandbox, worker: Worker
):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.update_payment(payment["id"], status="canceled")
    assert worker.once().code == 0
    sandbox.update_payment(payment["id"], status="requested")

    assert worker.once().code == 0
    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "link_sent" and after["link_revision"] == 1
    links = {link["id"]: link for link in sandbox.payment_links()}
    old = links.pop(payment["payment_link_id"])
    [new] = links.values()
    assert old["active"] is False and new["active"] is True and after["payment_link_id"] == new["id"]
    emails = sandbox.outbox()
    assert len(emails) == 2 and old["url"] not in emails[1]["body"] and new["url"] in emails[1]["body"]
    sandbox.pay(after["link_url"])  # the new link is the one that works


def test_an_amount_fixed_with_the_request_set_back_to_requested_is_what_the_emailed_link_charges(
    sandbox: Sandbox, worker: Worker
):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker, amount="120.00")
    sandbox.update_payment(payment["id"], status="error")
    sandbox.update_payment(payment["id"], amount="150.00", status="requested")  # fixed, and asked again

    assert worker.once().code == 0
    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["status"] == "link_sent" and after["amount"] == Decimal("150.00")
    live = [link for link in sandbox.payment_links() if link["active"]]
    assert [link["id"] for link in live] == [after["payment_link_id"]]  # never two live links
    prices = {p["id"]: p["unit_amount"] for p in sandbox.stripe.objects("price")}
    assert 15000 in prices.values()
    first, *later = sandbox.outbox()
    assert "$120.00" in first["body"] and payment["link_url"] in first["body"]
    # Never an email whose words and link disagree: the $120.00 link is not emailed with $150.00.
    assert [("$150.00" in m["body"], after["link_url"] in m["body"]) for m in later] == [(True, True)]


def test_a_final_balance_counts_what_was_charged_even_after_the_paid_amount_was_edited(
    sandbox: Sandbox, worker: Worker
):
    # Item 2: 5,000 paid on a 10,000 contract, its Amount then edited to 4,500: the Final asks 5,000, not 5,500.
    sandbox.add_setup()
    project = sandbox.add_project("Roof", customer_email="pat@example.com", contract_amount=Decimal("10000.00"))
    sandbox.request_payment(project, type="deposit", amount="5000.00")
    assert worker.once().code == 0
    [deposit] = sandbox.payments()
    sandbox.pay(deposit["link_url"], email="pat@example.com")
    assert worker.once().code == 0
    sandbox.update_payment(deposit["id"], amount="4500.00")
    sandbox.request_payment(project, type="final")

    assert worker.once().code == 0

    final = next(p for p in sandbox.payments() if p["type"] == "final")
    assert (final["status"], final["amount"]) == ("link_sent", Decimal("5000.00"))


def test_request_payment_ticked_again_with_requested_at_unchanged_is_a_new_request(sandbox: Sandbox, worker: Worker):
    # Item 3: the sandbox's printed curl line (and orgs whose automation leaves Requested At alone)
    # sets the same Requested At every time; the second click vanished as "already taken".
    sandbox.add_setup()
    project = sandbox.add_project("Garage", customer_email="pat@example.com")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for _ in range(2):
        sandbox.update_project(
            project, request_payment=True, requested_amount=Decimal("1500"), request_type="Progress", requested_at=at
        )
        assert worker.once().code == 0
        assert worker.once().code == 0  # the same click read again: nothing more

    payments = sandbox.payments()
    assert [(p["status"], p["amount"]) for p in payments] == [("link_sent", Decimal("1500.00"))] * 2
    assert len({p["request_key"] for p in payments}) == 2 and len(sandbox.outbox()) == 2
    assert sandbox.project(project)["request_payment"] is False


def test_a_request_the_org_refuses_to_record_says_why_on_the_project(sandbox: Sandbox, worker: Worker):
    # Item 3: when the org refuses even the Error Payment saying why (a validation rule on Payment),
    # the request vanished into the logs, or stayed ticked and was refused every cycle.
    sandbox.add_setup()
    project = sandbox.add_project("Porch", customer_email="lee@example.com")
    rule = "Custom payments need a manager's approval."
    sandbox.add_validation_rule("payment", rule, type="custom")
    sandbox.request_payment(project, amount=Decimal("300"), type="custom", description="Extra steps")

    assert worker.once().code == 0

    assert sandbox.payments() == []
    after = sandbox.project(project)
    assert after["request_payment"] is False  # not refused again every cycle
    assert after["request_error"] == messages.REQUEST_NOT_TAKEN.format(
        detail=f"FIELD_CUSTOM_VALIDATION_EXCEPTION: {rule}"
    )

    sandbox.salesforce.clear_validation_rules()  # the admin relaxes the rule; staff tick again
    sandbox.request_payment(project, amount=Decimal("300"), type="custom", description="Extra steps")
    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert payment["status"] == "link_sent"
    assert sandbox.project(project)["request_error"] is None  # the stale reason is gone


# --- item 4: a deleted Payment ---------------------------------------------------------------------
def _delete(sandbox: Sandbox, payment_id: str) -> None:
    sandbox.salesforce.delete_record(sandbox.mapping.payment.object, payment_id)  # to the recycle bin


def test_a_deleted_payments_emailed_link_is_turned_off(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    _delete(sandbox, payment["id"])

    assert worker.once().code == 0

    [link] = sandbox.payment_links()
    assert link["active"] is False
    with pytest.raises(Exception, match="inactive"):
        sandbox.pay(payment["link_url"])
    assert sandbox.staff_posts() == []  # nothing was paid: nothing to say


def test_money_paid_on_a_deleted_payments_link_is_said_to_staff_on_the_project(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    payment = link_sent(sandbox, worker)
    sandbox.pay(payment["link_url"], email="pat@example.com")
    _delete(sandbox, payment["id"])  # before the worker saw the payment

    run = worker.once()
    assert run.code == 0
    assert worker.once().code == 0  # and again: said once

    [post] = sandbox.staff_posts()
    assert post["parent_id"] == payment["project"] and "$5,000.00" in post["body"] and "deleted" in post["body"]
    assert "payment.paid_after_delete" in run.events
    assert all(link["active"] is False for link in sandbox.payment_links())

    # Later events about that charge (a refund made in the Dashboard) name the deleted Payment
    # again: staff were told already, and are not told again.
    [charge] = sandbox.stripe_objects("charge")
    sandbox.dashboard_refund(charge["id"], amount=1000)
    assert worker.once().code == 0
    assert len(sandbox.staff_posts()) == 1


def test_an_amount_edited_with_amount_paid_typed_too_goes_back_to_what_stripe_charged(sandbox: Sandbox, worker: Worker):
    # Amount Paid is a claim as well: the Amount went back to a typed Amount Paid (found by chaos).
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    sandbox.update_payment(payment["id"], amount="4500.00", amount_paid="9000.00")

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert after["amount"] == Decimal("5000.00")
    assert after["sync_error"] == messages.AMOUNT_EDIT_REFUSED_PAID.format(charged="$5,000.00")


def test_an_amount_edited_on_a_paid_payment_is_put_back_with_the_reason(sandbox: Sandbox, worker: Worker):
    # Item 2: the edit was kept silently.
    sandbox.add_setup()
    payment = paid(sandbox, worker)
    sandbox.update_payment(payment["id"], amount="4500.00")

    assert worker.once().code == 0

    after = sandbox.payment(payment["id"])
    assert (after["status"], after["amount"]) == ("paid", Decimal("5000.00"))
    assert after["sync_error"] == messages.AMOUNT_EDIT_REFUSED_PAID.format(charged="$5,000.00")
    assert "changed to $4,500.00 after the payment" in after["sync_log"]
    assert len(sandbox.staff_posts()) == 1  # the payment's own post only

"""Request Payment in the CRM becomes one Stripe link on the Payment, emailed once (worker as a process)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync.domain import messages
from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker


def link_posts(sandbox: Sandbox) -> list[dict]:
    return [r for r in sandbox.stripe_requests() if r["method"] == "POST" and r["path"].startswith("/v1/payment_links")]


def test_flagged_project_becomes_one_payment_with_one_link_emailed_once(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000.00"))
    sandbox.request_payment(project, type="deposit", description="Deposit on signing")

    run = worker.once()

    assert run.code == 0, run.stderr
    [payment] = sandbox.payments()
    assert payment["status"] == "link_sent"
    assert payment["amount"] == Decimal("20000.00")  # 50% of the contract
    assert payment["type"] == "deposit" and payment["currency"] == "usd"
    assert payment["customer_email"] == "pat@example.com"
    assert sandbox.project(project)["request_payment"] is False

    [link] = sandbox.payment_links()
    assert payment["payment_link_id"] == link["id"] and payment["link_url"] == link["url"]
    assert link["active"] is True
    assert link["restrictions"]["completed_sessions"]["limit"] == 1
    assert link["metadata"]["crm_payment_id"] == payment["id"]
    assert link["payment_intent_data"]["metadata"]["crm_project_id"] == project
    [price] = sandbox.stripe.objects("price")
    assert price["unit_amount"] == 2_000_000 and price["currency"] == "usd"
    [post] = link_posts(sandbox)
    assert post["idempotency_key"] == f"crm-stripe-sync:payment-link:{payment['id']}:r0"

    [mail] = sandbox.outbox()
    assert mail["to"] == ["pat@example.com"]
    assert link["url"] in mail["body"] and mail["related_record_id"] == payment["id"]
    assert {"intake.payment_created", "payment_link.created", "payment_link.emailed"} <= set(run.events)

    again = worker.once()  # nothing left to do: nothing repeated
    assert again.code == 0
    assert len(sandbox.payments()) == 1 and len(sandbox.payment_links()) == 1 and len(sandbox.outbox()) == 1


def test_payment_created_directly_in_requested_is_taken(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Deck", customer_email="jo@example.com", contract_amount=Decimal("9800"))
    payment_id = sandbox.create_payment(project, type="progress", amount="1234.56", description="Framing")

    assert worker.once().code == 0

    payment = sandbox.payment(payment_id)
    assert payment["status"] == "link_sent"
    assert sandbox.payment_links()[0]["id"] == payment["payment_link_id"]
    assert sandbox.stripe.objects("price")[0]["unit_amount"] == 123456


def test_final_without_amount_requests_the_unrequested_balance(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Bath", customer_email="sam@example.com", contract_amount=Decimal("12000.00"))
    sandbox.create_payment(project, type="deposit", amount="6000.00", status="paid")
    sandbox.create_payment(project, type="progress", amount="1000.00", status="canceled")
    sandbox.request_payment(project, type="final")

    assert worker.once().code == 0

    final = next(p for p in sandbox.payments() if p["type"] == "final")
    assert final["amount"] == Decimal("6000.00") and final["status"] == "link_sent"


INVALID = [
    # (what staff did, the sentence on the record)
    ({"type": "progress", "amount": None}, messages.AMOUNT_MISSING),
    ({"type": "custom", "amount": "0"}, "must be more than zero"),
    ({"type": "custom", "amount": "-250.00"}, "must be more than zero (it is -250)"),
    ({"type": "custom", "amount": "100.005"}, "more than 2 decimal places"),
    ({"type": "custom", "amount": "0.49"}, "under Stripe's minimum of $0.50"),
    ({"type": "custom", "amount": "1000000.00"}, "over the $999,999.99 a single payment link allows"),
    ({"type": "custom", "amount": "100", "description": "x" * 300}, "300 characters long"),
]


@pytest.mark.parametrize(("request_fields", "expected"), INVALID)
def test_invalid_request_ends_in_error_with_its_own_message_and_no_stripe_request(
    sandbox: Sandbox, worker: Worker, request_fields, expected
):
    sandbox.add_setup()
    project = sandbox.add_project("Job", customer_email="pat@example.com", contract_amount=Decimal("5000"))
    sandbox.request_payment(project, **request_fields)

    run = worker.once()

    assert run.code == 0, run.stderr  # Error is a settled state: staff must act
    [payment] = sandbox.payments()
    assert payment["status"] == "error"
    assert expected in payment["sync_error"]
    assert link_posts(sandbox) == []
    assert sandbox.outbox() == []
    assert sandbox.project(project)["request_payment"] is False


def test_missing_email_unsupported_currency_and_missing_project_each_explained(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    no_email = sandbox.add_project("Roof", customer_email=None, contract_amount=Decimal("18500"))
    pesos = sandbox.add_project(
        "Casa", customer_email="ana@example.com", contract_amount=Decimal("5000"), currency="XYZ"
    )
    sandbox.request_payment(no_email, type="progress", amount="5000.00")
    sandbox.request_payment(pesos, type="progress", amount="500.00")
    orphan = sandbox.create_payment(None, type="custom", amount="100.00", customer_email="pat@example.com")

    assert worker.once().code == 0

    by_project = {p["project"]: p for p in sandbox.payments()}
    assert by_project[no_email]["sync_error"] == messages.EMAIL_MISSING
    assert "'XYZ' is not supported" in by_project[pesos]["sync_error"]
    assert sandbox.payment(orphan)["sync_error"] == messages.PROJECT_NOT_FOUND
    assert all(p["status"] == "error" for p in sandbox.payments())
    assert link_posts(sandbox) == []


def test_fixing_an_errored_payment_and_requesting_again_sends_the_link(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Roof", customer_email=None, contract_amount=Decimal("18500"))
    sandbox.request_payment(project, type="progress", amount="5000.00")
    worker.once()
    [payment] = sandbox.payments()
    assert payment["status"] == "error"

    sandbox.update_payment(payment["id"], customer_email="lee@example.com", status="requested")
    assert worker.once().code == 0

    fixed = sandbox.payment(payment["id"])
    assert fixed["status"] == "link_sent" and fixed["sync_error"] is None
    assert sandbox.outbox()[0]["to"] == ["lee@example.com"]
    assert len(sandbox.payments()) == 1


def test_requesting_again_on_the_project_makes_a_second_payment(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="progress", amount="0")
    worker.once()
    sandbox.clock.advance(__import__("datetime").timedelta(seconds=2))
    sandbox.request_payment(project, type="progress", amount="2500.00")
    worker.once()
    statuses = sorted(p["status"] for p in sandbox.payments())
    assert statuses == ["error", "link_sent"]


def test_payment_created_with_too_precise_an_amount_is_refused_not_rounded(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Deck", customer_email="jo@example.com", contract_amount=Decimal("9800"))
    payment_id = sandbox.create_payment(project, type="custom", amount="10.005")

    assert worker.once().code == 0

    payment = sandbox.payment(payment_id)
    assert payment["status"] == "error" and "10.005 has more than 2 decimal places" in payment["sync_error"]
    assert link_posts(sandbox) == []


def test_a_payment_whose_project_was_deleted_says_so(sandbox: Sandbox, worker: Worker):
    sandbox.add_setup()
    project = sandbox.add_project("Shed", customer_email="al@example.com", contract_amount=Decimal("3000"))
    payment_id = sandbox.create_payment(project, type="custom", amount="300.00", customer_email="al@example.com")
    sandbox.salesforce.delete_record(sandbox.mapping.project.object, project)

    assert worker.once().code == 0

    payment = sandbox.payment(payment_id)
    assert payment["status"] == "error" and payment["sync_error"] == messages.PROJECT_NOT_FOUND
    assert link_posts(sandbox) == []

"""A CRM record only claims; Stripe is the truth (DESIGN invariant 7), worker as a process.

Each scenario is an attack by someone who may edit a Payment or Refund record: staff PATCH a
worker-owned field over the org's REST API, then the worker runs once. The fixed worker checks the
Stripe object names this record before it moves money, retires a link, writes an outcome or emails
a URL; a mismatch does nothing in Stripe and is shown to staff.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests

from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker
from tests.e2e.test_outcomes import link_sent

pytestmark = pytest.mark.e2e

OWNED = "belongs to another payment"
RESTORED = "did not match stripe"
EVIL_URL = "https://evil.example/pay"


def staff_patch(sandbox: Sandbox, payment_id: str, **logical: Any) -> None:
    """Edit a Payment as staff would: a REST PATCH on the record through the org emulator."""
    fields = sandbox.mapping.payment.fields
    body = {getattr(fields, k): (str(v) if isinstance(v, Decimal) else v) for k, v in logical.items()}
    session = requests.Session()
    session.trust_env = False
    session.verify = str(sandbox.tls.ca_bundle)
    c = sandbox.credentials
    token = session.post(
        f"{sandbox.salesforce_url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(c.client_id, c.client_secret),
        timeout=10,
    ).json()
    response = session.patch(
        f"{token['instance_url']}/services/data/v64.0/sobjects/{sandbox.mapping.payment.object}/{payment_id}",
        json=body,
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=10,
    )
    assert response.status_code == 204, response.text


def paid(sandbox: Sandbox, worker: Worker, *, name: str, amount: str) -> dict:
    payment = link_sent(sandbox, worker, amount=amount, name=name)
    sandbox.pay(payment["link_url"], email="pat@example.com")
    assert worker.once().code == 0
    after = sandbox.payment(payment["id"])
    assert after["status"] == "paid"
    return after


def charge(sandbox: Sandbox, charge_id: str) -> dict:
    return next(c for c in sandbox.stripe_objects("charge") if c["id"] == charge_id)


def refunds_on(sandbox: Sandbox, charge_id: str) -> list[dict]:
    return [r for r in sandbox.stripe_objects("refund") if r["charge"] == charge_id]


def refund_record(sandbox: Sandbox, refund_id: str) -> dict:
    return next(r for r in sandbox.refunds() if r["id"] == refund_id)


def posts_on(sandbox: Sandbox, project_id: str) -> list[str]:
    return [p["body"].lower() for p in sandbox.staff_posts() if p["parent_id"] == project_id]


def told(payment: dict, phrase: str) -> bool:
    return phrase in f"{payment['sync_error'] or ''} {payment['sync_log'] or ''}".lower()


@pytest.fixture
def two_paid(sandbox: Sandbox, worker: Worker) -> tuple[dict, dict]:
    sandbox.add_setup()
    return paid(sandbox, worker, name="Alpha", amount="10.00"), paid(sandbox, worker, name="Bravo", amount="5000.00")


def assert_b_untouched_and_a_refused(sandbox: Sandbox, a: dict, b: dict, refund: str, field: str) -> None:
    assert charge(sandbox, b["charge_id"])["amount_refunded"] == 0, "B's charge was refunded through A's record"
    assert refunds_on(sandbox, b["charge_id"]) == []
    record = refund_record(sandbox, refund)
    assert record["status"] != "succeeded"
    after = sandbox.payment(a["id"])
    assert after["charge_id"] == a["charge_id"], "A's record now claims B's charge"
    # A's own link (found through A's Checkout Session, which names A) is put back, and said.
    assert after[field] == a[field]
    if field == "payment_link_id":
        assert after["link_url"] == a["link_url"] and told(after, RESTORED)
        posts = posts_on(sandbox, a["project"])
        assert any(b[field].lower() in body and "another payment" in body for body in posts), posts
    owned = OWNED in (record["failure_reason"] or "").lower()
    assert owned or told(after, RESTORED), f"not shown to staff: {record['failure_reason']!r}, {after['sync_log']!r}"


@pytest.mark.parametrize("field", ["charge_id", "payment_intent_id", "payment_link_id"])
def test_refund_on_a_payment_pointed_at_another_customers_charge_moves_no_money(
    sandbox: Sandbox, worker: Worker, two_paid, field
):
    """Attack 1/1b/1c: A's Charge Id (or Payment Intent Id, or Payment Link Id) := B's, Amount Paid := 5000,
    and a 5,000.00 refund on A: the refund must not land on B's charge, and the edit is shown to staff."""
    a, b = two_paid
    staff_patch(sandbox, a["id"], **{field: b[field]}, amount_paid=Decimal("5000"))
    refund = sandbox.request_refund(a["id"], amount="5000.00")

    assert worker.once().code == 0

    assert_b_untouched_and_a_refused(sandbox, a, b, refund, field)


def test_cancel_on_a_payment_pointed_at_another_link_leaves_that_link_live(sandbox: Sandbox, worker: Worker):
    """Attack 2: A's Payment Link Id := B's and Cancel ticked: B's link must stay payable."""
    sandbox.add_setup()
    a = link_sent(sandbox, worker, name="Alpha")
    b = link_sent(sandbox, worker, name="Bravo")
    staff_patch(sandbox, a["id"], payment_link_id=b["payment_link_id"], cancel_requested=True)

    assert worker.once().code == 0

    links = {link["id"]: link for link in sandbox.payment_links()}
    assert links[b["payment_link_id"]]["active"] is True, "B's link was deactivated through A's record"
    assert sandbox.payment(b["id"])["status"] == "link_sent"
    assert OWNED in (sandbox.payment(a["id"])["sync_error"] or "").lower()
    assert any(OWNED in body for body in posts_on(sandbox, a["project"]))


def test_another_customers_payment_is_not_claimed_by_pointing_at_their_link(sandbox: Sandbox, worker: Worker):
    """Attack 3: A's Payment Link Id := B's; B's customer pays B's link: A must not become Paid."""
    sandbox.add_setup()
    a = link_sent(sandbox, worker, name="Alpha")
    b = link_sent(sandbox, worker, name="Bravo")
    staff_patch(sandbox, a["id"], payment_link_id=b["payment_link_id"])
    paid_b = sandbox.pay(b["link_url"], email="pat@example.com")

    assert worker.once().code == 0

    after = sandbox.payment(a["id"])
    assert after["status"] != "paid", "A was marked Paid with B's money"
    assert after["charge_id"] != paid_b["charge"]["id"]
    assert not any("received" in body for body in posts_on(sandbox, a["project"]))
    assert sandbox.payment(b["id"])["status"] == "paid"


@pytest.mark.parametrize("how", ["resend", "reminder"])
def test_an_edited_link_url_is_never_emailed(sandbox: Sandbox, worker: Worker, how):
    """Attack 4/4b: A's link URL := an attacker's page, then Resend (or a due reminder): the email
    carries A's real Stripe URL and the record's URL is put back."""
    sandbox.add_setup()
    schedule = {"REMINDER_FIRST_AFTER_HOURS": "48", "REMINDER_EVERY_DAYS": "3", "REMINDER_MAX_COUNT": "2"}
    a = link_sent(sandbox, worker, name="Alpha")
    [real] = [link["url"] for link in sandbox.payment_links() if link["id"] == a["payment_link_id"]]
    staff_patch(sandbox, a["id"], link_url=EVIL_URL, **({"resend": True} if how == "resend" else {}))
    if how == "reminder":
        sandbox.clock.advance(timedelta(hours=49))

    assert worker.once(**schedule).code == 0

    emails = [e for e in sandbox.outbox() if e["related_record_id"] == a["id"]]
    assert len(emails) == 2, f"no {how} was sent"
    assert EVIL_URL not in emails[1]["body"], f"the {how} email carried the typed URL"
    assert real in emails[1]["body"]
    after = sandbox.payment(a["id"])
    assert after["link_url"] == real and told(after, RESTORED)


def test_refund_after_the_currency_was_edited_is_refused(sandbox: Sandbox, worker: Worker):
    """Attack 5: a JPY 5000 Payment, paid; Currency := USD and a refund of 50: no USD 50 off a JPY charge."""
    sandbox.add_setup()
    project = sandbox.add_project("Yuzu", customer_email="pat@example.com", currency="JPY")
    sandbox.request_payment(project, type="deposit", amount="5000", description="Yuzu deposit")
    assert worker.once().code == 0
    [a] = [p for p in sandbox.payments() if p["project"] == project]
    sandbox.pay(a["link_url"], email="pat@example.com")
    assert worker.once().code == 0
    a = sandbox.payment(a["id"])
    assert a["status"] == "paid"
    staff_patch(sandbox, a["id"], currency="USD")
    refund = sandbox.request_refund(a["id"], amount="50")

    assert worker.once().code == 0

    assert charge(sandbox, a["charge_id"])["amount_refunded"] == 0, "a USD-priced refund hit the JPY charge"
    assert refunds_on(sandbox, a["charge_id"]) == []
    record = refund_record(sandbox, refund)
    assert record["status"] != "succeeded" and "currency" in (record["failure_reason"] or "").lower()

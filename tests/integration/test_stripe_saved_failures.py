"""A 500 Stripe saved under an idempotency key (replayed for 24 hours) never leaves a Payment without
its link for a day, and never makes a second live link (issue 24, item 1)."""

from __future__ import annotations

import pytest

from sync.adapters.stripe.payments import StripePayments
from sync.domain.actions import LinkSpec
from sync.domain.errors import RetryableError
from sync.domain.refunds import RefundSpec
from sync.runtime.retry import call_with_retries
from sync.sandbox.environment import Sandbox
from tests.integration.conftest import stripe_for

SPEC = LinkSpec(
    idempotency_key="crm-stripe-sync:payment-link:a02PAY7:r0",
    amount_minor=120_000,
    currency="usd",
    product_name="Cabinets",
    payment_description="Kitchen: Cabinets",
    metadata={"crm_payment_id": "a02PAY7", "crm_project_id": "a01x", "crm_link_revision": "0"},
)


@pytest.fixture
def stripe(sandbox: Sandbox) -> StripePayments:
    return stripe_for(sandbox)


def _live_links(sandbox: Sandbox) -> list[dict]:
    return [link for link in sandbox.payment_links() if link["active"]]


def _link_posts(sandbox: Sandbox) -> list[dict]:
    return [r for r in sandbox.stripe_requests() if r["method"] == "POST" and r["path"] == "/v1/payment_links"]


def test_a_saved_failure_before_the_link_was_made_goes_on_under_the_next_key(sandbox: Sandbox, stripe: StripePayments):
    sandbox.stripe.add_saved_failure("^/v1/payment_links$")

    link = stripe.create_payment_link(SPEC)

    [live] = _live_links(sandbox)
    assert live["id"] == link.id
    assert [r["idempotency_key"] for r in _link_posts(sandbox)] == [SPEC.idempotency_key, f"{SPEC.idempotency_key}:2"]
    again = stripe.create_payment_link(SPEC)  # a retry replays the failure, finds the link, makes none
    assert again.id == link.id and len(_live_links(sandbox)) == 1


def test_a_saved_failure_after_the_link_was_made_takes_that_link(sandbox: Sandbox, stripe: StripePayments):
    sandbox.stripe.add_saved_failure("^/v1/payment_links$", after_work=True)

    link = stripe.create_payment_link(SPEC)

    [live] = _live_links(sandbox)
    assert live["id"] == link.id and len(_link_posts(sandbox)) == 1  # no second key was needed


def test_a_replayed_failure_is_not_retried_blind_under_the_same_key(sandbox: Sandbox, stripe: StripePayments):
    sandbox.stripe.add_saved_failure("^/v1/payment_links$", times=3)  # every key of the sequence

    with pytest.raises(RetryableError) as caught:
        call_with_retries(lambda: stripe.create_payment_link(SPEC), sleep=lambda _: None)

    assert "saved a failure" in str(caught.value) and _live_links(sandbox) == []
    assert len(_link_posts(sandbox)) == 3  # each key once: a replay is not retried within the cycle


@pytest.mark.parametrize("after_work", [False, True])
def test_a_saved_failure_on_a_refund_never_makes_a_second_refund(
    sandbox: Sandbox, stripe: StripePayments, after_work: bool
):
    link = stripe.create_payment_link(SPEC)
    charge = sandbox.pay(link.id)["charge"]["id"]
    spec = RefundSpec(
        idempotency_key="crm-stripe-sync:refund:a04REF1",
        charge_id=charge,
        payment_intent_id=None,
        amount_minor=20_000,
        reason="requested_by_customer",
        metadata={"crm_refund_id": "a04REF1", "crm_payment_id": "a02PAY7"},
    )
    sandbox.stripe.add_saved_failure("^/v1/refunds$", after_work=after_work)

    made = stripe.create_refund(spec)
    again = stripe.create_refund(spec)  # a retry, or the next process after a crash

    refunds = sandbox.stripe_refunds()
    assert [r["id"] for r in refunds] == [made.id] and again.id == made.id
    assert refunds[0]["amount"] == 20_000

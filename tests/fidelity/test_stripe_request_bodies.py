"""Every body the worker sends to Stripe matches the TypedDicts of the installed stripe package."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stripe.params import (
    DisputeListParams,
    EventListParams,
    PaymentLinkCreateParams,
    PaymentLinkListParams,
    PaymentLinkUpdateParams,
    RefundCreateParams,
    RefundListParams,
)
from stripe.params.checkout import SessionListParams

from sync.adapters.stripe.payment_state import EVENT_TYPES
from sync.adapters.stripe.payments import (
    INACTIVE_MESSAGE,
    by_charge_params,
    events_params,
    link_params,
    open_sessions_params,
    refund_params,
    sessions_params,
)
from sync.domain.models import PaymentStatus, RefundRecord, RefundStatus, StripePaymentState
from sync.domain.refunds import plan_refunds
from sync.domain.requests import Policy, plan_payment
from tests.fidelity.typeddict_check import problems
from tests.unit.factories import payment


def test_the_checker_catches_what_stripe_would_refuse():
    good = link_params(plan_payment(payment(), policy=Policy(stripe_ready=True)).spec)
    assert problems(good, PaymentLinkCreateParams) == []
    bad_amount = {**good, "line_items": [{**good["line_items"][0], "quantity": "1"}]}
    assert any("quantity" in p for p in problems(bad_amount, PaymentLinkCreateParams))
    assert any("restrictionz" in p for p in problems({**good, "restrictionz": {}}, PaymentLinkCreateParams))
    no_items = {k: v for k, v in good.items() if k != "line_items"}
    assert any("line_items" in p for p in problems(no_items, PaymentLinkCreateParams))


@given(
    cents=st.integers(min_value=50, max_value=99_999_999),
    description=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=255),
    suffix=st.one_of(st.none(), st.text(min_size=1, max_size=22)),
    message=st.one_of(st.none(), st.text(min_size=1, max_size=600)),
)
def test_payment_link_bodies_match_stripe_types(cents, description, suffix, message):
    policy = Policy(stripe_ready=True, statement_descriptor_suffix=suffix, after_payment_message=message)
    action = plan_payment(payment(amount=Decimal(cents).scaleb(-2), description=description or None), policy=policy)
    body = link_params(action.spec)
    assert problems(body, PaymentLinkCreateParams) == []
    assert body["restrictions"] == {"completed_sessions": {"limit": 1}}
    assert body["metadata"] == body["payment_intent_data"]["metadata"]


@pytest.mark.parametrize(
    ("body", "params"),
    [
        ({"active": False, "inactive_message": INACTIVE_MESSAGE}, PaymentLinkUpdateParams),
        ({"limit": 1}, PaymentLinkListParams),
        ({"active": True, "limit": 100}, PaymentLinkListParams),
        (events_params(ending_before="evt_1"), EventListParams),
        (events_params(created_gte=1_700_000_000), EventListParams),
        (sessions_params("plink_1"), SessionListParams),
        (open_sessions_params("plink_1"), SessionListParams),
        (by_charge_params("ch_1"), RefundListParams),
        (by_charge_params("ch_1"), DisputeListParams),
    ],
)
def test_other_bodies_match_stripe_types(body, params):
    assert problems(body, params) == []


@given(
    amount=st.one_of(st.none(), st.decimals(min_value="0.01", max_value="1000", places=2)),
    reason=st.one_of(st.none(), st.sampled_from(["duplicate", "fraudulent"]), st.text(max_size=2000)),
    by_intent=st.booleans(),
)
def test_refund_bodies_match_stripe_types(amount, reason, by_intent):
    asked = RefundRecord(
        id="a04000000000000001",
        amount=amount,
        reason=reason,
        status=RefundStatus.REQUESTED,
        source=None,
        stripe_refund_id=None,
        failure_reason=None,
    )
    paid = payment(
        status=PaymentStatus.PAID,
        amount_paid=Decimal(1000),
        charge_id=None if by_intent else "ch_1",
        payment_intent_id="pi_1",
        refunds=(asked,),
    )
    charge = StripePaymentState(
        payment_link_id="plink_1",
        currency="usd",
        payment_intent_id="pi_1",
        charge_id=None if by_intent else "ch_1",
        paid=True,
        amount_paid_minor=100000,
        refunds=(),
    )
    [action] = plan_refunds(paid, charge, default_currency="usd")
    body = refund_params(action.spec)
    assert problems(body, RefundCreateParams) == []
    assert all(len(v) <= 500 for v in body["metadata"].values())  # Stripe's limit on a metadata value
    assert problems(by_charge_params(body.get("charge") or "ch_1"), RefundListParams) == []


def test_event_types_are_at_most_twenty_and_all_known_to_stripe():
    import typing

    import stripe

    known = set(typing.get_args(stripe.Event.__annotations__["type"]))
    assert len(EVENT_TYPES) <= 20  # `types[]` takes up to 20
    assert set(EVENT_TYPES) <= known, set(EVENT_TYPES) - known

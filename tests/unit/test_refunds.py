"""Refunds staff ask for: checked against what the Payment has left, before anything reaches Stripe."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.core import messages
from sync.core.refunds import IssueRefund, RefuseRefund, plan_refunds, refund_idempotency_key
from sync.models import PaymentStatus, RefundRecord, RefundSource, RefundStatus
from tests.unit.factories import payment


def refund(n: int, amount: str | None, *, status=RefundStatus.REQUESTED, stripe_id=None, reason=None) -> RefundRecord:
    return RefundRecord(
        id=f"a04{n:015d}",
        amount=Decimal(amount) if amount is not None else None,
        reason=reason,
        status=status,
        source=RefundSource.CRM if stripe_id is None else RefundSource.STRIPE_DASHBOARD,
        stripe_refund_id=stripe_id,
        failure_reason=None,
    )


def paid(*refunds: RefundRecord, **overrides):
    values = dict(
        status=PaymentStatus.PAID,
        amount_paid=Decimal("1000.00"),
        amount_refunded=Decimal("0"),
        charge_id="ch_1",
        payment_intent_id="pi_1",
        refunds=refunds,
    )
    values.update(overrides)
    return payment(**values)


def plan(p):
    return plan_refunds(p, default_currency="usd")


def test_partial_refund_is_issued_in_minor_units_with_the_crm_ids():
    [action] = plan(paid(refund(1, "250.55", reason="Tile not installed")))
    assert isinstance(action, IssueRefund)
    spec = action.spec
    assert spec.amount_minor == 25055 and spec.charge_id == "ch_1" and spec.payment_intent_id is None
    assert spec.reason == "requested_by_customer"
    assert spec.metadata == {
        "crm_refund_id": "a04000000000000001",
        "crm_payment_id": "a02000000000001AAA",
        "crm_reason": "Tile not installed",
    }
    assert spec.idempotency_key == refund_idempotency_key("a04000000000000001", 25055, "Tile not installed")


@pytest.mark.parametrize(
    ("typed", "sent"),
    [("duplicate", "duplicate"), ("Fraudulent", "fraudulent"), ("requested by customer", "requested_by_customer")],
)
def test_stripe_reasons_are_passed_as_stripe_names_them(typed, sent):
    [action] = plan(paid(refund(1, "10", reason=typed)))
    assert action.spec.reason == sent and "crm_reason" not in action.spec.metadata


def test_blank_amount_refunds_what_stripe_has_left():
    [action] = plan(paid(refund(1, None)))
    assert isinstance(action, IssueRefund) and action.spec.amount_minor is None


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", messages.REFUND_NOT_POSITIVE.format(amount="0")),
        ("-1", messages.REFUND_NOT_POSITIVE.format(amount="-1")),
        ("1.005", messages.REFUND_TOO_PRECISE.format(amount="1.005", places=2, currency="USD")),
        (
            "1000.01",
            messages.REFUND_TOO_LARGE.format(amount="$1,000.01", left="$1,000.00", paid="$1,000.00", committed="$0.00"),
        ),
    ],
)
def test_invalid_amount_is_refused_with_a_sentence(amount, expected):
    assert plan(paid(refund(1, amount))) == [RefuseRefund("a04000000000000001", "a02000000000001AAA", expected)]


def test_zero_decimal_currency_refuses_cents_and_sends_whole_units():
    p = paid(refund(1, "5000.5"), refund(2, "5000"), currency="jpy", amount_paid=Decimal("20000"))
    refused, issued = plan(p)
    assert isinstance(refused, RefuseRefund) and "0 decimal places for JPY" in refused.message
    assert issued.spec.amount_minor == 5000


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (PaymentStatus.LINK_SENT, messages.REFUND_NOT_PAID),
        (PaymentStatus.REQUESTED, messages.REFUND_NOT_PAID),
        (PaymentStatus.CANCELED, messages.REFUND_NOT_PAID),
        (PaymentStatus.REFUNDED, messages.REFUND_ALREADY_REFUNDED),
        (PaymentStatus.DISPUTED, messages.REFUND_DISPUTED),
    ],
)
def test_refund_of_a_payment_that_cannot_be_refunded_is_refused(status, message):
    [action] = plan(paid(refund(1, "10"), status=status))
    assert action == RefuseRefund("a04000000000000001", "a02000000000001AAA", message)


def test_every_other_refund_counts_pending_ones_and_the_dashboards_included():
    p = paid(
        refund(1, "300", status=RefundStatus.SUCCEEDED, stripe_id="re_1"),
        refund(2, "200", status=RefundStatus.PENDING, stripe_id="re_2"),
        refund(3, "100", status=RefundStatus.FAILED, stripe_id="re_3"),  # gave nothing back
        refund(4, "400"),
        refund(5, "100.01"),
        refund(6, None),
    )
    fourth, fifth, sixth = plan(p)
    assert isinstance(fourth, IssueRefund) and fourth.spec.amount_minor == 40000
    assert isinstance(fifth, RefuseRefund) and "what is left to refund: $100.00" in fifth.message
    assert isinstance(sixth, IssueRefund) and sixth.spec.amount_minor is None  # the last $100.00


def test_refunds_already_in_stripe_or_refused_are_not_planned_again():
    p = paid(refund(1, "10", status=RefundStatus.ERROR), refund(2, "10", status=RefundStatus.PENDING, stripe_id="re_2"))
    assert plan(p) == []


def test_the_charges_own_total_counts_when_records_lag_behind():
    [action] = plan(paid(refund(1, "600"), amount_refunded=Decimal("500")))
    assert isinstance(action, RefuseRefund) and "what is left to refund: $500.00" in action.message


@given(st.lists(st.one_of(st.none(), st.decimals(min_value="-50", max_value="700", places=3)), min_size=1, max_size=8))
def test_issued_refunds_never_exceed_what_was_paid(amounts):
    p = paid(*(refund(n, None if a is None else str(a)) for n, a in enumerate(amounts)))
    actions = plan(p)
    assert len(actions) == len(amounts)
    issued = Decimal(0)
    for action, asked in zip(actions, amounts, strict=True):
        if isinstance(action, IssueRefund):
            issued += Decimal(action.spec.amount_minor) / 100 if asked is not None else Decimal("1000.00") - issued
    assert Decimal(0) <= issued <= Decimal("1000.00")

"""Refunds staff ask for: checked against what Stripe holds for the Payment's own link, before any
request reaches Stripe. The record's Stripe ids, amounts and currency are claims, never the source."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.domain import messages
from sync.domain.models import (
    PaymentStatus,
    RefundRecord,
    RefundSource,
    RefundStatus,
    StripeDispute,
    StripePaymentState,
)
from sync.domain.models import StripeRefund as Made
from sync.domain.refunds import IssueRefund, RefuseRefund, plan_refunds, refund_idempotency_key
from tests.unit.factories import payment

PAYMENT = "a02000000000001AAA"
REFUND = "a04000000000000001"


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
    """The CRM's Payment: what staff see, and may have edited."""
    values = dict(
        status=PaymentStatus.PAID,
        payment_link_id="plink_1",
        amount_paid=Decimal("1000.00"),
        amount_refunded=Decimal("0"),
        charge_id="ch_1",
        payment_intent_id="pi_1",
        refunds=refunds,
    )
    values.update(overrides)
    return payment(**values)


def stripe(**overrides) -> StripePaymentState:
    """What Stripe holds for the Payment's own link plink_1: a $1,000.00 charge ch_1."""
    values = dict(
        payment_link_id="plink_1",
        currency="usd",
        checkout_session_id="cs_1",
        payment_intent_id="pi_1",
        charge_id="ch_1",
        paid=True,
        amount_paid_minor=100000,
        refunds=(),
        owners=frozenset({PAYMENT}),
        attempt_ids=frozenset({"cs_1", "pi_1"}),
    )
    values.update(overrides)
    return StripePaymentState(**values)


def made(n: int, minor: int, status: str) -> Made:
    return Made(id=f"re_{n}", amount_minor=minor, status=status, reason=None, failure_reason=None, crm_refund_id=None)


def plan(p, state: StripePaymentState | None = None):
    return plan_refunds(p, stripe() if state is None else state, default_currency="usd")


def test_partial_refund_is_issued_in_minor_units_with_the_crm_ids():
    [action] = plan(paid(refund(1, "250.55", reason="Tile not installed")))
    assert isinstance(action, IssueRefund)
    spec = action.spec
    assert spec.amount_minor == 25055 and spec.charge_id == "ch_1" and spec.payment_intent_id is None
    assert spec.reason == "requested_by_customer"
    assert spec.metadata == {
        "crm_refund_id": REFUND,
        "crm_payment_id": PAYMENT,
        "crm_reason": "Tile not installed",
    }
    assert spec.idempotency_key == refund_idempotency_key(REFUND, 25055, "Tile not installed")


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
    assert plan(paid(refund(1, amount))) == [RefuseRefund(REFUND, PAYMENT, expected)]


def test_zero_decimal_currency_refuses_cents_and_sends_whole_units():
    p = paid(refund(1, "5000.5"), refund(2, "5000"), currency="jpy", amount_paid=Decimal("20000"))
    refused, issued = plan(p, stripe(currency="jpy", amount_paid_minor=20000))
    assert isinstance(refused, RefuseRefund) and "0 decimal places for JPY" in refused.message
    assert issued.spec.amount_minor == 5000


DISPUTE = StripeDispute(id="dp_1", amount_minor=100000, status="needs_response", reason="fraudulent", created=1)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (stripe(paid=False, charge_id=None, amount_paid_minor=None), messages.REFUND_NOT_PAID),
        (stripe(amount_refunded_minor=100000), messages.REFUND_ALREADY_REFUNDED),
        (stripe(disputes=(DISPUTE,)), messages.REFUND_DISPUTED),
        # Lost: the bank gave the money back already; "respond to the dispute" would send staff nowhere.
        (stripe(disputes=(DISPUTE.model_copy(update={"status": "lost"}),)), messages.REFUND_DISPUTE_LOST),
    ],
    ids=["unpaid in Stripe", "refunded in Stripe", "disputed in Stripe", "dispute lost"],
)
def test_what_stripe_holds_decides_whether_a_refund_can_be_issued(state, message):
    """The record still reads Paid: staff may have set it so; Stripe's charge decides."""
    [action] = plan(paid(refund(1, "10")), state)
    assert action == RefuseRefund(REFUND, PAYMENT, message)


def test_a_payment_marked_paid_by_hand_has_nothing_in_stripe_to_refund():
    p = paid(refund(1, "10"), payment_link_id=None, charge_id=None, payment_intent_id=None)
    assert plan_refunds(p, None, default_currency="usd") == [
        RefuseRefund(REFUND, PAYMENT, messages.REFUND_NO_STRIPE_CHARGE)
    ]


FOREIGN = messages.FOREIGN_OBJECT.format(what="payment link", object_id="plink_1")


@pytest.mark.parametrize(
    ("owners", "refused"),
    [
        (frozenset({PAYMENT}), False),
        (frozenset({"a02000000000002BBB"}), True),  # the link's sessions name another Payment
        (frozenset({PAYMENT, "a02000000000002BBB"}), True),  # its PaymentIntent does
        (frozenset({PAYMENT, ""}), True),  # a session naming no Payment: not a link the worker made for it
    ],
)
def test_a_link_whose_objects_name_another_payment_refunds_nothing(owners, refused):
    [action] = plan(paid(refund(1, "10")), stripe(owners=owners))
    assert (action == RefuseRefund(REFUND, PAYMENT, FOREIGN)) is refused
    assert isinstance(action, IssueRefund) is not refused


@pytest.mark.parametrize(
    "edit",
    [
        # Attack 1: another customer's charge and its amount typed on this Payment.
        {"charge_id": "ch_other", "amount_paid": Decimal("5000.00")},
        {"payment_intent_id": "pi_other", "charge_id": None, "amount_paid": Decimal("5000.00")},
        {"amount_refunded": Decimal("-4000.00")},
    ],
)
def test_the_charge_and_what_is_left_come_from_stripe_not_the_record(edit):
    [action] = plan(paid(refund(1, "5000.00"), **edit))
    assert isinstance(action, RefuseRefund) and "what is left to refund: $1,000.00" in action.message
    [action] = plan(paid(refund(1, "1000.00"), **edit))
    assert isinstance(action, IssueRefund) and action.spec.charge_id == "ch_1" and action.spec.payment_intent_id is None


@pytest.mark.parametrize(
    ("record", "project", "refused"),
    [("usd", "usd", True), (None, "usd", True), ("jpy", "usd", False), ("JPY", None, False), (None, "jpy", False)],
)
def test_a_record_whose_currency_differs_from_the_charges_is_refused_never_converted(record, project, refused):
    """Attack 5: a ¥5,000 charge whose Payment reads USD; "50" must never become 5,000 yen."""
    p = paid(refund(1, "50"), currency=record, project_currency=project, amount_paid=Decimal("5000"))
    [action] = plan(p, stripe(currency="jpy", amount_paid_minor=5000))
    if refused:
        assert action == RefuseRefund(
            REFUND, PAYMENT, messages.REFUND_CURRENCY_MISMATCH.format(record="USD", charge="JPY")
        )
    else:
        assert isinstance(action, IssueRefund) and action.spec.amount_minor == 50 and action.currency == "jpy"


@pytest.mark.parametrize(
    ("refunds", "refunded_minor", "left"),
    [
        ((made(1, 30000, "succeeded"), made(2, 20000, "pending")), 30000, "$500.00"),  # pending not in the total yet
        ((made(1, 30000, "succeeded"), made(3, 10000, "failed")), 30000, "$700.00"),  # a failed one gave nothing back
        ((made(1, 10000, "requires_action"),), 0, "$900.00"),
        ((), 50000, "$500.00"),  # the charge's own total when the refunds were not listed
    ],
)
def test_what_is_left_is_the_charge_less_its_refunds_succeeded_and_pending(refunds, refunded_minor, left):
    [action] = plan(paid(refund(1, "999")), stripe(refunds=refunds, amount_refunded_minor=refunded_minor))
    assert isinstance(action, RefuseRefund) and f"what is left to refund: {left}" in action.message


def test_several_requests_are_checked_in_order_against_what_the_ones_before_leave():
    p = paid(refund(4, "400"), refund(5, "300.01"), refund(6, None))
    fourth, fifth, sixth = plan(p, stripe(refunds=(made(1, 30000, "succeeded"),), amount_refunded_minor=30000))
    assert isinstance(fourth, IssueRefund) and fourth.spec.amount_minor == 40000
    assert isinstance(fifth, RefuseRefund) and "what is left to refund: $300.00" in fifth.message
    assert isinstance(sixth, IssueRefund) and sixth.spec.amount_minor is None  # the last $300.00


@pytest.mark.parametrize("minor", [100000, 40000], ids=["the-refund-emptied-the-charge", "part-of-it"])
def test_a_refund_stripe_made_for_a_record_not_yet_written_back_is_adopted_not_refused(minor):
    # The worker stopped between making the refund and writing it back: Stripe holds it, under the
    # record's id. Adopted even when it is what emptied the charge (found by the chaos suite: it was
    # refused as "already refunded in full" and the record never showed the refund).
    theirs = made(1, minor, "succeeded").model_copy(update={"crm_refund_id": refund(1, None).id})
    p = paid(refund(1, None), refund(2, "10"))
    first, second = plan(p, stripe(refunds=(theirs,), amount_refunded_minor=minor))
    assert isinstance(first, IssueRefund) and first.made == theirs and first.spec is None
    if minor == 100000:
        assert isinstance(second, RefuseRefund) and second.message == messages.REFUND_ALREADY_REFUNDED
    else:
        assert isinstance(second, IssueRefund) and second.spec is not None and second.spec.amount_minor == 1000


def test_a_refund_of_another_payments_link_is_never_adopted():
    theirs = made(1, 100000, "succeeded").model_copy(update={"crm_refund_id": refund(1, None).id})
    [action] = plan(paid(refund(1, None)), stripe(refunds=(theirs,), owners=frozenset({"a02OTHER"})))
    assert isinstance(action, RefuseRefund) and "belongs to another Payment" in action.message


def test_refunds_already_in_stripe_or_refused_are_not_planned_again():
    p = paid(refund(1, "10", status=RefundStatus.ERROR), refund(2, "10", status=RefundStatus.PENDING, stripe_id="re_2"))
    assert plan(p) == []


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

"""What a Payment should show for what Stripe holds: table-driven over the pure planner."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from sync.domain import messages
from sync.domain.models import (
    AttemptFailure,
    PaymentStatus,
    RefundRecord,
    RefundSource,
    RefundStatus,
    StripeDispute,
    StripePaymentState,
    StripeRefund,
)
from sync.domain.stripe_results import failure_guidance, plan_outcome
from tests.unit.factories import payment

PAID_AT = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def sent(**overrides):
    values = dict(status=PaymentStatus.LINK_SENT, payment_link_id="plink_1", link_url="https://pay/1")
    values.update(overrides)
    return payment(**values)


def paid_state(**overrides) -> StripePaymentState:
    values = dict(
        payment_link_id="plink_1",
        currency="usd",
        checkout_session_id="cs_1",
        payment_intent_id="pi_1",
        charge_id="ch_1",
        paid=True,
        amount_paid_minor=2_000_000,
        paid_at=PAID_AT,
        receipt_url="https://receipts/ch_1",
        payer="Pat Doe",
        amount_refunded_minor=0,
        refunds=(),
    )
    values.update(overrides)
    return StripePaymentState(**values)


def refund(id: str, amount: int, status: str = "succeeded", **kw) -> StripeRefund:
    return StripeRefund(
        id=id,
        amount_minor=amount,
        status=status,
        reason=kw.get("reason"),
        failure_reason=kw.get("failure_reason"),
        crm_refund_id=kw.get("crm_refund_id"),
    )


def test_paid_link_records_amount_time_ids_receipt_and_tells_staff():
    plan = plan_outcome(sent(), paid_state())
    assert plan is not None
    assert plan.change.written() == {
        "status": PaymentStatus.PAID,
        "checkout_session_id": "cs_1",
        "payment_intent_id": "pi_1",
        "charge_id": "ch_1",
        "amount_paid": Decimal("20000.00"),
        "paid_at": PAID_AT,
        "receipt_url": "https://receipts/ch_1",
        "amount_refunded": Decimal("0"),
    }
    [notice] = plan.notices
    assert notice.kind == "paid"
    assert notice.values == {
        "payment_type": "Deposit",
        "amount": "$20,000.00",
        "payer": "Pat Doe",
        "project": "Kitchen remodel",
    }


def test_the_payers_name_from_the_checkout_page_reaches_staff_as_plain_text():
    # Typed by the customer on Stripe's page: a right-to-left override would make the post read otherwise.
    plan = plan_outcome(sent(), paid_state(payer="Pat\u202e eoD\u200b\nJr"))
    assert plan is not None
    [notice] = plan.notices
    assert notice.values["payer"] == "Pat eoD Jr"


def test_a_record_that_already_shows_the_state_needs_no_write():
    plan = plan_outcome(sent(), paid_state())
    assert plan is not None
    applied = sent().model_copy(update=plan.change.written())
    assert plan_outcome(applied, paid_state()) is None


@pytest.mark.parametrize(
    ("decline_code", "code", "expected"),
    [
        ("generic_decline", "card_declined", messages.DECLINE_GUIDANCE["generic_decline"]),
        ("insufficient_funds", "card_declined", messages.DECLINE_GUIDANCE["insufficient_funds"]),
        (None, "expired_card", messages.DECLINE_GUIDANCE["expired_card"]),
        (None, "processing_error", messages.DECLINE_GUIDANCE["processing_error"]),
        ("pickup_card", "card_declined", messages.DECLINE_OTHER.format(code="pickup_card")),
    ],
)
def test_failed_attempt_shows_code_and_guidance_and_stays_payable(decline_code, code, expected):
    state = StripePaymentState(
        payment_link_id="plink_1",
        checkout_session_id="cs_1",
        payment_intent_id="pi_1",
        last_failure=AttemptFailure(code=code, decline_code=decline_code, message="Your card was declined."),
    )
    plan = plan_outcome(sent(), state)
    assert plan is not None
    assert plan.change.written()["status"] is PaymentStatus.PAYMENT_FAILED
    assert plan.change.written()["last_failure_code"] == (decline_code or code)
    assert plan.change.written()["last_failure"] == expected + messages.STILL_PAYABLE
    assert plan.notices == ()


def test_later_success_turns_a_failed_payment_into_paid():
    failed = sent(status=PaymentStatus.PAYMENT_FAILED, last_failure_code="insufficient_funds")
    plan = plan_outcome(failed, paid_state())
    assert plan is not None and plan.change.written()["status"] is PaymentStatus.PAID
    assert [n.kind for n in plan.notices] == ["paid"]


def test_a_failure_never_overrides_a_paid_record():
    state = StripePaymentState(
        payment_link_id="plink_1",
        last_failure=AttemptFailure(code="card_declined", decline_code="generic_decline", message=None),
    )
    assert plan_outcome(sent(status=PaymentStatus.PAID), state) is None


@pytest.mark.parametrize(
    ("refunded", "expected"),
    [(0, PaymentStatus.PAID), (500_000, PaymentStatus.PARTIALLY_REFUNDED), (2_000_000, PaymentStatus.REFUNDED)],
)
def test_status_follows_the_refunded_total(refunded, expected):
    plan = plan_outcome(sent(), paid_state(amount_refunded_minor=refunded))
    assert plan is not None
    assert plan.change.written()["status"] is expected
    assert plan.change.written()["amount_refunded"] == Decimal(refunded) / 100


def test_dashboard_refund_becomes_a_refund_record_once():
    state = paid_state(
        amount_refunded_minor=500_000, refunds=(refund("re_1", 500_000, reason="requested_by_customer"),)
    )
    plan = plan_outcome(sent(status=PaymentStatus.PAID), state)
    assert plan is not None
    [write] = plan.refunds
    assert write.record_id is None and write.stripe_refund_id == "re_1"
    assert write.change.written() == {
        "status": RefundStatus.SUCCEEDED,
        "stripe_refund_id": "re_1",
        "failure_reason": None,
        "payment": sent().id,
        "amount": Decimal("5000.00"),
        "reason": "requested_by_customer",
        "source": RefundSource.STRIPE_DASHBOARD,
    }
    recorded = RefundRecord(
        id="a05x",
        amount=Decimal("5000"),
        reason="requested_by_customer",
        status=RefundStatus.SUCCEEDED,
        source=RefundSource.STRIPE_DASHBOARD,
        stripe_refund_id="re_1",
        failure_reason=None,
    )
    after = sent(status=PaymentStatus.PARTIALLY_REFUNDED, refunds=(recorded,)).model_copy(update=plan.change.written())
    assert plan_outcome(after, state) is None


def test_a_refund_that_fails_later_is_shown_failed_and_the_total_corrected():
    recorded = RefundRecord(
        id="a05x",
        amount=Decimal("5000"),
        reason=None,
        status=RefundStatus.SUCCEEDED,
        source=RefundSource.STRIPE_DASHBOARD,
        stripe_refund_id="re_1",
        failure_reason=None,
    )
    current = sent(status=PaymentStatus.PARTIALLY_REFUNDED, amount_refunded=Decimal("5000"), refunds=(recorded,))
    state = paid_state(
        amount_refunded_minor=0, refunds=(refund("re_1", 500_000, "failed", failure_reason="expired_or_canceled_card"),)
    )
    plan = plan_outcome(current, state)
    assert plan is not None
    assert plan.change.written()["status"] is PaymentStatus.PAID
    assert plan.change.written()["amount_refunded"] == Decimal("0")
    [write] = plan.refunds
    assert write.change.written()["status"] is RefundStatus.FAILED
    assert "expired or was canceled" in write.change.written()["failure_reason"]


def crm_refund(record_id: str, amount: str | None, status: RefundStatus, reason: str | None = None) -> RefundRecord:
    """A Refund record staff added from the CRM, not yet linked to a Stripe refund."""
    return RefundRecord(
        id=record_id,
        amount=Decimal(amount) if amount is not None else None,
        reason=reason,
        status=status,
        source=RefundSource.CRM,
        stripe_refund_id=None,
        failure_reason=None,
    )


def test_a_crm_refund_is_updated_on_its_own_record():
    mine = crm_refund("a05mine", "100", RefundStatus.PENDING, reason="Goodwill")
    state = paid_state(amount_refunded_minor=10_000, refunds=(refund("re_9", 10_000, crm_refund_id="a05mine"),))
    plan = plan_outcome(sent(status=PaymentStatus.PAID, refunds=(mine,)), state)
    assert plan is not None
    [write] = plan.refunds
    assert write.record_id == "a05mine"
    assert write.change.written() == {
        "status": RefundStatus.SUCCEEDED,
        "stripe_refund_id": "re_9",
        "failure_reason": None,
        "amount": Decimal("100.00"),
    }


def test_a_crm_refund_asked_for_the_rest_shows_the_amount_stripe_refunded():
    # Staff left the amount blank ("refund what is left"); the record then shows what that came to.
    rest = crm_refund("a05rest", None, RefundStatus.REQUESTED)
    state = paid_state(amount_refunded_minor=20_000, refunds=(refund("re_7", 20_000, crm_refund_id="a05rest"),))
    plan = plan_outcome(sent(status=PaymentStatus.PAID, refunds=(rest,)), state)
    assert plan is not None
    [write] = plan.refunds
    assert (write.record_id, write.change.written()["amount"], write.change.written()["status"]) == (
        "a05rest",
        Decimal("200.00"),
        RefundStatus.SUCCEEDED,
    )


def test_dispute_sets_disputed_with_reason_and_amount_and_tells_staff_once():
    dispute = StripeDispute(id="dp_1", amount_minor=2_000_000, status="needs_response", reason="fraudulent", created=1)
    recorded = sent(status=PaymentStatus.PAID, paid_at=PAID_AT, charge_id="ch_1")  # as the worker recorded it
    plan = plan_outcome(recorded, paid_state(disputes=(dispute,)))
    assert plan is not None
    assert plan.change.written()["status"] is PaymentStatus.DISPUTED
    assert plan.change.written()["dispute_reason"] == "fraudulent"
    assert plan.change.written()["amount_disputed"] == Decimal("20000.00")
    assert [n.kind for n in plan.notices] == ["disputed"]
    after = recorded.model_copy(update=plan.change.written())
    assert plan_outcome(after, paid_state(disputes=(dispute,))) is None
    won = dispute.model_copy(update={"status": "won"})
    plan = plan_outcome(after, paid_state(disputes=(won,)))
    assert plan is not None and plan.change.written()["status"] is PaymentStatus.PAID and plan.notices == ()


def test_paid_after_cancel_is_said_plainly():
    plan = plan_outcome(sent(status=PaymentStatus.CANCELED), paid_state())
    assert plan is not None
    assert plan.change.written()["status"] is PaymentStatus.PAID
    assert plan.change.written()["sync_error"] == messages.PAID_AFTER_CANCEL


def test_zero_decimal_currency_amounts_are_whole():
    plan = plan_outcome(sent(currency="jpy"), paid_state(currency="jpy", amount_paid_minor=5000))
    assert plan is not None and plan.change.written()["amount_paid"] == Decimal("5000")


def test_every_guidance_sentence_says_the_link_still_works():
    for code in [*messages.DECLINE_GUIDANCE, "something_new"]:
        assert failure_guidance(code).endswith(messages.STILL_PAYABLE)


def test_a_card_payment_on_a_payment_marked_paid_by_hand_is_recorded_and_said_as_maybe_twice():
    hand = sent(status=PaymentStatus.PAID, amount_paid=Decimal("20000.00"))  # staff typed what they took
    plan = plan_outcome(hand, paid_state())
    assert plan is not None
    fields = plan.change.written()
    assert fields["paid_at"] == PAID_AT and fields["charge_id"] == "ch_1"
    assert fields["sync_error"] == messages.PAID_TWICE.format(amount="$20,000.00")
    [notice] = plan.notices
    assert notice.kind == "paid_twice" and notice.values["payer"] == "Pat Doe"
    # Recorded: said once, never again.
    assert plan_outcome(hand.model_copy(update=fields), paid_state()) is None


def test_a_payment_the_worker_recorded_as_paid_is_not_taken_for_one_paid_by_hand():
    recorded = plan_outcome(sent(), paid_state())
    assert recorded is not None
    after = sent().model_copy(update=recorded.change.written())
    assert plan_outcome(after, paid_state(amount_refunded_minor=100)).notices == ()


def test_a_payment_set_back_to_requested_is_left_to_the_request_path():
    # Read by an event or sweep between the staff edit and the request path: not announced again.
    assert plan_outcome(sent(status=PaymentStatus.REQUESTED, paid_at=PAID_AT, charge_id="ch_1"), paid_state()) is None


def test_an_outcome_written_once_the_org_lifted_its_rule_no_longer_says_the_org_refused_it():
    # Issue 23 (the busy chaos mode): the record showed Paid and still "The CRM refused the worker's
    # update of this Payment", as if the outcome were not on it.
    refused = messages.CRM_REFUSED_UPDATE.format(detail="FIELD_CUSTOM_VALIDATION_EXCEPTION: Paid needs a receipt.")
    plan = plan_outcome(sent(sync_error=refused), paid_state())
    assert plan is not None and plan.new_status is PaymentStatus.PAID
    assert "sync_error" in plan.change.written() and plan.change.sync_error is None
    other = sent(sync_error="Something staff must read.")  # not the worker's refusal note: left as it is
    assert "sync_error" not in plan_outcome(other, paid_state()).change.written()

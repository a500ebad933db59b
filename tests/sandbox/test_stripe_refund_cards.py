"""The refund test cards of docs.stripe.com/testing ("Refunds") in the Stripe emulator.

…7726 "Pending refund": the charge succeeds and refunds start `pending`, succeeding later (the
control API's `settle`). …5126 "Asynchronous refund failure": the charge succeeds and refunds start
`succeeded`, failing later with `expired_or_canceled_card` (the control API's `fail`).
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from sync.sandbox.stripe.cards import card_for
from tests.sandbox.payment_box import AMOUNT, Box

PENDING_REFUND_CARD = "4000000000007726"
REFUND_FAILS_LATER_CARD = "4000000000005126"


def _paid_with(box: Box, card: str) -> dict[str, Any]:
    paid = box.emulator.pay(box.link().url, card=card)
    assert paid["status"] == "succeeded" and paid["error"] is None
    return paid


def _events(box: Box, type: str) -> list[Any]:
    return box.client().v1.events.list(params={"type": type}).data


def test_refund_cards_are_in_the_card_table_with_their_behaviour() -> None:
    assert card_for("4000 0000 0000 7726").refund_behaviour.starts_pending is True
    assert card_for(REFUND_FAILS_LATER_CARD).refund_behaviour.fails_later_with == "expired_or_canceled_card"
    assert card_for("4242424242424242").refund_behaviour.starts_pending is False
    with pytest.raises(ValueError, match=PENDING_REFUND_CARD):  # the help text lists them
        card_for("4111111111111111")


def test_api_refund_on_pending_refund_card_is_pending_counts_and_settles_later(box: Box) -> None:
    paid = _paid_with(box, PENDING_REFUND_CARD)
    client = box.client()
    charge_id = paid["charge"]["id"]
    assert client.v1.charges.retrieve(charge_id).payment_method_details.card.last4 == "7726"

    refund = client.v1.refunds.create(params={"charge": charge_id, "amount": 1000, "metadata": {"crm": "r1"}})
    assert (refund.status, refund.pending_reason, refund.amount) == ("pending", "processing", 1000)
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)  # pending money counts
    assert box.event_types()[-2:] == ["refund.created", "charge.refunded"]
    assert _events(box, "refund.created")[0].data.object.status == "pending"
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"charge": charge_id, "amount": AMOUNT})
    assert too_much.value.user_message == (
        "Refund amount ($2,500.00) is greater than unrefunded amount on charge ($2,490.00)"
    )

    settled = box.control("POST", f"/refunds/{refund.id}/settle")
    assert settled.status_code == 200 and settled.json()["refund"]["status"] == "succeeded"
    refund = client.v1.refunds.retrieve(refund.id)
    assert refund.status == "succeeded" and "pending_reason" not in refund
    assert refund.metadata.to_dict() == {"crm": "r1"}
    assert client.v1.charges.retrieve(charge_id).amount_refunded == 1000
    assert box.event_types()[-2:] == ["refund.updated", "charge.refund.updated"]
    for type in ("refund.updated", "charge.refund.updated"):
        event = _events(box, type)[0]
        assert event.data.object.status == "succeeded"
        assert event.data.previous_attributes.to_dict() == {"pending_reason": "processing", "status": "pending"}
    assert box.control("POST", f"/refunds/{refund.id}/settle").status_code == 409  # settled once only


def test_dashboard_refund_on_pending_refund_card_is_pending_whatever_it_asks(box: Box) -> None:
    paid = _paid_with(box, PENDING_REFUND_CARD)
    by_route = box.control(
        "POST", "/refunds", json={"charge_or_payment_intent": paid["payment_intent"]["id"], "amount": 100}
    )
    assert by_route.status_code == 201 and by_route.json()["refund"]["status"] == "pending"
    asked_succeeded = box.emulator.refund(paid["charge"]["id"], amount=200, status="succeeded")
    assert asked_succeeded["refund"]["status"] == "pending"
    assert asked_succeeded["charge"]["amount_refunded"] == 300
    refund = box.client().v1.refunds.retrieve(by_route.json()["refund"]["id"])
    assert refund.pending_reason == "processing" and refund.metadata.to_dict() == {}
    assert box.emulator.settle_refund(refund.id)["refund"]["status"] == "succeeded"


def test_refund_on_async_failure_card_succeeds_then_fails_and_gives_the_money_back(box: Box) -> None:
    paid = _paid_with(box, REFUND_FAILS_LATER_CARD)
    client = box.client()
    charge_id = paid["charge"]["id"]
    refund = client.v1.refunds.create(params={"payment_intent": paid["payment_intent"]["id"]})
    assert (refund.status, refund.amount) == ("succeeded", AMOUNT) and "pending_reason" not in refund
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (AMOUNT, True)
    assert charge.payment_method_details.card.last4 == "5126"
    # It succeeded, so there is nothing to settle.
    assert box.control("POST", f"/refunds/{refund.id}/settle").status_code == 409

    failed = box.control("POST", f"/refunds/{refund.id}/fail")  # no reason given: the card's
    assert failed.status_code == 200
    assert failed.json()["charge"] == {"id": charge_id, "amount_refunded": 0, "refunded": False}
    refund = client.v1.refunds.retrieve(refund.id)
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert refund.failure_balance_transaction.startswith("txn_")
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert box.event_types()[-5:] == [
        "refund.created",
        "charge.refunded",
        "refund.failed",
        "refund.updated",
        "charge.refund.updated",
    ]
    announced = _events(box, "charge.refund.updated")[0]
    assert announced.data.object.failure_reason == "expired_or_canceled_card"
    assert announced.data.previous_attributes.status == "succeeded"
    assert box.control("POST", f"/refunds/{refund.id}/fail").status_code == 409  # fails once only
    # The money is back on the charge and can be refunded again.
    assert client.v1.refunds.create(params={"charge": charge_id, "amount": 500}).status == "succeeded"


def test_dashboard_refund_on_async_failure_card_succeeds_and_an_explicit_reason_wins(box: Box) -> None:
    paid = _paid_with(box, REFUND_FAILS_LATER_CARD)
    made = box.emulator.refund(paid["charge"]["id"], amount=100)
    assert made["refund"]["status"] == "succeeded"
    failed = box.emulator.fail_refund(made["refund"]["id"], failure_reason="declined")
    assert failed["refund"]["status"] == "failed"
    assert box.client().v1.refunds.retrieve(made["refund"]["id"]).failure_reason == "declined"


def test_refunds_on_an_ordinary_card_still_succeed_and_fail_with_the_default_reason(box: Box) -> None:
    paid = _paid_with(box, "4242424242424242")
    refund = box.client().v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 100})
    assert refund.status == "succeeded"
    box.emulator.fail_refund(refund.id)
    assert box.client().v1.refunds.retrieve(refund.id).failure_reason == "expired_or_canceled_card"

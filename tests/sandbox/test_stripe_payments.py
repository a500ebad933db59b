"""Payments in the Stripe emulator: a customer paying a link, refunds, disputes, and reading it all
back through a real `stripe.StripeClient` over loopback HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
import stripe

from tests.sandbox.payment_box import AMOUNT, LIVE_KEY, Box

# --- paying a link -----------------------------------------------------------------------------


def test_good_card_completes_the_session_and_pays_the_intent(box: Box) -> None:
    link = box.link()
    result = box.emulator.pay(link.url, email="ada@example.com", name="Ada Lovelace")
    assert result["status"] == "succeeded" and result["error"] is None
    client = box.client()
    session = client.v1.checkout.sessions.retrieve(
        result["checkout_session"]["id"], params={"expand": ["payment_intent.latest_charge"]}
    )
    assert session.id.startswith("cs_test_a1") and session.object == "checkout.session"
    assert (session.status, session.payment_status, session.mode) == ("complete", "paid", "payment")
    assert session.payment_link == link.id and session.amount_total == AMOUNT and session.currency == "usd"
    assert session.metadata.to_dict() == {"crm_payment_request_id": "a0X1"}
    assert session.customer_details.email == "ada@example.com" and session.customer_details.name == "Ada Lovelace"
    assert session.url is None
    intent = session.payment_intent
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", AMOUNT, AMOUNT)
    assert intent.metadata.to_dict() == {"crm_payment_request_id": "a0X1"}
    assert intent.description == "Deposit P-1" and intent.statement_descriptor_suffix == "P-1"
    assert intent.last_payment_error is None and intent.payment_method.startswith("pm_")
    charge = intent.latest_charge
    assert (charge.status, charge.paid, charge.captured, charge.amount) == ("succeeded", True, True, AMOUNT)
    assert charge.payment_intent == intent.id and charge.metadata.to_dict() == {}
    assert charge.receipt_url == f"{box.url}/__sandbox/receipts/{charge.id}"
    assert charge.balance_transaction.startswith("txn_")
    assert charge.calculated_statement_descriptor == "SANDBOX* P-1"
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.outcome.type == "authorized"
    assert "refunds" not in client.v1.charges.retrieve(charge.id)  # not included unless expanded


DECLINES = [
    ("4000000000000002", "card_declined", "generic_decline", "Your card was declined."),
    ("4000000000009995", "card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ("4000000000000069", "expired_card", None, "Your card has expired."),
    (
        "4000000000000119",
        "processing_error",
        None,
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    ("4000000000000127", "incorrect_cvc", None, "Your card's security code is incorrect."),
]


@pytest.mark.parametrize(("card", "code", "decline_code", "message"), DECLINES)
def test_declined_card_leaves_the_request_payable(
    box: Box, card: str, code: str, decline_code: str | None, message: str
) -> None:
    link = box.link()
    result = box.emulator.pay(link.id, card=card)
    assert result["status"] == "failed"
    assert result["error"] == {"type": "card_error", "code": code, "decline_code": decline_code, "message": message}
    client = box.client()
    intent = client.v1.payment_intents.retrieve(result["payment_intent"]["id"], params={"expand": ["latest_charge"]})
    assert intent.status == "requires_payment_method" and intent.payment_method is None
    error = intent.last_payment_error
    assert (error.type, error.code, error.message) == ("card_error", code, message)
    assert getattr(error, "decline_code", None) == decline_code
    assert error.charge == intent.latest_charge.id
    assert error.payment_method.object == "payment_method" and error.payment_method.card.last4 == card[-4:]
    charge = intent.latest_charge
    assert (charge.status, charge.paid, charge.failure_code, charge.failure_message) == ("failed", False, code, message)
    assert charge.outcome.reason == (decline_code or code) and charge.outcome.type == "issuer_declined"
    assert charge.receipt_url is None and charge.amount_captured == 0
    session = client.v1.checkout.sessions.retrieve(result["checkout_session"]["id"])
    assert (session.status, session.payment_status, session.payment_intent) == ("open", "unpaid", intent.id)
    assert client.v1.payment_links.retrieve(link.id).active is True
    assert box.event_types()[1:] == ["payment_intent.created", "charge.failed", "payment_intent.payment_failed"]


def test_decline_then_success_reuses_the_session_and_intent_with_a_new_charge(box: Box) -> None:
    link = box.link()
    failed = box.emulator.pay(link.url, card="4000000000000002")
    paid = box.emulator.pay(link.url)
    assert paid["checkout_session"]["id"] == failed["checkout_session"]["id"]
    assert paid["payment_intent"]["id"] == failed["payment_intent"]["id"]
    assert paid["charge"]["id"] != failed["charge"]["id"]
    client = box.client()
    charges = client.v1.charges.list(params={"payment_intent": paid["payment_intent"]["id"]}).data
    assert [(c.id, c.status) for c in charges] == [
        (paid["charge"]["id"], "succeeded"),
        (failed["charge"]["id"], "failed"),
    ]
    intent = client.v1.payment_intents.retrieve(paid["payment_intent"]["id"])
    assert intent.last_payment_error is None and intent.latest_charge == paid["charge"]["id"]
    assert box.event_types() == [
        "payment_link.created",
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "payment_link.updated",
        "charge.updated",
    ]
    events = {e.type: e for e in client.v1.events.list(params={"limit": 100}).data}
    assert events["charge.succeeded"].data.object.balance_transaction is None
    assert events["charge.updated"].data.previous_attributes.to_dict() == {"balance_transaction": None}
    assert events["checkout.session.completed"].data.object.payment_status == "paid"
    assert events["checkout.session.completed"].request.to_dict() == {"id": None, "idempotency_key": None}


def test_single_use_link_deactivates_when_its_session_completes(box: Box) -> None:
    link = box.link(limit=1)
    result = box.emulator.pay(link.url)
    assert result["payment_link"] == {"id": link.id, "active": False}
    client = box.client()
    fetched = client.v1.payment_links.retrieve(link.id)
    assert fetched.active is False and fetched.restrictions.completed_sessions.to_dict() == {"count": 1, "limit": 1}
    (updated,) = client.v1.events.list(params={"types": ["payment_link.updated"]}).data
    assert updated.data.previous_attributes.to_dict() == {
        "active": True,
        "restrictions": {"completed_sessions": {"count": 0}},
    }
    assert "Inactive" in requests.get(link.url, timeout=10).text


def test_link_below_its_limit_stays_payable_and_counts_sessions(box: Box) -> None:
    link = box.link(limit=2)
    first = box.emulator.pay(link.url)
    second = box.emulator.pay(link.url)
    assert first["checkout_session"]["id"] != second["checkout_session"]["id"]  # a completed session is not reused
    assert first["payment_link"]["active"] is True and second["payment_link"]["active"] is False
    assert box.client().v1.payment_links.retrieve(link.id).restrictions.completed_sessions.count == 2


def test_paying_an_inactive_link_is_refused_and_creates_nothing(box: Box) -> None:
    link = box.link(limit=1)
    box.emulator.pay(link.url)
    before = {kind: len(box.emulator.objects(kind)) for kind in ("checkout.session", "payment_intent", "charge")}
    events = len(box.emulator.events())
    with pytest.raises(ValueError, match="inactive"):
        box.emulator.pay(link.url)
    over_http = box.control("POST", "/pay", json={"link": link.url})
    assert over_http.status_code == 409 and "inactive" in over_http.json()["error"]
    after = {kind: len(box.emulator.objects(kind)) for kind in before}
    assert after == before and len(box.emulator.events()) == events


def test_url_query_prefills_email_and_client_reference_id(box: Box) -> None:
    link = box.link()
    result = box.emulator.pay(f"{link.url}?prefilled_email=bob%40example.com&client_reference_id=a0X1-rev2")
    session = box.client().v1.checkout.sessions.retrieve(result["checkout_session"]["id"])
    assert session.customer_details.email == "bob@example.com" and session.client_reference_id == "a0X1-rev2"


def test_open_session_expires_after_24_hours_and_the_next_attempt_opens_a_new_one(box: Box) -> None:
    link = box.link()
    first = box.emulator.pay(link.url, card="4000000000000002")
    box.clock.advance(timedelta(hours=24))
    second = box.emulator.pay(link.url)
    assert second["checkout_session"]["id"] != first["checkout_session"]["id"]
    old = box.client().v1.checkout.sessions.retrieve(first["checkout_session"]["id"])
    assert old.status == "expired" and old.url is None
    assert "checkout.session.expired" in box.event_types()


def test_unknown_card_and_unknown_link_are_refused(box: Box) -> None:
    link = box.link()
    with pytest.raises(ValueError, match="not a test card"):
        box.emulator.pay(link.url, card="4111111111111111")
    with pytest.raises(ValueError, match="No such payment link"):
        box.emulator.pay("plink_nope")
    assert box.emulator.objects("checkout.session") == []


# --- refunds -----------------------------------------------------------------------------------


def _paid(box: Box, **kwargs: Any) -> dict[str, Any]:
    return box.emulator.pay(box.link(**kwargs).url)


def test_partial_and_final_refunds_never_exceed_the_charge(box: Box) -> None:
    paid = _paid(box)
    client = box.client()
    intent_id, charge_id = paid["payment_intent"]["id"], paid["charge"]["id"]
    first = client.v1.refunds.create(
        params={
            "payment_intent": intent_id,
            "amount": 1000,
            "reason": "requested_by_customer",
            "metadata": {"crm": "r1"},
        }
    )
    assert (first.amount, first.status, first.charge, first.payment_intent) == (1000, "succeeded", charge_id, intent_id)
    assert first.metadata.to_dict() == {"crm": "r1"} and first.reason == "requested_by_customer"
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (1000, False)
    rest = client.v1.refunds.create(params={"charge": charge_id})  # no amount: all that is left
    assert rest.amount == AMOUNT - 1000
    charge = client.v1.charges.retrieve(charge_id, params={"expand": ["refunds"]})
    assert (charge.amount_refunded, charge.refunded) == (AMOUNT, True)
    assert [r.id for r in charge.refunds.data] == [rest.id, first.id]
    assert charge.refunds.url == f"/v1/charges/{charge_id}/refunds"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": charge_id, "amount": 1})
    assert caught.value.code == "charge_already_refunded"
    assert caught.value.user_message == f"Charge {charge_id} has already been refunded."
    refunded = [e for e in client.v1.events.list(params={"type": "charge.refunded"}).data]
    assert [e.data.object.amount_refunded for e in refunded] == [AMOUNT, 1000]
    assert refunded[-1].data.previous_attributes.to_dict() == {"amount_refunded": 0}
    created = client.v1.events.list(params={"types": ["refund.created"]}).data
    assert [e.data.object.id for e in created] == [rest.id, first.id]


def test_refund_larger_than_what_is_left_gets_stripes_error_and_refunds_nothing(box: Box) -> None:
    paid = _paid(box)
    client = box.client()
    client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 1000})
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": AMOUNT})
    assert caught.value.http_status == 400 and caught.value.param == "amount" and caught.value.code is None
    assert caught.value.user_message == (
        "Refund amount ($2,500.00) is greater than unrefunded amount on charge ($2,490.00)"
    )
    with pytest.raises(stripe.InvalidRequestError) as zero:
        client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 0})
    assert zero.value.param == "amount"
    with pytest.raises(ValueError, match=r"greater than unrefunded amount"):
        box.emulator.refund(paid["charge"]["id"], amount=AMOUNT)
    assert len(box.emulator.objects("refund")) == 1
    assert client.v1.charges.retrieve(paid["charge"]["id"]).amount_refunded == 1000


def test_refunding_a_payment_without_a_successful_charge_is_refused(box: Box) -> None:
    link = box.link()
    failed = box.emulator.pay(link.url, card="4000000000000002")
    client = box.client()
    with pytest.raises(stripe.InvalidRequestError) as by_intent:
        client.v1.refunds.create(params={"payment_intent": failed["payment_intent"]["id"]})
    assert by_intent.value.user_message == (
        f"This PaymentIntent ({failed['payment_intent']['id']}) does not have a successful charge to refund."
    )
    with pytest.raises(stripe.InvalidRequestError) as by_charge:
        client.v1.refunds.create(params={"charge": failed["charge"]["id"]})
    assert by_charge.value.param == "charge"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.refunds.create(params={"charge": "ch_nope"})
    assert (missing.value.code, missing.value.param) == ("resource_missing", "charge")
    assert box.emulator.objects("refund") == []


def test_api_refund_events_carry_the_request_and_replay_under_the_same_key(box: Box) -> None:
    paid = _paid(box)
    client = box.client()
    options: Any = {"idempotency_key": "refund:a0X1:1"}
    first = client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 500}, options=options)
    again = client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 500}, options=options)
    assert again.id == first.id and again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert client.v1.charges.retrieve(paid["charge"]["id"]).amount_refunded == 500
    (created,) = client.v1.events.list(params={"type": "refund.created"}).data
    assert created.request.idempotency_key == "refund:a0X1:1"
    assert created.request.id == first.last_response.request_id


def test_refund_metadata_update_records_refund_updated(box: Box) -> None:
    paid = _paid(box)
    client = box.client()
    refund = client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 500})
    updated = client.v1.refunds.update(refund.id, params={"metadata": {"crm_refund_id": "r9"}})
    assert updated.metadata.to_dict() == {"crm_refund_id": "r9"}
    event = client.v1.events.list(params={"type": "refund.updated"}).data[0]
    assert event.data.previous_attributes.to_dict() == {"metadata": {"crm_refund_id": None}}
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.update(refund.id, params={"amount": 1})  # type: ignore[typeddict-unknown-key]
    assert caught.value.code == "parameter_unknown"


def test_pending_dashboard_refund_that_fails_later_gives_the_money_back(box: Box) -> None:
    paid = _paid(box)
    charge_id = paid["charge"]["id"]
    made = box.emulator.refund(paid["payment_intent"]["id"], amount=2000, status="pending")
    assert made["refund"]["status"] == "pending" and made["charge"]["amount_refunded"] == 2000
    client = box.client()
    refund = client.v1.refunds.retrieve(made["refund"]["id"])
    assert refund.metadata.to_dict() == {} and refund.pending_reason == "processing"
    failed = box.emulator.fail_refund(refund.id, failure_reason="expired_or_canceled_card")
    assert failed["refund"]["status"] == "failed" and failed["charge"]["amount_refunded"] == 0
    refund = client.v1.refunds.retrieve(refund.id)
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert refund.failure_balance_transaction.startswith("txn_") and "pending_reason" not in refund
    charge = client.v1.charges.retrieve(charge_id)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    assert box.event_types()[-5:] == [
        "refund.created",
        "charge.refunded",
        "refund.failed",
        "refund.updated",
        "charge.refund.updated",
    ]
    updated = client.v1.events.list(params={"type": "refund.updated"}).data[0]
    assert updated.data.previous_attributes.status == "pending"
    assert updated.request.to_dict() == {"id": None, "idempotency_key": None}  # a Dashboard action
    # The failed money can be refunded again.
    assert client.v1.refunds.create(params={"charge": charge_id}).amount == AMOUNT


def test_pending_refund_settles_and_a_settled_one_cannot_settle_again(box: Box) -> None:
    paid = _paid(box)
    made = box.emulator.refund(paid["charge"]["id"], status="pending")
    settled = box.emulator.settle_refund(made["refund"]["id"])
    assert settled["refund"]["status"] == "succeeded" and settled["charge"]["refunded"] is True
    assert box.event_types()[-2:] == ["refund.updated", "charge.refund.updated"]
    with pytest.raises(ValueError, match="not pending"):
        box.emulator.settle_refund(made["refund"]["id"])
    with pytest.raises(ValueError, match="reason must be one of"):
        box.emulator.refund(paid["charge"]["id"], reason="because")


# --- disputes ----------------------------------------------------------------------------------


def test_dispute_withdraws_funds_blocks_refunds_and_closing_won_reinstates(box: Box) -> None:
    paid = _paid(box)
    opened = box.emulator.dispute(paid["payment_intent"]["id"])
    assert opened["dispute"]["status"] == "needs_response" and opened["charge"]["disputed"] is True
    client = box.client()
    dispute = client.v1.disputes.retrieve(opened["dispute"]["id"], params={"expand": ["charge"]})
    assert (dispute.amount, dispute.reason, dispute.payment_intent) == (
        AMOUNT,
        "fraudulent",
        paid["payment_intent"]["id"],
    )
    assert dispute.charge.disputed is True and dispute.is_charge_refundable is False
    assert [t.amount for t in dispute.balance_transactions] == [-AMOUNT]
    assert [d.id for d in client.v1.disputes.list(params={"charge": paid["charge"]["id"]}).data] == [dispute.id]
    assert client.v1.disputes.list(params={"payment_intent": "pi_other"}).data == []
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"charge": paid["charge"]["id"]})
    assert caught.value.code == "charge_disputed"
    closed = box.emulator.close_dispute(dispute.id, won=True)
    assert closed["dispute"]["status"] == "won"
    assert [t.amount for t in client.v1.disputes.retrieve(dispute.id).balance_transactions] == [-AMOUNT, AMOUNT]
    assert box.event_types()[-4:] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    with pytest.raises(ValueError, match="already closed"):
        box.emulator.close_dispute(dispute.id, won=False)


def test_evidence_puts_a_dispute_under_review_with_a_dispute_updated_event(box: Box) -> None:
    # charge.dispute.updated: "Occurs when the dispute is updated (usually with evidence)".
    paid = _paid(box)
    opened = box.emulator.dispute(paid["charge"]["id"])["dispute"]
    assert box.emulator.submit_dispute_evidence(opened["id"])["dispute"]["status"] == "under_review"
    details = box.client().v1.disputes.retrieve(opened["id"]).evidence_details
    assert (details.has_evidence, details.submission_count) == (True, 1)
    event = box.client().v1.events.list(params={"type": "charge.dispute.updated"}).data[0]
    assert event.data.object.status == "under_review"
    assert event.data.previous_attributes["status"] == "needs_response"
    assert event.data.previous_attributes["evidence_details"]["submission_count"] == 0
    with pytest.raises(ValueError, match="does not need a response"):
        box.emulator.submit_dispute_evidence(opened["id"])
    assert box.emulator.close_dispute(opened["id"], won=False)["dispute"]["status"] == "lost"


def test_lost_dispute_closes_without_reinstating(box: Box) -> None:
    paid = _paid(box)
    opened = box.emulator.dispute(paid["charge"]["id"], reason="product_not_received", amount=1000)
    assert opened["dispute"]["amount"] == 1000
    box.emulator.close_dispute(opened["dispute"]["id"], won=False)
    assert box.event_types()[-1] == "charge.dispute.closed"
    assert box.client().v1.disputes.retrieve(opened["dispute"]["id"]).status == "lost"
    with pytest.raises(ValueError, match="already disputed"):
        box.emulator.dispute(paid["charge"]["id"])


# --- events ------------------------------------------------------------------------------------


def test_an_event_listed_late_shows_at_its_place_behind_a_cursor_that_moved_past_it(box: Box) -> None:
    client = box.client()
    box.emulator.delay_events(120, count=100)
    box.emulator.pay(box.link().url)  # its events are listed two minutes from now
    box.emulator.delay_events(0, count=0)
    box.emulator.pay(box.link().url)
    listed = client.v1.events.list(params={"limit": 100}).data
    cursor = listed[0].id  # the newest listed now
    late_types = {"checkout.session.completed", "charge.succeeded"}
    assert len([e for e in listed if e.type == "checkout.session.completed"]) == 1  # the prompt one only

    box.emulator.clock.advance(timedelta(minutes=3))

    everything = client.v1.events.list(params={"limit": 100}).data
    assert len([e for e in everything if e.type == "checkout.session.completed"]) == 2
    late = [e for e in everything if e.id not in {x.id for x in listed} and e.type in late_types]
    assert late and all(everything.index(e) > everything.index(next(x for x in everything if x.id == cursor))
                        for e in late)  # fmt: skip
    assert client.v1.events.list(params={"ending_before": cursor}).data == []  # a cursor walk never reaches them


def test_payment_events_filter_by_type_and_keep_one_seconds_order(box: Box) -> None:
    link = box.link()
    box.emulator.pay(link.url, card="4000000000009995")
    box.emulator.pay(link.url)
    client = box.client()
    everything = client.v1.events.list(params={"limit": 100}).data
    assert len({e.created for e in everything}) == 1  # one clock second
    assert [e.type for e in everything] == box.event_types()[::-1]  # newest first, as recorded
    one_by_one = [e.id for e in client.v1.events.list(params={"limit": 1}).auto_paging_iter()]
    assert one_by_one == [e.id for e in everything]
    charges = client.v1.events.list(params={"type": "charge.*"}).data
    assert [e.type for e in charges] == ["charge.updated", "charge.succeeded", "charge.failed"]
    wanted = ["payment_intent.payment_failed", "checkout.session.completed"]
    assert [e.type for e in client.v1.events.list(params={"types": wanted}).data] == wanted[::-1]
    cursor = everything[-1].id  # the oldest
    newer = list(client.v1.events.list(params={"ending_before": cursor, "limit": 2}).auto_paging_iter())
    assert [e.id for e in newer] == [e.id for e in everything[-2::-1]]  # oldest to newest after the cursor


def test_events_created_filter_splits_payments_in_time(box: Box) -> None:
    link = box.link(limit=None)
    box.emulator.pay(link.url)
    box.clock.advance(timedelta(seconds=30))
    later = box.emulator.pay(link.url, card="4000000000000002")
    client = box.client()
    since = int(box.clock.time())
    recent = client.v1.events.list(params={"created": {"gte": since}}).data
    assert [e.type for e in recent] == ["payment_intent.payment_failed", "charge.failed", "payment_intent.created"]
    intents = client.v1.payment_intents.list(params={"created": {"gte": since}}).data
    assert [i.id for i in intents] == [later["payment_intent"]["id"]]


@pytest.mark.parametrize("param", ["ending_before", "starting_after"])
def test_unknown_or_expired_event_cursor_is_resource_missing(box: Box, param: str) -> None:
    link = box.link()
    (old,) = box.client().v1.events.list().data
    box.clock.advance(timedelta(days=31))
    box.emulator.pay(link.url)
    client = box.client()
    for cursor in ("evt_doesNotExist000000000000", old.id):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            client.v1.events.list(params={param: cursor})
        assert (caught.value.http_status, caught.value.code, caught.value.param) == (400, "resource_missing", param)
        assert caught.value.user_message == f"No such event: '{cursor}'"
    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.events.list(params={"ending_before": old.id, "starting_after": old.id})
    assert (
        both.value.user_message == "Received both starting_after and ending_before parameters. Please pass in only one."
    )


# --- reading back: lists, expansions, modes ------------------------------------------------------


def test_lists_filter_sessions_charges_and_refunds(box: Box) -> None:
    link, other = box.link(limit=None), box.link(limit=None)
    failed = box.emulator.pay(link.url, card="4000000000000002", email="a@example.com")
    paid = box.emulator.pay(other.url, email="b@example.com")
    client = box.client()
    sessions = client.v1.checkout.sessions
    assert [s.id for s in sessions.list(params={"payment_link": other.id}).data] == [paid["checkout_session"]["id"]]
    assert [s.id for s in sessions.list(params={"status": "open"}).data] == [failed["checkout_session"]["id"]]
    by_email = sessions.list(params={"customer_details": {"email": "b@example.com"}}).data
    assert [s.id for s in by_email] == [paid["checkout_session"]["id"]]
    by_intent = sessions.list(params={"payment_intent": failed["payment_intent"]["id"]}).data
    assert [s.id for s in by_intent] == [failed["checkout_session"]["id"]]
    assert sessions.list(params={"customer": "cus_nobody"}).data == []
    page = sessions.list(params={"limit": 1})
    assert page.has_more is True and page.url == "/v1/checkout/sessions"
    after = sessions.list(params={"limit": 1, "starting_after": page.data[0].id}).data
    assert [s.id for s in after] == [failed["checkout_session"]["id"]]
    assert [c.id for c in client.v1.charges.list().data] == [paid["charge"]["id"], failed["charge"]["id"]]
    refund = client.v1.refunds.create(params={"payment_intent": paid["payment_intent"]["id"], "amount": 100})
    assert [r.id for r in client.v1.refunds.list(params={"charge": paid["charge"]["id"]}).data] == [refund.id]
    assert client.v1.refunds.list(params={"payment_intent": failed["payment_intent"]["id"]}).data == []
    with pytest.raises(stripe.InvalidRequestError) as bad_status:
        sessions.list(params={"status": "paid"})  # type: ignore[typeddict-item]
    assert bad_status.value.param == "status"


def test_expansions_follow_stripes_paths_and_depth_limit(box: Box) -> None:
    paid = _paid(box)
    client = box.client()
    refund = client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 100})
    listed = client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent.latest_charge.refunds"]})
    charge = listed.data[0].payment_intent.latest_charge
    assert charge.object == "charge" and [r.id for r in charge.refunds.data] == [refund.id]
    intent = client.v1.payment_intents.retrieve(
        paid["payment_intent"]["id"], params={"expand": ["latest_charge.refunds"]}
    )
    assert intent.latest_charge.refunds.data[0].amount == 100
    fetched = client.v1.refunds.retrieve(refund.id, params={"expand": ["charge", "payment_intent"]})
    assert fetched.charge.id == paid["charge"]["id"] and fetched.payment_intent.status == "succeeded"
    by_charge = client.v1.charges.list(params={"expand": ["data.payment_intent"]}).data[0]
    assert by_charge.payment_intent.object == "payment_intent"
    with pytest.raises(stripe.InvalidRequestError) as too_deep:
        client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent.latest_charge.refunds.data"]})
    assert "4 levels" in str(too_deep.value.user_message)
    with pytest.raises(stripe.InvalidRequestError) as not_expandable:
        client.v1.checkout.sessions.retrieve(paid["checkout_session"]["id"], params={"expand": ["customer"]})
    assert not_expandable.value.user_message == "This property cannot be expanded (customer)."
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.list(params={"expand": ["payment_intent"]})  # lists need `data.`


def test_live_payments_are_invisible_to_test_keys(box: Box) -> None:
    live_link = box.link(key=LIVE_KEY)
    paid = box.emulator.pay(live_link.url)
    session_id = paid["checkout_session"]["id"]
    assert session_id.startswith("cs_live_a1")
    live, test = box.client(LIVE_KEY), box.client()
    assert live.v1.checkout.sessions.retrieve(session_id).livemode is True
    assert live.v1.charges.retrieve(paid["charge"]["id"]).livemode is True
    with pytest.raises(stripe.InvalidRequestError) as caught:
        test.v1.checkout.sessions.retrieve(session_id)
    assert caught.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        test.v1.refunds.create(params={"charge": paid["charge"]["id"]})
    assert test.v1.charges.list().data == [] and test.v1.payment_intents.list().data == []
    assert [e.type for e in test.v1.events.list().data] == []
    assert "checkout.session.completed" in box.event_types(mode="live")
    assert box.emulator.objects("charge", mode="test") == []


def test_missing_objects_are_404_resource_missing(box: Box) -> None:
    client = box.client()
    for call, kind in [
        (lambda: client.v1.checkout.sessions.retrieve("cs_test_nope"), "checkout.session"),
        (lambda: client.v1.payment_intents.retrieve("pi_nope"), "payment_intent"),
        (lambda: client.v1.charges.retrieve("ch_nope"), "charge"),
        (lambda: client.v1.refunds.retrieve("re_nope"), "refund"),
        (lambda: client.v1.disputes.retrieve("dp_nope"), "dispute"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            call()
        assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")
        assert str(caught.value.user_message).startswith(f"No such {kind}: ")


# --- pages and the control API over HTTP ---------------------------------------------------------


def test_receipt_page_is_served_and_follows_refunds(box: Box) -> None:
    paid = _paid(box)
    receipt = requests.get(paid["charge"]["receipt_url"], timeout=10)
    assert receipt.status_code == 200 and receipt.headers["Content-Type"].startswith("text/html")
    assert "$2,500.00" in receipt.text and "data-minor-units='0'" in receipt.text
    box.emulator.refund(paid["charge"]["id"], amount=1234)
    assert "$12.34" in requests.get(paid["charge"]["receipt_url"], timeout=10).text
    assert box.control("GET", "/receipts/ch_nope").status_code == 404


def test_control_routes_act_as_customer_and_dashboard(box: Box) -> None:
    link = box.link()
    declined = box.control("POST", "/pay", json={"link": link.url, "card": "4000000000009995"})
    assert declined.status_code == 201 and declined.json()["error"]["decline_code"] == "insufficient_funds"
    paid = box.control("POST", "/pay", json={"link": link.id, "email": "c@example.com"}).json()
    assert paid["status"] == "succeeded" and paid["payment_link"]["active"] is False
    charge_id = paid["charge"]["id"]
    refund = box.control(
        "POST", "/refunds", json={"charge_or_payment_intent": charge_id, "amount": 100, "status": "pending"}
    )
    assert refund.status_code == 201 and refund.json()["refund"]["status"] == "pending"
    refund_id = refund.json()["refund"]["id"]
    assert box.control("POST", f"/refunds/{refund_id}/settle").json()["refund"]["status"] == "succeeded"
    failed = box.control("POST", f"/refunds/{refund_id}/fail", json={"failure_reason": "declined"})
    assert failed.json()["charge"]["amount_refunded"] == 0
    too_much = box.control("POST", "/refunds", json={"charge_or_payment_intent": charge_id, "amount": AMOUNT + 1})
    assert too_much.status_code == 409 and "greater than unrefunded amount" in too_much.json()["error"]
    dispute = box.control("POST", "/disputes", json={"charge_or_payment_intent": charge_id, "reason": "duplicate"})
    assert dispute.status_code == 201 and dispute.json()["dispute"]["status"] == "needs_response"
    closed = box.control("POST", f"/disputes/{dispute.json()['dispute']['id']}/close", json={"won": False})
    assert closed.json()["dispute"]["status"] == "lost"
    assert box.control("POST", "/pay", json={"link": "plink_nope"}).status_code == 404
    assert box.control("POST", "/refunds/re_nope/settle").status_code == 404
    assert box.control("POST", "/pay", json={"link": link.id, "bogus": 1}).status_code == 400
    assert box.control("POST", "/disputes/dp_x/close", json={"won": "yes"}).status_code == 400


def test_hosted_page_form_takes_a_card_number(box: Box) -> None:
    link = box.link()
    page = requests.get(link.url, timeout=10)
    assert "<form method='post'" in page.text
    declined = requests.post(link.url, data={"card": "4000000000000002", "email": "d@example.com"}, timeout=10)
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    paid = requests.post(link.url, data={"card": "4242 4242 4242 4242"}, timeout=10)
    assert paid.status_code == 200 and "Payment succeeded" in paid.text
    (session,) = box.emulator.objects("checkout.session")
    assert session["status"] == "complete" and session["customer_details"]["email"] == "d@example.com"


def test_sandbox_facade_drives_the_stripe_emulator() -> None:
    from sync.sandbox.environment import Sandbox

    with Sandbox() as sandbox:
        client = stripe.StripeClient(sandbox.credentials.stripe_test_key, base_addresses={"api": sandbox.stripe_url})
        link = client.v1.payment_links.create(
            params={
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "usd", "unit_amount": 5000, "product_data": {"name": "X"}},
                    }
                ]
            }
        )
        assert sandbox.pay(link.url, card="4000000000000002")["status"] == "failed"
        paid = sandbox.pay(link.id, email="e@example.com")
        refund = sandbox.dashboard_refund(paid["charge"]["id"], amount=100, status="pending")
        assert sandbox.settle_refund(refund["refund"]["id"])["refund"]["status"] == "succeeded"
        assert sandbox.fail_refund(refund["refund"]["id"])["refund"]["status"] == "failed"
        dispute = sandbox.open_dispute(paid["payment_intent"]["id"])
        assert sandbox.close_dispute(dispute["dispute"]["id"], won=True)["dispute"]["status"] == "won"
        assert [r["id"] for r in sandbox.stripe_objects("refund")] == [refund["refund"]["id"]]
        assert len(sandbox.stripe_objects("charge")) == 2

"""Expiring a Checkout Session through the API (`POST /v1/checkout/sessions/{id}/expire`) in the
Stripe emulator, and listing sessions by `status` and `payment_link`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stripe

from tests.sandbox.payment_box import LIVE_KEY, Box

DECLINED_CARD = "4000000000000002"


def _not_open(status: str) -> str:
    return (
        'Only Checkout Sessions with a status in ["open"] can be expired. '
        f"This Checkout Session has a status of `{status}`."
    )


def _ids(listed: Any) -> list[str]:
    return [session.id for session in listed.data]


def test_expiring_the_open_session_left_by_a_decline(box: Box) -> None:
    link = box.link()
    declined = box.emulator.pay(link.url, card=DECLINED_CARD)
    session_id = declined["checkout_session"]["id"]
    client = box.client()
    sessions = client.v1.checkout.sessions
    assert _ids(sessions.list(params={"status": "open", "payment_link": link.id})) == [session_id]

    expired = sessions.expire(session_id)
    assert (expired.id, expired.object, expired.status, expired.url) == (
        session_id,
        "checkout.session",
        "expired",
        None,
    )
    assert expired.payment_status == "unpaid" and expired.payment_intent == declined["payment_intent"]["id"]
    assert expired.metadata.to_dict() == {"crm_payment_request_id": "a0X1"}
    assert sessions.retrieve(session_id).status == "expired"
    assert box.event_types()[-1] == "checkout.session.expired"
    (event,) = client.v1.events.list(params={"type": "checkout.session.expired"}).data
    assert (event.data.object.id, event.data.object.status, event.data.object.url) == (session_id, "expired", None)
    assert event.request.id == expired.last_response.request_id  # made by an API request
    assert "previous_attributes" not in event.data

    assert sessions.list(params={"status": "open"}).data == []
    assert _ids(sessions.list(params={"status": "expired", "payment_link": link.id})) == [session_id]
    assert sessions.list(params={"status": "open", "payment_link": link.id}).data == []


def test_expiring_a_session_twice_is_refused_like_stripe(box: Box) -> None:
    declined = box.emulator.pay(box.link().url, card=DECLINED_CARD)
    session_id = declined["checkout_session"]["id"]
    sessions = box.client().v1.checkout.sessions
    sessions.expire(session_id)
    with pytest.raises(stripe.InvalidRequestError) as again:
        sessions.expire(session_id)
    error = again.value
    assert (error.http_status, error.error.type) == (400, "invalid_request_error")
    assert error.user_message == _not_open("expired")
    assert box.event_types().count("checkout.session.expired") == 1


def test_expiring_a_complete_session_is_refused_and_changes_nothing(box: Box) -> None:
    paid = box.emulator.pay(box.link().url)
    session_id = paid["checkout_session"]["id"]
    sessions = box.client().v1.checkout.sessions
    with pytest.raises(stripe.InvalidRequestError) as caught:
        sessions.expire(session_id)
    assert (caught.value.http_status, caught.value.user_message) == (400, _not_open("complete"))
    session = sessions.retrieve(session_id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert "checkout.session.expired" not in box.event_types()


def test_paying_the_link_after_its_session_expired_opens_a_new_session(box: Box) -> None:
    link = box.link()
    declined = box.emulator.pay(link.url, card=DECLINED_CARD)
    old_id = declined["checkout_session"]["id"]
    client = box.client()
    client.v1.checkout.sessions.expire(old_id)
    assert client.v1.payment_links.retrieve(link.id).active is True  # expiring leaves the link payable

    paid = box.emulator.pay(link.url)
    new_id = paid["checkout_session"]["id"]
    assert new_id != old_id and paid["status"] == "succeeded"
    assert paid["payment_intent"]["id"] != declined["payment_intent"]["id"]
    sessions = client.v1.checkout.sessions
    assert sessions.retrieve(old_id).status == "expired"
    assert _ids(sessions.list(params={"payment_link": link.id})) == [new_id, old_id]
    assert _ids(sessions.list(params={"payment_link": link.id, "status": "complete"})) == [new_id]
    assert _ids(sessions.list(params={"payment_link": link.id, "status": "expired"})) == [old_id]


def test_session_past_its_expiry_time_cannot_be_expired_again(box: Box) -> None:
    declined = box.emulator.pay(box.link().url, card=DECLINED_CARD)
    box.clock.advance(timedelta(hours=24))
    with pytest.raises(stripe.InvalidRequestError) as caught:
        box.client().v1.checkout.sessions.expire(declined["checkout_session"]["id"])
    assert caught.value.user_message == _not_open("expired")


def test_expire_validates_params_expands_and_finds_only_this_modes_sessions(box: Box) -> None:
    client = box.client()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.expire("cs_test_nope")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    declined = box.emulator.pay(box.link().url, card=DECLINED_CARD)
    session_id = declined["checkout_session"]["id"]
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.checkout.sessions.expire(session_id, params={"status": "expired"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.code, unknown.value.param) == ("parameter_unknown", "status")
    live = box.emulator.pay(box.link(key=LIVE_KEY).url, card=DECLINED_CARD)
    with pytest.raises(stripe.InvalidRequestError) as other_mode:
        client.v1.checkout.sessions.expire(live["checkout_session"]["id"])
    assert other_mode.value.http_status == 404
    expanded = client.v1.checkout.sessions.expire(session_id, params={"expand": ["payment_intent"]})
    assert expanded.status == "expired" and expanded.payment_intent.status == "requires_payment_method"
    assert box.client(LIVE_KEY).v1.checkout.sessions.retrieve(live["checkout_session"]["id"]).status == "open"


def test_expire_replays_under_the_same_idempotency_key(box: Box) -> None:
    declined = box.emulator.pay(box.link().url, card=DECLINED_CARD)
    sessions = box.client().v1.checkout.sessions
    options: Any = {"idempotency_key": "expire:a0X1:1"}
    first = sessions.expire(declined["checkout_session"]["id"], options=options)
    again = sessions.expire(declined["checkout_session"]["id"], options=options)
    assert again.status == "expired" and again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert again.last_response.headers.get("Original-Request") == first.last_response.request_id
    assert box.event_types().count("checkout.session.expired") == 1

"""Stripe-Version checked, and events rendered in the account's default version (issue 24, item 3).

Sources beside the emulator code (sync/sandbox/stripe/api_versions.py).
"""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import stripe
from stripe.params._webhook_endpoint_create_params import WebhookEndpointCreateParams

from sync.sandbox.clock import SandboxClock
from sync.sandbox.stripe import StripeEmulator, api_versions
from tests.sandbox.payment_box import GOOD_CARD, Box


def test_the_known_versions_are_those_stripe_python_lists() -> None:
    (literal,) = typing.get_args(WebhookEndpointCreateParams.__annotations__["api_version"])
    assert api_versions.KNOWN == typing.get_args(literal)
    assert stripe.api_version in api_versions.KNOWN


@pytest.mark.parametrize("version", ["1999-01-01", "2019-2-19", "2022-08-02", "2026-10-28.acacia", "latest"])
def test_an_unknown_stripe_version_is_refused_as_stripe_words_it(box: Box, version) -> None:
    answer = box.http.get(
        f"{box.url}/v1/payment_links",
        headers={"Authorization": "Bearer sk_test_51PaymentsEmulatorKeyForTestsAbcd", "Stripe-Version": version},
        timeout=10,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == f"Invalid Stripe API version: {version}"
    assert "code" not in error and "param" not in error
    assert answer.headers["Stripe-Version"] == box.emulator.api_version  # not the refused one echoed


def test_a_known_older_version_is_taken(box: Box) -> None:
    client = box.client()
    listed = client.v1.payment_links.list(options={"stripe_version": "2022-11-15"})
    assert listed.last_response.headers["Stripe-Version"] == "2022-11-15"


def test_the_account_version_is_checked_and_kept_in_the_state_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Invalid Stripe API version: 1999-01-01"):
        StripeEmulator(clock=SandboxClock(), api_version="1999-01-01")
    db = str(tmp_path / "stripe.sqlite3")
    first = StripeEmulator(clock=SandboxClock(), db_path=db, api_version="2022-08-01", default_currency="gbp")
    first.db.close()
    again = StripeEmulator(clock=SandboxClock(), db_path=db)
    assert again.account_settings() == {"api_version": "2022-08-01", "default_currency": "gbp"}
    again.db.close()


def _pay_refund_and_fail(box: Box) -> tuple[str, str]:
    link = box.link()
    paid = box.emulator.pay(link.url, card=GOOD_CARD)
    charge = paid["charge"]["id"]
    refund = box.emulator.refund(charge, amount=1000)["refund"]["id"]
    box.emulator.fail_refund(refund)
    return charge, refund


def test_before_acacia_a_card_refund_sends_only_charge_events(box: Box) -> None:
    box.emulator.set_account(api_version="2024-09-30.acacia")
    _pay_refund_and_fail(box)
    types = box.event_types()
    assert not [t for t in types if t.startswith("refund.")]
    assert types.count("charge.refunded") == 1 and types.count("charge.refund.updated") == 1
    assert {e["api_version"] for e in box.emulator.events()} == {"2024-09-30.acacia"}


def test_from_acacia_on_a_card_refund_sends_refund_events_too(box: Box) -> None:
    box.emulator.set_account(api_version="2024-10-28.acacia")
    _pay_refund_and_fail(box)
    types = box.event_types()
    assert {"refund.created", "refund.failed", "refund.updated"} <= set(types)


def test_before_2022_11_15_a_payment_intent_in_an_event_carries_charges_not_latest_charge(box: Box) -> None:
    box.emulator.set_account(api_version="2022-08-01")
    charge, refund = _pay_refund_and_fail(box)
    events = box.emulator.events()
    [succeeded] = [e for e in events if e["type"] == "payment_intent.succeeded"]
    intent = succeeded["data"]["object"]
    assert "latest_charge" not in intent
    assert intent["charges"]["object"] == "list" and intent["charges"]["total_count"] == 1
    assert [c["id"] for c in intent["charges"]["data"]] == [charge]
    assert intent["charges"]["url"] == f"/v1/charges?payment_intent={intent['id']}"
    [refunded] = [e for e in events if e["type"] == "charge.refunded"]
    assert [r["id"] for r in refunded["data"]["object"]["refunds"]["data"]] == [refund]
    # The API answers in the request's version: the worker's pinned one reads latest_charge.
    fetched = box.client().v1.payment_intents.retrieve(intent["id"])
    assert fetched.latest_charge == charge


def test_the_current_version_renders_latest_charge(box: Box) -> None:
    box.link()
    box.emulator.pay(box.emulator.objects("payment_link")[0]["url"], card=GOOD_CARD)
    [succeeded] = [e for e in box.emulator.events() if e["type"] == "payment_intent.succeeded"]
    assert "charges" not in succeeded["data"]["object"] and succeeded["data"]["object"]["latest_charge"]


def test_the_control_api_pins_the_account_version(box: Box) -> None:
    answer = box.control("POST", "/account", json={"api_version": "2023-10-16"})
    assert answer.status_code == 200 and answer.json()["api_version"] == "2023-10-16"
    assert box.control("GET", "/account").json() == {"api_version": "2023-10-16", "default_currency": "usd"}
    refused = box.control("POST", "/account", json={"api_version": "2023-10-17"})
    assert refused.status_code == 400 and "Invalid Stripe API version" in refused.json()["error"]

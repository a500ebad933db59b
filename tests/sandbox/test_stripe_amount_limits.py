"""Stripe's minimum charge and the three-decimal rule in the emulator (issue 24, item 4).

Sources beside the emulator code (sync/sandbox/stripe/charge_limits.py): docs.stripe.com/currencies
(minimums per settlement currency, conversion, three-decimal currencies) and live answers quoted in
public issues ("Amount must be at least €0.50 eur", "Amount must convert to at least 50 cents.
¥5 converts to approximately $0.03.").
"""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.sandbox.payment_box import Box


def price_params(currency: str, unit_amount: int, *, quantity: int = 1) -> dict[str, Any]:
    return {
        "line_items": [
            {
                "quantity": quantity,
                "price_data": {"currency": currency, "unit_amount": unit_amount, "product_data": {"name": "Deposit"}},
            }
        ]
    }


def refusal(box: Box, params: dict[str, Any]) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        box.client().v1.payment_links.create(params=params)
    return caught.value


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        ("usd", 10, "Amount must be at least $0.50 usd"),
        ("eur", 49, "Amount must be at least €0.50 eur"),
        ("jpy", 10, "Amount must be at least ¥50 jpy"),
        ("mxn", 999, "Amount must be at least $10.00 mxn"),
    ],
)
def test_a_link_under_its_currencys_minimum_is_amount_too_small(box: Box, currency, amount, message) -> None:
    box.emulator.set_account(default_currency=currency)
    error = refusal(box, price_params(currency, amount))

    assert error.http_status == 400
    body = error.json_body["error"]
    assert body["type"] == "invalid_request_error"
    assert body["code"] == "amount_too_small"
    assert body["doc_url"] == "https://stripe.com/docs/error-codes/amount-too-small"
    assert body["message"] == message
    assert "param" not in body  # a live answer quoted whole (EuroPython/epcon#1259) names none
    assert box.emulator.objects("payment_link") == [] and box.emulator.objects("price") == []


def test_the_total_counts_not_the_unit_amount(box: Box) -> None:
    assert box.client().v1.payment_links.create(params=price_params("usd", 25, quantity=2)).active
    assert refusal(box, price_params("usd", 24, quantity=2)).code == "amount_too_small"


def test_a_charge_in_another_currency_must_convert_to_the_settlement_minimum(box: Box) -> None:
    # ¥50 is JPY's own minimum, but the account settles in USD: about $0.33 is under $0.50.
    error = refusal(box, price_params("jpy", 50))
    assert error.code == "amount_too_small"
    assert error.json_body["error"]["message"] == (
        "Amount must convert to at least 50 cents. ¥50 converts to approximately $0.33."
    )
    # £0.30 is GBP's minimum, about $0.37 in USD.
    assert "Amount must convert to at least 50 cents" in str(refusal(box, price_params("gbp", 30)).user_message)
    assert box.client().v1.payment_links.create(params=price_params("jpy", 80)).active  # about $0.53


def test_the_same_link_amount_is_fine_on_an_account_settling_in_that_currency(box: Box) -> None:
    box.emulator.set_account(default_currency="jpy")
    assert box.client().v1.payment_links.create(params=price_params("jpy", 50)).active
    box.emulator.set_account(default_currency="aed")
    message = refusal(box, price_params("usd", 50)).json_body["error"]["message"]
    assert message == "Amount must convert to at least 200 fils. $0.50 converts to approximately د.إ1.83."


@pytest.mark.parametrize("currency", ["kwd", "bhd", "jod", "omr", "tnd"])
def test_three_decimal_amounts_must_end_in_zero(box: Box, currency) -> None:
    error = refusal(box, price_params(currency, 5124))
    assert error.http_status == 400 and error.code is None
    assert error.param == "line_items[0][price_data][unit_amount]"
    assert f"Amounts in {currency.upper()} must end in 0" in str(error.user_message)
    assert box.client().v1.payment_links.create(params=price_params(currency, 5120)).active


def test_a_link_made_before_the_account_changed_currency_can_no_longer_be_paid(box: Box) -> None:
    link = box.client().v1.payment_links.create(params=price_params("gbp", 60))  # about $0.76
    small = box.client().v1.payment_links.create(params=price_params("gbp", 40))  # about $0.51
    box.emulator.set_account(default_currency="czk")  # 15 Kč minimum: £0.60 is about 17 Kč, £0.40 about 11

    assert box.emulator.pay(link.url)["status"] == "succeeded"
    answer = box.control("POST", "/pay", json={"link": small.url})
    assert answer.status_code == 409
    assert answer.json()["error"].startswith("Amount must convert to at least 1500 ")  # its minor unit's name
    assert len(box.emulator.objects("checkout.session")) == 1  # the refused attempt made nothing


def test_the_control_api_sets_the_settlement_currency_and_the_account_shows_it(box: Box) -> None:
    answer = box.control("POST", "/account", json={"default_currency": "EUR"})
    assert answer.status_code == 200 and answer.json()["default_currency"] == "eur"
    assert box.client().v1.accounts.retrieve_current().default_currency == "eur"
    assert box.control("POST", "/account", json={"default_currency": "xyz"}).status_code == 400

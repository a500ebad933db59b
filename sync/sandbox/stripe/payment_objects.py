"""Builders for what a payment-link payment makes: Checkout Session, PaymentIntent, PaymentMethod,
Charge and BalanceTransaction, with the top-level keys of Stripe's official fixtures.

Key sets match `fixtures3.2026-08-21.json` (checked by `tests/sandbox/test_stripe_fixture_fidelity.py`);
values are what a card payment on a hosted payment-link page leaves, from the stripe-python 16.1.0
docstrings and real objects quoted in client code. A Charge has no `refunds` key: since API 2022-11-15
"The Charge object no longer auto-expands refunds" (docs.stripe.com/changelog/2022-11-15/
deprecates-charges-auto-expand); `expand[]=refunds` adds it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from .cards import Card

SESSION_LIFETIME_SECONDS = 24 * 3600  # "expires_at ... defaults to 24 hours" (CheckoutSessionCreateParams)
# Checkout collects the country and postal code of a card; the emulator's customer lives here.
BILLING_COUNTRY = "US"
BILLING_POSTAL_CODE = "42424"
# The emulator's account has no statement descriptor of its own; statements show this one.
ACCOUNT_DESCRIPTOR = "SANDBOX"


def _address(*, country: str | None = None, postal_code: str | None = None) -> dict[str, Any]:
    return {"city": None, "country": country, "line1": None, "line2": None, "postal_code": postal_code, "state": None}


def billing_details(*, email: str | None, name: str | None) -> dict[str, Any]:
    return {
        "address": _address(country=BILLING_COUNTRY, postal_code=BILLING_POSTAL_CODE),
        "email": email,
        "name": name,
        "phone": None,
        "tax_id": None,
    }


def _fingerprint(number: str) -> str:
    # Stable per card number, as Stripe's is per card within an account.
    return hashlib.sha256(number.encode()).hexdigest()[:16]


def _expiry(now: int) -> tuple[int, int]:
    # Test cards take "any future date"; the customer types December, four years ahead.
    return 12, datetime.fromtimestamp(now, tz=UTC).year + 4


def payment_method(
    card: Card, *, pm_id: str, livemode: bool, now: int, email: str | None, name: str | None
) -> dict[str, Any]:
    """The card PaymentMethod the hosted page creates for one attempt."""
    exp_month, exp_year = _expiry(now)
    return {
        "allow_redisplay": "unspecified",
        "billing_details": billing_details(email=email, name=name),
        "card": {
            "brand": card.brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
            "country": BILLING_COUNTRY,
            "display_brand": card.brand,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": _fingerprint(card.number),
            "funding": card.funding,
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
            "regulated_status": "unregulated",
        },
        "created": now,
        "customer": None,
        "id": pm_id,
        "livemode": livemode,
        "metadata": {},
        "object": "payment_method",
        "type": "card",
        "customer_account": None,
    }


def line_total(items: list[dict[str, Any]]) -> int:
    return sum(item["amount_total"] for item in items)


def checkout_session(
    link: dict[str, Any],
    items: list[dict[str, Any]],
    *,
    session_id: str,
    livemode: bool,
    now: int,
    url: str,
    email: str | None,
    name: str | None,
    client_reference_id: str | None,
) -> dict[str, Any]:
    """An open Checkout Session made by opening a payment link (`payment_link`, link metadata copied)."""
    total = line_total(items)
    after = link["after_completion"]
    automatic_tax = link["automatic_tax"]
    return {
        "after_expiration": None,
        "allow_promotion_codes": link["allow_promotion_codes"],
        "amount_subtotal": total,
        "amount_total": total,
        "automatic_tax": {
            "enabled": automatic_tax["enabled"],
            "liability": automatic_tax["liability"],
            "status": None,
            "provider": None,
        },
        "billing_address_collection": link["billing_address_collection"],
        "cancel_url": None,
        "client_reference_id": client_reference_id,
        "client_secret": None,
        "consent": None,
        "consent_collection": link["consent_collection"],
        "created": now,
        "currency": link["currency"],
        "custom_fields": [],
        "custom_text": link["custom_text"],
        "customer": None,
        "customer_creation": link["customer_creation"],
        "customer_details": {
            "address": _address(country=BILLING_COUNTRY, postal_code=BILLING_POSTAL_CODE),
            "email": email,
            "name": name,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
            "business_name": None,
            "individual_name": None,
        },
        "customer_email": None,
        "expires_at": now + SESSION_LIFETIME_SECONDS,
        "id": session_id,
        "invoice": None,
        "invoice_creation": link["invoice_creation"],
        "livemode": livemode,
        "locale": None,
        # "Metadata associated with this Payment Link will automatically be copied to checkout
        # sessions created by this payment link." (PaymentLinkCreateParams.metadata)
        "metadata": dict(link["metadata"]),
        "mode": "payment",
        "object": "checkout.session",
        # Since API 2022-08-01 Checkout creates the PaymentIntent when the customer submits.
        "payment_intent": None,
        "payment_link": link["id"],
        "payment_method_collection": link["payment_method_collection"],
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": list(link["payment_method_types"] or ["card"]),
        "payment_status": "unpaid",
        "phone_number_collection": link["phone_number_collection"],
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": link["shipping_address_collection"],
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": link["submit_type"],
        "subscription": None,
        "success_url": after["redirect"]["url"] if after["type"] == "redirect" else None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": url,
        "adaptive_pricing": {"enabled": False},
        "discounts": [],
        "collected_information": {"business_name": None, "individual_name": None, "shipping_details": None},
        "permissions": None,
        "wallet_options": None,
        "origin_context": None,
        "currency_conversion": None,
        "customer_account": None,
        "integration_identifier": None,
        "managed_payments": {"enabled": bool((link.get("managed_payments") or {}).get("enabled"))},
    }


def payment_intent(
    link: dict[str, Any], session: dict[str, Any], *, intent_id: str, client_secret: str, livemode: bool, now: int
) -> dict[str, Any]:
    """The PaymentIntent Checkout creates when the customer submits the payment form."""
    data = link["payment_intent_data"] or {}
    transfer = link["transfer_data"]
    return {
        "amount": session["amount_total"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": link["application_fee_amount"],
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        # Since API 2024-04-10 the default capture is `automatic_async`.
        "capture_method": data.get("capture_method") or "automatic_async",
        "client_secret": client_secret,
        "confirmation_method": "automatic",
        "created": now,
        "currency": session["currency"],
        "customer": None,
        "description": data.get("description"),
        "id": intent_id,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": livemode,
        # "payment_intent_data.metadata ... will declaratively set metadata on Payment Intents
        # generated from this payment link" (PaymentLinkCreateParamsPaymentIntentData).
        "metadata": dict(data.get("metadata") or {}),
        "next_action": None,
        "object": "payment_intent",
        "on_behalf_of": link["on_behalf_of"],
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": list(session["payment_method_types"]),
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": data.get("setup_future_usage"),
        "shipping": None,
        "statement_descriptor": data.get("statement_descriptor"),
        "statement_descriptor_suffix": data.get("statement_descriptor_suffix"),
        "status": "requires_payment_method",
        "transfer_data": None if transfer is None else {"destination": transfer["destination"]},
        "transfer_group": data.get("transfer_group"),
        "source": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": None,
    }


def calculated_descriptor(intent: dict[str, Any]) -> str:
    """What the customer's statement shows: the account's descriptor, `* suffix` when one is set."""
    if intent["statement_descriptor"]:
        return intent["statement_descriptor"][:22]
    suffix = intent["statement_descriptor_suffix"]
    return f"{ACCOUNT_DESCRIPTOR}* {suffix}"[:22] if suffix else ACCOUNT_DESCRIPTOR


def charge(
    intent: dict[str, Any],
    pm: dict[str, Any],
    card: Card,
    *,
    charge_id: str,
    now: int,
    receipt_url: str | None,
) -> dict[str, Any]:
    """One attempt's Charge: succeeded, or failed with the test card's decline."""
    decline = card.decline
    paid = decline is None
    cvc_check = "fail" if decline is not None and decline.code == "incorrect_cvc" else "pass"
    outcome = {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if paid else "declined_by_network",
        "reason": None if decline is None else decline.reason,
        "risk_level": "normal",
        "seller_message": "Payment complete." if decline is None else decline.seller_message,
        "type": "authorized" if paid else "issuer_declined",
    }
    amount = intent["amount"]
    pm_card = pm["card"]
    return {
        "amount": amount,
        "amount_captured": amount if paid else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": intent["application_fee_amount"],
        # Filled in by a `charge.updated` seconds later (asynchronous capture, API 2024-04-10).
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": calculated_descriptor(intent),
        "captured": paid,
        "created": now,
        "currency": intent["currency"],
        "customer": None,
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None if decline is None else decline.code,
        "failure_message": None if decline is None else decline.message,
        "fraud_details": {},
        "id": charge_id,
        "livemode": intent["livemode"],
        # Stripe does not copy PaymentIntent metadata on to its charges.
        "metadata": {},
        "object": "charge",
        "on_behalf_of": intent["on_behalf_of"],
        "outcome": outcome,
        "paid": paid,
        "payment_intent": intent["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": amount if paid else None,
                "brand": card.brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": "pass",
                    "cvc_check": cvc_check,
                },
                "country": pm_card["country"],
                "exp_month": pm_card["exp_month"],
                "exp_year": pm_card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": pm_card["fingerprint"],
                "funding": card.funding,
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card.last4,
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card.brand,
                "network_token": {"used": False},
                "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                "three_d_secure": None,
                "wallet": None,
                "authorization_code": "123456" if paid else None,
                "regulated_status": "unregulated",
                "network_transaction_id": None,
                "transaction_link_id": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": receipt_url,
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": intent["statement_descriptor"],
        "statement_descriptor_suffix": intent["statement_descriptor_suffix"],
        "status": "succeeded" if paid else "failed",
        "transfer_data": None,
        "transfer_group": intent["transfer_group"],
        "source": None,
    }


def last_payment_error(failed: dict[str, Any], pm: dict[str, Any], card: Card) -> dict[str, Any]:
    """The PaymentIntent's `last_payment_error` after a declined attempt (the PaymentMethod inline)."""
    decline = card.decline
    assert decline is not None
    error: dict[str, Any] = {"charge": failed["id"], "code": decline.code}
    if decline.decline_code is not None:
        error["decline_code"] = decline.decline_code
    error["doc_url"] = "https://stripe.com/docs/error-codes/" + decline.code.replace("_", "-")
    error["message"] = decline.message
    if decline.param is not None:
        error["param"] = decline.param
    error["payment_method"] = pm
    error["type"] = "card_error"
    return error


def balance_transaction(
    *,
    txn_id: str,
    amount: int,
    currency: str,
    now: int,
    source: str,
    type: str,
    reporting_category: str,
    description: str | None,
) -> dict[str, Any]:
    """A BalanceTransaction; fees are not modelled (`fee` 0), funds available at once."""
    return {
        "amount": amount,
        "available_on": now,
        "created": now,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "id": txn_id,
        "net": amount,
        "object": "balance_transaction",
        "reporting_category": reporting_category,
        "source": source,
        "status": "available",
        "type": type,
        "balance_type": "payments",
    }

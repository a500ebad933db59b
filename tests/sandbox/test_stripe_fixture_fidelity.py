"""The emulator's shapes against what we did not write: Stripe's official fixtures and stripe-python.

The fixtures live outside the repository (`../shared/stripe-openapi/`); those tests skip without
them. The parameter-name tests read the installed stripe-python 16.1.0 TypedDicts.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import stripe
import typing_extensions
from stripe.params import (
    ChargeListParams,
    ChargeRetrieveParams,
    DisputeListParams,
    DisputeRetrieveParams,
    EventListParams,
    PaymentIntentListParams,
    PaymentIntentRetrieveParams,
    PaymentLinkCreateParams,
    PaymentLinkListLineItemsParams,
    PaymentLinkListParams,
    PaymentLinkRetrieveParams,
    PaymentLinkUpdateParams,
    RefundCreateParams,
    RefundListParams,
    RefundRetrieveParams,
    RefundUpdateParams,
)
from stripe.params.checkout import SessionExpireParams, SessionListParams, SessionRetrieveParams

from sync.sandbox.clock import SandboxClock
from sync.sandbox.httpserver import SandboxServer
from sync.sandbox.stripe import StripeEmulator, param_specs
from sync.sandbox.stripe.schema import Arr, Bool, Dec, Float, Int, IntOrRange, Metadata, Obj, Spec, Str

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "stripe-openapi" / "fixtures3.2026-08-21.json"
KEY = "sk_test_FixtureFidelityKey000000000001"


@pytest.fixture(scope="module")
def fixtures() -> dict[str, Any]:
    if not FIXTURES.exists():
        pytest.skip(f"official Stripe fixtures not found at {FIXTURES} (the shared reference folder is absent)")
    return json.loads(FIXTURES.read_text())["resources"]


@pytest.fixture(scope="module")
def made() -> Iterator[dict[str, Any]]:
    """One of each object the emulator makes, with every sub-object we fill set to a value."""
    emulator = StripeEmulator(clock=SandboxClock())
    emulator.add_api_key(KEY)
    server = SandboxServer(emulator.app).start()
    emulator.base_url = server.url
    try:
        client = stripe.StripeClient(KEY, base_addresses={"api": server.url})
        link = client.v1.payment_links.create(params=_everything_link())
        client.v1.payment_links.update(link.id, params={"active": False})
        recurring = client.v1.payment_links.create(params=_subscription_link())
        item = client.v1.payment_links.line_items.list(link.id).data[0]
        made = {
            "payment_link": link.to_dict(),
            "subscription_link": recurring.to_dict(),
            "item": item.to_dict(),
            "price": client.v1.prices.retrieve(item.price.id).to_dict(),
            "recurring_price": client.v1.payment_links.line_items.list(recurring.id).data[0].price.to_dict(),
            "product": client.v1.products.retrieve(item.price.product).to_dict(),
            "account": client.v1.accounts.retrieve_current().to_dict(),
            "events": [event.to_dict() for event in client.v1.events.list().data],
        }
        made.update(_payments(emulator, client))
        yield made
    finally:
        server.stop()


def _payments(emulator: StripeEmulator, client: stripe.StripeClient) -> dict[str, Any]:
    """A declined then successful payment on a link with every option, refunds, and a dispute."""
    link = client.v1.payment_links.create(params=_everything_link())
    declined = emulator.pay(link.url, card="4000000000000002")
    failed_intent = client.v1.payment_intents.retrieve(declined["payment_intent"]["id"]).to_dict()
    paid = emulator.pay(link.url)
    refund = client.v1.refunds.create(params={"charge": paid["charge"]["id"], "amount": 100, "metadata": {"a": "b"}})
    pending = emulator.refund(paid["charge"]["id"], amount=100, status="pending")["refund"]["id"]
    pending_body = client.v1.refunds.retrieve(pending).to_dict()
    emulator.fail_refund(pending)
    dispute = emulator.dispute(paid["charge"]["id"])["dispute"]["id"]
    emulator.close_dispute(dispute, won=True)
    session = client.v1.checkout.sessions.retrieve(paid["checkout_session"]["id"])
    abandoned = emulator.pay(client.v1.payment_links.create(params=_everything_link()).url, card="4000000000000002")
    expired = client.v1.checkout.sessions.expire(abandoned["checkout_session"]["id"])
    return {
        "checkout.session": session.to_dict(),
        "expired_session": expired.to_dict(),
        "payment_intent": client.v1.payment_intents.retrieve(paid["payment_intent"]["id"]).to_dict(),
        "failed_intent": failed_intent,
        "charge": client.v1.charges.retrieve(paid["charge"]["id"]).to_dict(),
        "expanded_charge": client.v1.charges.retrieve(paid["charge"]["id"], params={"expand": ["refunds"]}).to_dict(),
        "failed_charge": client.v1.charges.retrieve(declined["charge"]["id"]).to_dict(),
        "refund": refund.to_dict(),
        "pending_refund": pending_body,
        "failed_refund": client.v1.refunds.retrieve(pending).to_dict(),
        "dispute": client.v1.disputes.retrieve(dispute).to_dict(),
        "payment_events": [event.to_dict() for event in client.v1.events.list(params={"limit": 100}).data],
    }


def _everything_link() -> dict[str, Any]:
    issuer = {"type": "self"}
    return {
        "line_items": [
            {
                "quantity": 1,
                "price_data": {"currency": "usd", "unit_amount": 5000, "product_data": {"name": "Deposit"}},
                "adjustable_quantity": {"enabled": True, "maximum": 3},
            }
        ],
        "after_completion": {
            "type": "hosted_confirmation",
            "hosted_confirmation": {"custom_message": "Thanks"},
        },
        "automatic_tax": {"enabled": True, "liability": issuer},
        "consent_collection": {
            "payment_method_reuse_agreement": {"position": "hidden"},
            "promotions": "auto",
            "terms_of_service": "none",
        },
        "custom_text": {
            key: {"message": "m"}
            for key in ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")
        },
        "invoice_creation": {
            "enabled": True,
            "invoice_data": {
                "account_tax_ids": ["txr_1"],
                "custom_fields": [{"name": "n", "value": "v"}],
                "description": "d",
                "footer": "f",
                "issuer": issuer,
                "metadata": {"a": "b"},
                "rendering_options": {"amount_tax_display": "exclude_tax", "template": "t"},
            },
        },
        "managed_payments": {"enabled": True},
        "metadata": {"crm": "1"},
        "payment_intent_data": {
            "capture_method": "automatic",
            "description": "d",
            "metadata": {"crm": "1"},
            "setup_future_usage": "off_session",
            "statement_descriptor": "DEPOSIT",
            "statement_descriptor_suffix": "DEP",
            "transfer_group": "g",
        },
        "payment_method_options": {"card": {"restrictions": {"brands_blocked": ["visa"]}}},
        "phone_number_collection": {"enabled": True},
        "restrictions": {"completed_sessions": {"limit": 1}},
        "shipping_address_collection": {"allowed_countries": ["US"]},
        "tax_id_collection": {"enabled": True, "required": "if_supported"},
        "transfer_data": {"destination": "acct_1Destination00000", "amount": 10},
    }


def _subscription_link() -> dict[str, Any]:
    return {
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 900,
                    "recurring": {"interval": "month"},
                    "product_data": {"name": "Plan"},
                },
            }
        ],
        "subscription_data": {
            "description": "d",
            "metadata": {"a": "b"},
            "trial_period_days": 7,
            "trial_settings": {"end_behavior": {"missing_payment_method": "cancel"}},
        },
    }


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every key in nested hashes; metadata contents are data, not shape."""
    if not isinstance(value, dict):
        return set()
    paths = set()
    for key, sub in value.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if key != "metadata":
            paths |= key_paths(sub, path + ".")
    return paths


def assert_same_shape(ours: dict[str, Any], official: dict[str, Any], nested: tuple[str, ...]) -> None:
    assert sorted(ours) == sorted(official)
    for key in nested:
        assert isinstance(ours[key], dict), f"{key} was not filled in"
        assert key_paths(ours[key]) == key_paths(official[key]), key


def test_payment_link_has_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    nested = (
        "after_completion",
        "automatic_tax",
        "consent_collection",
        "custom_text",
        "invoice_creation",
        "managed_payments",
        "payment_intent_data",
        "payment_method_options",
        "phone_number_collection",
        "restrictions",
        "tax_id_collection",
    )
    assert_same_shape(made["payment_link"], fixtures["payment_link"], nested)
    assert sorted(made["payment_link"]["transfer_data"]) == sorted(fixtures["payment_link"]["transfer_data"])
    assert_same_shape(made["subscription_link"], fixtures["payment_link"], ("subscription_data",))


def test_price_and_product_have_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    assert_same_shape(made["price"], fixtures["price"], ())
    assert_same_shape(made["recurring_price"], fixtures["price"], ("recurring",))
    assert_same_shape(made["product"], fixtures["product"], ())


def test_line_item_has_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    assert_same_shape(made["item"], fixtures["item"], ("adjustable_quantity",))
    assert sorted(made["item"]["price"]) == sorted(fixtures["item"]["price"])


def test_account_has_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    nested = (
        "capabilities",
        "controller",
        "external_accounts",
        "future_requirements",
        "requirements",
        "settings",
    )
    assert_same_shape(made["account"], fixtures["account"], (*nested, "tos_acceptance"))
    assert sorted(made["account"]["business_profile"]) == sorted(fixtures["account"]["business_profile"])


def test_events_have_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    by_type = {event["type"]: event for event in made["events"]}
    created, updated = by_type["payment_link.created"], by_type["payment_link.updated"]
    assert_same_shape(created, fixtures["event"], ("request",))
    assert sorted(created["data"]) == sorted(fixtures["event"]["data"])  # the fixture's object is a plan
    assert sorted(updated) == sorted(fixtures["event"])
    assert sorted(updated["data"]) == ["object", "previous_attributes"]
    assert sorted(created["data"]["object"]) == sorted(fixtures["payment_link"])


# --- payments: sessions, intents, charges, refunds, disputes and their events ------------------


def sdk_fields(resource: type) -> set[str]:
    """The attributes a stripe-python resource class declares (its documented response fields)."""
    return {name for name in resource.__annotations__ if not name.isupper()}


def test_checkout_session_has_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    nested = (
        "automatic_tax",
        "consent_collection",
        "custom_text",
        "customer_details",
        "invoice_creation",
        "phone_number_collection",
        "shipping_address_collection",
        "total_details",
        "adaptive_pricing",
        "managed_payments",
    )
    official = fixtures["checkout.session"]
    for session in (made["checkout.session"], made["expired_session"]):
        assert_same_shape(session, official, nested)
        assert sorted(session["collected_information"]) == sorted(official["collected_information"])


def test_payment_intent_has_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    official = fixtures["payment_intent"]
    assert_same_shape(made["payment_intent"], official, ("amount_details",))
    assert sorted(made["payment_intent"]["transfer_data"]) == sorted(official["transfer_data"])
    failed = made["failed_intent"]
    assert sorted(failed) == sorted(official)
    error = failed["last_payment_error"]
    assert set(error) <= sdk_fields(stripe.PaymentIntent.LastPaymentError)
    assert {"charge", "code", "decline_code", "doc_url", "message", "payment_method", "type"} <= set(error)
    assert_same_shape(error["payment_method"], fixtures["payment_method"], ("billing_details",))
    assert sorted(error["payment_method"]["card"]) == sorted(fixtures["payment_method"]["card"])


def test_charge_has_the_fixture_keys_and_refunds_only_when_expanded(
    made: dict[str, Any], fixtures: dict[str, Any]
) -> None:
    official = fixtures["charge"]
    for charge in (made["charge"], made["failed_charge"]):
        # The fixture shows `refunds`; since API 2022-11-15 it is there only when expanded.
        assert sorted(charge) == sorted(set(official) - {"refunds"})
        assert key_paths(charge["billing_details"]) == key_paths(official["billing_details"])
        assert sorted(charge["payment_method_details"]["card"]) == sorted(official["payment_method_details"]["card"])
        # Real card charges also carry Radar's `risk_level`, which the fixture leaves out.
        assert set(official["outcome"]) <= set(charge["outcome"]) <= sdk_fields(stripe.Charge.Outcome)
    expanded = made["expanded_charge"]
    assert sorted(expanded) == sorted(official)
    assert sorted(expanded["refunds"]) == sorted(official["refunds"])
    assert sorted(expanded["refunds"]["data"][-1]) == sorted(fixtures["refund"])  # the succeeded one


def test_refund_has_the_fixture_keys_and_state_keys_only_in_that_state(
    made: dict[str, Any], fixtures: dict[str, Any]
) -> None:
    official = fixtures["refund"]
    assert_same_shape(made["refund"], official, ("destination_details",))
    assert set(made["pending_refund"]) == set(official) | {"pending_reason"}
    assert set(made["failed_refund"]) == set(official) | {"failure_reason", "failure_balance_transaction"}
    assert set(made["failed_refund"]) <= sdk_fields(stripe.Refund)


def test_dispute_has_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    dispute = made["dispute"]
    assert_same_shape(dispute, fixtures["dispute"], ("evidence", "evidence_details", "payment_method_details"))
    assert [sorted(t) for t in dispute["balance_transactions"]] == [sorted(fixtures["balance_transaction"])] * 2


def test_payment_events_have_the_fixture_keys(made: dict[str, Any], fixtures: dict[str, Any]) -> None:
    objects = {
        "checkout.session": fixtures["checkout.session"],
        "payment_intent": fixtures["payment_intent"],
        "charge": {k: v for k, v in fixtures["charge"].items() if k != "refunds"},
        "refund": fixtures["refund"],
        "dispute": fixtures["dispute"],
        "payment_link": fixtures["payment_link"],
    }
    seen = set()
    for event in made["payment_events"]:
        assert sorted(event) == sorted(fixtures["event"]), event["type"]
        assert sorted(event["request"]) == sorted(fixtures["event"]["request"])
        expected = ["object", "previous_attributes"] if event["type"].endswith(".updated") else ["object"]
        if event["type"] == "charge.refunded":
            expected = ["object", "previous_attributes"]
        assert sorted(event["data"]) == expected, event["type"]
        body = event["data"]["object"]
        state_keys = (
            {"pending_reason", "failure_reason", "failure_balance_transaction"} if body["object"] == "refund" else set()
        )
        assert set(body) - state_keys == set(objects[body["object"]]), event["type"]
        seen.add(event["type"])
    assert {
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
        "checkout.session.expired",
        "charge.updated",
        "refund.created",
        "charge.refunded",
        "refund.failed",
        "refund.updated",
        "charge.refund.updated",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    } <= seen
    # Every type recorded is one Stripe defines (stripe-python's list of event types).
    assert seen <= set(typing.get_args(typing.get_type_hints(stripe.Event)["type"]))


# --- parameter names against stripe-python's TypedDicts ---------------------------------------


def _hints(typed_dict: type) -> dict[str, Any]:
    local = {"StripeContext": object, "Mapping": typing.Mapping, "Any": typing.Any}
    hints = typing.get_type_hints(typed_dict, localns=local)
    options = typing.get_type_hints(stripe.RequestOptions, localns=local)
    if typed_dict.__name__.endswith("Params") and set(options) <= set(hints):
        hints = {k: v for k, v in hints.items() if k not in options}
    return hints


def _parts(hint: Any) -> tuple[bool, list[Any]]:
    """Split an annotation into (accepts "", the other alternatives)."""
    while typing.get_origin(hint) in (typing_extensions.NotRequired, typing_extensions.Required):
        hint = typing.get_args(hint)[0]
    options = list(typing.get_args(hint)) if typing.get_origin(hint) in (typing.Union,) else [hint]
    flattened = []
    for option in options:
        flattened.extend(typing.get_args(option) if typing.get_origin(option) is typing.Union else [option])
    empty = [o for o in flattened if typing.get_origin(o) is typing.Literal and typing.get_args(o) == ("",)]
    return bool(empty), [o for o in flattened if o not in empty]


def _compare(spec: Spec, hint: Any, path: str) -> None:
    emptyable, options = _parts(hint)
    if isinstance(spec, IntOrRange):
        return
    if not isinstance(spec, Metadata):  # Stripe documents `metadata=""` as "unset all" on create too
        assert getattr(spec, "emptyable", False) == emptyable, f"{path}: emptyable"
    typed = [o for o in options if typing_extensions.is_typeddict(o)]
    lists = [o for o in options if typing.get_origin(o) in (list, typing.List)]  # noqa: UP006
    if typed:
        assert isinstance(spec, Obj), path
        _compare_obj(spec, typed[0], path)
    elif lists:
        assert isinstance(spec, Arr), path
        _compare(spec.item, typing.get_args(lists[0])[0], path + "[]")
    elif any(typing.get_origin(o) is dict or o is dict for o in options):
        assert isinstance(spec, Metadata), path
    else:
        literals = [v for o in options if typing.get_origin(o) is typing.Literal for v in typing.get_args(o)]
        kinds = {o for o in options if isinstance(o, type)} | ({str} if literals else set())
        expected = {int: Int, bool: Bool, float: Float, Decimal: Dec, str: Str}
        assert any(isinstance(spec, expected[k]) for k in kinds), f"{path}: {kinds} vs {spec}"
        if literals and isinstance(spec, Str) and len(literals) < 100:
            assert spec.enum is not None and set(spec.enum) == set(literals), path


def _compare_obj(spec: Obj, typed_dict: type, path: str) -> None:
    hints = _hints(typed_dict)
    assert set(spec.fields) == set(hints), f"{path or 'top level'}: names differ"
    assert set(spec.required) == set(typed_dict.__required_keys__) & set(hints), f"{path}: required differ"
    for name, sub in spec.fields.items():
        _compare(sub, hints[name], f"{path}[{name}]" if path else name)


@pytest.mark.parametrize(
    ("spec", "typed_dict"),
    [
        (param_specs.PAYMENT_LINK_CREATE, PaymentLinkCreateParams),
        (param_specs.PAYMENT_LINK_UPDATE, PaymentLinkUpdateParams),
        (param_specs.PAYMENT_LINK_LIST, PaymentLinkListParams),
        (param_specs.PAYMENT_LINK_LINE_ITEMS, PaymentLinkListLineItemsParams),
        (param_specs.RETRIEVE, PaymentLinkRetrieveParams),
        (param_specs.EVENT_LIST, EventListParams),
        (param_specs.CHECKOUT_SESSION_LIST, SessionListParams),
        (param_specs.RETRIEVE, SessionRetrieveParams),
        (param_specs.CHECKOUT_SESSION_EXPIRE, SessionExpireParams),
        (param_specs.PAYMENT_INTENT_RETRIEVE, PaymentIntentRetrieveParams),
        (param_specs.PAYMENT_INTENT_LIST, PaymentIntentListParams),
        (param_specs.RETRIEVE, ChargeRetrieveParams),
        (param_specs.CHARGE_LIST, ChargeListParams),
        (param_specs.REFUND_CREATE, RefundCreateParams),
        (param_specs.REFUND_UPDATE, RefundUpdateParams),
        (param_specs.REFUND_LIST, RefundListParams),
        (param_specs.RETRIEVE, RefundRetrieveParams),
        (param_specs.DISPUTE_LIST, DisputeListParams),
        (param_specs.RETRIEVE, DisputeRetrieveParams),
    ],
)
def test_accepts_exactly_the_parameters_stripe_python_declares(spec: Obj, typed_dict: type) -> None:
    _compare_obj(spec, typed_dict, "")

"""Builders for the JSON objects the emulator returns, with the keys of Stripe's official fixtures.

Key sets match `fixtures3.2026-08-21.json` in stripe/openapi (checked by
`tests/sandbox/test_stripe_fixture_fidelity.py`). Defaults for parameters the caller left out are
what Stripe documents as defaults in the stripe-python 16.1.0 docstrings.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from .schema import UNSET


def drop_unset(value: Any) -> Any:
    """Replace UNSET leaves (a posted empty string) by None, recursively."""
    if value is UNSET:
        return None
    if isinstance(value, dict):
        return {k: drop_unset(v) for k, v in value.items()}
    if isinstance(value, list):
        return [drop_unset(v) for v in value]
    return value


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Apply a metadata update: keys merge, `key=""` deletes a key, `metadata=""` clears all."""
    if update is UNSET:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value is UNSET:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def product(data: dict[str, Any], *, product_id: str, livemode: bool, now: int) -> dict[str, Any]:
    """A Product made by `price_data.product_data`."""
    return {
        "active": True,
        "created": now,
        "default_price": None,
        "description": data.get("description"),
        "id": product_id,
        "images": list(data.get("images") or []),
        "livemode": livemode,
        "marketing_features": [],
        "metadata": merge_metadata({}, data.get("metadata") or {}),
        "name": data["name"],
        "object": "product",
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": data.get("tax_code"),
        "unit_label": data.get("unit_label"),
        "updated": now,
        "url": None,
        # Products made inline have no goods/service choice; Stripe reports the legacy default.
        "type": "service",
    }


def price(data: dict[str, Any], *, price_id: str, product_id: str, livemode: bool, now: int) -> dict[str, Any]:
    """A Price made by `line_items[].price_data` (an inline price)."""
    if "unit_amount" in data:
        unit_amount: int | None = data["unit_amount"]
        decimal: str | None = str(unit_amount)
    else:
        exact = Decimal(data["unit_amount_decimal"]).normalize()
        unit_amount = int(exact) if exact == exact.to_integral_value() else None
        decimal = format(exact, "f")
    recurring = data.get("recurring")
    return {
        # Inline prices cannot be reused, so Stripe creates them inactive (recalled, not confirmed).
        "active": False,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": data["currency"],
        "custom_unit_amount": None,
        "id": price_id,
        "livemode": livemode,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "object": "price",
        "product": product_id,
        "recurring": None
        if recurring is None
        else {
            "interval": recurring["interval"],
            "interval_count": recurring.get("interval_count", 1),
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        },
        "tax_behavior": data.get("tax_behavior", "unspecified"),
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if recurring is None else "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": decimal,
    }


def line_item(
    *, item_id: str, price_obj: dict[str, Any], product_name: str, quantity: int, adjustable: Any
) -> dict[str, Any]:
    """A payment link's line item (`object: "item"`), with its price embedded as Stripe shows it."""
    unit = price_obj["unit_amount"] or 0
    return {
        "adjustable_quantity": None
        if not adjustable
        else {
            "enabled": adjustable["enabled"],
            "maximum": adjustable.get("maximum"),
            "minimum": adjustable.get("minimum"),
        },
        "amount_discount": 0,
        "amount_subtotal": unit * quantity,
        "amount_tax": 0,
        "amount_total": unit * quantity,
        "currency": price_obj["currency"],
        "description": product_name,
        "id": item_id,
        "metadata": None,
        "object": "item",
        "price": price_obj,
        "quantity": quantity,
    }


def payment_link(
    params: dict[str, Any], *, link_id: str, livemode: bool, url: str, currency: str, recurring: bool
) -> dict[str, Any]:
    """A new Payment Link from validated create params (`line_items` are kept apart)."""
    p = drop_unset(params)
    link = {
        "active": True,
        "after_completion": _after_completion(p.get("after_completion")),
        "allow_promotion_codes": p.get("allow_promotion_codes", False),
        "application": None,
        "application_fee_amount": p.get("application_fee_amount"),
        "application_fee_percent": p.get("application_fee_percent"),
        "automatic_tax": _automatic_tax(p.get("automatic_tax")),
        "billing_address_collection": p.get("billing_address_collection", "auto"),
        "consent_collection": _consent_collection(p.get("consent_collection")),
        "currency": currency,
        "custom_fields": _custom_fields(p.get("custom_fields")),
        "custom_text": _custom_text(p.get("custom_text")),
        "customer_creation": p.get("customer_creation", "if_required"),
        "id": link_id,
        "inactive_message": p.get("inactive_message"),
        "invoice_creation": _invoice_creation(p.get("invoice_creation")),
        "livemode": livemode,
        "metadata": merge_metadata({}, params.get("metadata") or {}),
        "object": "payment_link",
        "on_behalf_of": p.get("on_behalf_of"),
        "payment_intent_data": _payment_intent_data(None, params.get("payment_intent_data")),
        "payment_method_collection": p.get("payment_method_collection", "always"),
        "payment_method_types": p.get("payment_method_types"),
        "phone_number_collection": {"enabled": (p.get("phone_number_collection") or {}).get("enabled", False)},
        "restrictions": _restrictions(p.get("restrictions"), count=0),
        "shipping_address_collection": p.get("shipping_address_collection"),
        "shipping_options": [],
        "submit_type": p.get("submit_type", "auto"),
        "subscription_data": _subscription_data(p.get("subscription_data")) if recurring else None,
        "tax_id_collection": _tax_id_collection(p.get("tax_id_collection")),
        "transfer_data": _transfer_data(p.get("transfer_data")),
        "url": url,
        "managed_payments": p.get("managed_payments") and {"enabled": p["managed_payments"].get("enabled", False)},
        "payment_method_options": _payment_method_options(p.get("payment_method_options")),
    }
    return link


def updated_payment_link(link: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Apply validated update params to a stored link and return the new object."""
    new = copy.deepcopy(link)
    p = drop_unset(params)
    simple = (
        "active",
        "allow_promotion_codes",
        "application_fee_amount",
        "application_fee_percent",
        "billing_address_collection",
        "customer_creation",
        "inactive_message",
        "on_behalf_of",
        "payment_method_collection",
        "payment_method_types",
        "shipping_address_collection",
        "submit_type",
    )
    for key in simple:
        if key in params:
            new[key] = p[key]
    builders = {
        "after_completion": _after_completion,
        "automatic_tax": _automatic_tax,
        "consent_collection": _consent_collection,
        "custom_fields": _custom_fields,
        "custom_text": _custom_text,
        "invoice_creation": _invoice_creation,
        "tax_id_collection": _tax_id_collection,
        "transfer_data": _transfer_data,
        "payment_method_options": _payment_method_options,
    }
    for key, build in builders.items():
        if key in params:
            new[key] = build(p[key])
    if "metadata" in params:
        new["metadata"] = merge_metadata(link["metadata"], params["metadata"])
    if "payment_intent_data" in params:
        new["payment_intent_data"] = _payment_intent_data(link["payment_intent_data"], params["payment_intent_data"])
    if "phone_number_collection" in params:
        new["phone_number_collection"] = {"enabled": p["phone_number_collection"]["enabled"]}
    if "restrictions" in params:
        count = (link["restrictions"] or {}).get("completed_sessions", {}).get("count", 0)
        new["restrictions"] = _restrictions(p["restrictions"], count=count)
    if "subscription_data" in params and link["subscription_data"] is not None:
        new["subscription_data"] = _subscription_data({**link["subscription_data"], **p["subscription_data"]})
    return new


def _after_completion(value: dict[str, Any] | None) -> dict[str, Any]:
    if value is None or value["type"] == "hosted_confirmation":
        message = ((value or {}).get("hosted_confirmation") or {}).get("custom_message")
        return {"hosted_confirmation": {"custom_message": message}, "type": "hosted_confirmation"}
    return {"redirect": {"url": value["redirect"]["url"]}, "type": "redirect"}


def _automatic_tax(value: dict[str, Any] | None) -> dict[str, Any]:
    value = value or {"enabled": False}
    liability = value.get("liability")
    if value["enabled"] and liability is None:
        liability = {"type": "self"}
    return {"enabled": value["enabled"], "liability": liability}


def _consent_collection(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "payment_method_reuse_agreement": value.get("payment_method_reuse_agreement"),
        "promotions": value.get("promotions"),
        "terms_of_service": value.get("terms_of_service"),
    }


def _custom_fields(value: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    fields = []
    for item in value or []:
        kind = item["type"]
        entry: dict[str, Any] = {
            "dropdown": None,
            "key": item["key"],
            "label": item["label"],
            "numeric": None,
            "optional": item.get("optional", False),
            "text": None,
            "type": kind,
        }
        config = item.get(kind) or {}
        if kind == "dropdown":
            entry["dropdown"] = {
                "default_value": config.get("default_value"),
                "options": config.get("options", []),
            }
        else:
            entry[kind] = {
                "default_value": config.get("default_value"),
                "maximum_length": config.get("maximum_length"),
                "minimum_length": config.get("minimum_length"),
            }
        fields.append(entry)
    return fields


def _custom_text(value: dict[str, Any] | None) -> dict[str, Any]:
    value = value or {}
    return {
        key: (value.get(key) or None) and {"message": value[key]["message"]}
        for key in ("after_submit", "shipping_address", "submit", "terms_of_service_acceptance")
    }


def _invoice_creation(value: dict[str, Any] | None) -> dict[str, Any]:
    value = value or {"enabled": False}
    data = value.get("invoice_data") or {}
    return {
        "enabled": value["enabled"],
        "invoice_data": {
            "account_tax_ids": data.get("account_tax_ids"),
            "custom_fields": data.get("custom_fields"),
            "description": data.get("description"),
            "footer": data.get("footer"),
            "issuer": data.get("issuer"),
            "metadata": {k: v for k, v in (data.get("metadata") or {}).items() if v is not None},
            "rendering_options": data.get("rendering_options"),
        },
    }


_PAYMENT_INTENT_FIELDS = (
    "capture_method",
    "description",
    "setup_future_usage",
    "statement_descriptor",
    "statement_descriptor_suffix",
    "transfer_group",
)


def _payment_intent_data(current: dict[str, Any] | None, update: dict[str, Any] | None) -> dict[str, Any] | None:
    if update is None:
        return current
    base = current or {key: None for key in _PAYMENT_INTENT_FIELDS} | {"metadata": {}}
    result = dict(base)
    for key in _PAYMENT_INTENT_FIELDS:
        if key in update:
            result[key] = drop_unset(update[key])
    if "metadata" in update:
        # "Unlike object-level metadata, this field is declarative. Updates will clear prior values."
        # (stripe-python PaymentLinkUpdateParamsPaymentIntentData.metadata)
        new = update["metadata"]
        result["metadata"] = {} if new is UNSET else {k: v for k, v in new.items() if v is not UNSET}
    return {key: result[key] for key in ("capture_method", "description", "metadata", *_PAYMENT_INTENT_FIELDS[2:])}


def _restrictions(value: dict[str, Any] | None, *, count: int) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"completed_sessions": {"count": count, "limit": value["completed_sessions"]["limit"]}}


def _subscription_data(value: dict[str, Any] | None) -> dict[str, Any]:
    value = value or {}
    settings = value.get("invoice_settings") or {}
    return {
        "description": value.get("description"),
        "invoice_settings": {"issuer": settings.get("issuer") or {"type": "self"}},
        "metadata": {k: v for k, v in (value.get("metadata") or {}).items() if v is not None},
        "trial_period_days": value.get("trial_period_days"),
        "trial_settings": value.get("trial_settings"),
    }


def _tax_id_collection(value: dict[str, Any] | None) -> dict[str, Any]:
    value = value or {"enabled": False}
    return {"enabled": value["enabled"], "required": value.get("required", "never")}


def _transfer_data(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"amount": value.get("amount"), "destination": value["destination"]}


def _payment_method_options(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value or not value.get("card"):
        return None
    restrictions = value["card"].get("restrictions") or {}
    return {"card": {"restrictions": {"brands_blocked": restrictions.get("brands_blocked")}}}

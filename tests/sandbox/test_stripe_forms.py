"""Stripe form decoding and parameter coercion, fed by stripe-python's own encoder."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from sync.sandbox.stripe import errors
from sync.sandbox.stripe.forms import FormError, decode_form
from sync.sandbox.stripe.param_specs import PAYMENT_LINK_CREATE, PAYMENT_LINK_UPDATE
from sync.sandbox.stripe.schema import UNSET, Arr, Bool, Int, Metadata, Str, check, obj


def sdk_encode(params: dict[str, Any]) -> str:
    """Encode exactly as stripe-python's `_api_requestor` does before sending."""
    return urlencode(list(_api_encode(params))).replace("%5B", "[").replace("%5D", "]")


@pytest.mark.parametrize(
    ("params", "decoded"),
    [
        ({"active": False}, {"active": "false"}),
        ({"limit": 3}, {"limit": "3"}),
        ({"metadata": {"crm_id": "a0X 1&2=3"}}, {"metadata": {"crm_id": "a0X 1&2=3"}}),
        (
            {"restrictions": {"completed_sessions": {"limit": 1}}},
            {"restrictions": {"completed_sessions": {"limit": "1"}}},
        ),
        (
            {"line_items": [{"quantity": 2, "price_data": {"currency": "usd", "product_data": {"name": "A"}}}]},
            {"line_items": [{"quantity": "2", "price_data": {"currency": "usd", "product_data": {"name": "A"}}}]},
        ),
        ({"types": ["a.b", "c.d"]}, {"types": ["a.b", "c.d"]}),
        ({"expand": ["line_items"]}, {"expand": ["line_items"]}),
        ({"inactive_message": ""}, {"inactive_message": ""}),
        ({"metadata": ""}, {"metadata": ""}),
        (
            {"metadata": {"0": "x", "1": "y"}},
            {"metadata": ["x", "y"]},
        ),  # indexed-looking hashes read as lists
    ],
)
def test_decodes_what_stripe_python_sends(params: dict[str, Any], decoded: dict[str, Any]) -> None:
    assert decode_form(sdk_encode(params)) == decoded


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("types[]=a&types[]=b", {"types": ["a", "b"]}),
        ("a[][x]=1&a[][y]=2&a[][x]=3", {"a": [{"x": "1", "y": "2"}, {"x": "3"}]}),
        ("a=1&a=2", {"a": "2"}),
        ("a[2]=z&a[0]=x&a[1]=y", {"a": ["x", "y", "z"]}),
        ("a[1]=y", {"a": {"1": "y"}}),
        ("created[gte]=5&created[lt]=9", {"created": {"gte": "5", "lt": "9"}}),
        (b"name=caf%C3%A9", {"name": "café"}),
    ],
)
def test_decodes_rack_style_forms(raw: str | bytes, decoded: dict[str, Any]) -> None:
    assert decode_form(raw) == decoded


@pytest.mark.parametrize("raw", ["a=1&a[b]=2", "a[b]=2&a=1", "a[b]=1&a[]=2"])
def test_rejects_a_name_used_as_value_and_hash(raw: str) -> None:
    with pytest.raises(FormError):
        decode_form(raw)


_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_leaves = st.text(min_size=1, max_size=20)
_values = st.recursive(
    _leaves,
    lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(_keys, inner, min_size=1, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_keys, _values, min_size=1, max_size=4))
def test_round_trips_anything_stripe_python_encodes(params: dict[str, Any]) -> None:
    assert decode_form(sdk_encode(params)) == params


SPEC = obj(
    ("name",),
    name=Str(max_length=5),
    count=Int(minimum=1, maximum=100),
    flag=Bool(),
    kind=Str(enum=("a", "b", "c")),
    items=Arr(obj(("qty",), qty=Int()), max_items=2),
    note=Str(emptyable=True),
    metadata=Metadata(),
)


@pytest.mark.parametrize(
    ("params", "param", "code", "message"),
    [
        ({"name": "x", "bogus": "1"}, "bogus", "parameter_unknown", "Received unknown parameter: bogus"),
        ({"name": "x", "items": [{"qty": "1", "z": "2"}]}, "items[0][z]", "parameter_unknown", None),
        ({}, "name", "parameter_missing", "Missing required param: name."),
        (
            {"name": "x", "items": [{}]},
            "items[0][qty]",
            "parameter_missing",
            "Missing required param: items[0][qty].",
        ),
        ({"name": "x", "count": "ten"}, "count", "parameter_invalid_integer", "Invalid integer: ten"),
        ({"name": "x", "count": "0"}, "count", None, "This value must be greater than or equal to 1."),
        ({"name": "x", "count": "101"}, "count", None, "This value must be less than or equal to 100."),
        ({"name": "x", "flag": "yes"}, "flag", None, "Invalid boolean: yes"),
        ({"name": "x", "kind": "d"}, "kind", None, "Invalid kind: must be one of a, b, or c"),
        ({"name": "toolong"}, "name", None, None),
        ({"name": ""}, "name", "parameter_invalid_empty", None),
        ({"name": "x", "items": [{"qty": "1"}] * 3}, "items", None, None),
        ({"name": "x", "metadata": {"k" * 41: "v"}}, "metadata[" + "k" * 41 + "]", None, None),
        ({"name": "x", "metadata": {"k": "v" * 501}}, "metadata[k]", None, None),
        ({"name": "x", "metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", None, None),
    ],
)
def test_rejects_bad_params_like_stripe(
    params: dict[str, Any], param: str, code: str | None, message: str | None
) -> None:
    with pytest.raises(errors.StripeError) as caught:
        check(SPEC, params)
    error = caught.value
    assert (error.status, error.type, error.param, error.code) == (400, "invalid_request_error", param, code)
    if message is not None:
        assert error.message == message


def test_coerces_strings_by_declared_type() -> None:
    decoded = decode_form(
        sdk_encode({"name": "x", "count": 7, "flag": True, "items": [{"qty": 2}], "note": "", "metadata": {"a": ""}})
    )
    assert check(SPEC, decoded) == {
        "name": "x",
        "count": 7,
        "flag": True,
        "items": [{"qty": 2}],
        "note": UNSET,
        "metadata": {"a": UNSET},
    }


def test_metadata_hash_with_index_like_keys_stays_a_hash() -> None:
    assert check(SPEC, decode_form("name=x&metadata[0]=a&metadata[1]=b")) == {
        "name": "x",
        "metadata": {"0": "a", "1": "b"},
    }


def test_update_accepts_only_id_quantity_and_adjustable_quantity_on_line_items() -> None:
    with pytest.raises(errors.StripeError) as caught:
        check(PAYMENT_LINK_UPDATE, decode_form(sdk_encode({"line_items": [{"id": "li_1", "price": "price_1"}]})))
    assert caught.value.param == "line_items[0][price]"
    assert caught.value.code == "parameter_unknown"
    ok = check(PAYMENT_LINK_UPDATE, decode_form(sdk_encode({"line_items": [{"id": "li_1", "quantity": 2}]})))
    assert ok == {"line_items": [{"id": "li_1", "quantity": 2}]}


def test_create_requires_line_items_and_caps_them_at_twenty() -> None:
    with pytest.raises(errors.StripeError) as missing:
        check(PAYMENT_LINK_CREATE, {})
    assert missing.value.message == "Missing required param: line_items."
    item = {"price": "price_1", "quantity": "1"}
    with pytest.raises(errors.StripeError) as too_many:
        check(PAYMENT_LINK_CREATE, {"line_items": [item] * 21})
    assert too_many.value.param == "line_items"
    assert len(check(PAYMENT_LINK_CREATE, {"line_items": [item] * 20})["line_items"]) == 20

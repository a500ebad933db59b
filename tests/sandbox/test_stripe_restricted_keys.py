"""Restricted keys in the Stripe emulator: a resource's permission decides what the key may call."""

from __future__ import annotations

import pytest
import stripe

from tests.sandbox.payment_box import Box

READ_ONLY = "rk_test_" + "r" * 24 + "ead0nly"


def test_a_restricted_key_reads_what_it_may_and_is_refused_the_rest_with_stripes_403(box: Box):
    box.emulator.add_api_key(READ_ONLY, permissions={"payment_links": "read", "checkout_sessions": "write"})
    client = box.client(READ_ONLY)

    assert client.v1.payment_links.list(params={"limit": 1}).data == []  # read: allowed
    assert client.v1.checkout.sessions.list(params={"limit": 1}).data == []  # write implies read
    line = {"price_data": {"currency": "usd", "unit_amount": 500, "product_data": {"name": "Deposit"}}, "quantity": 1}
    with pytest.raises(stripe.PermissionError) as refused:
        client.v1.payment_links.create(params={"line_items": [line]})
    assert refused.value.http_status == 403
    message = refused.value.user_message or ""
    assert "does not have the required permissions" in message and "'rak_payment_link_write'" in message
    assert READ_ONLY not in message and READ_ONLY[-6:] in message  # masked as Stripe masks it
    with pytest.raises(stripe.PermissionError, match="rak_event_read"):
        client.v1.events.list()  # a resource not named is None


def test_only_restricted_keys_take_permissions(box: Box):
    with pytest.raises(ValueError, match="restricted"):
        box.emulator.add_api_key("sk_test_" + "x" * 24, permissions={"payment_links": "read"})
    with pytest.raises(ValueError, match="none, read or write"):
        box.emulator.add_api_key("rk_test_" + "x" * 24, permissions={"payment_links": "admin"})

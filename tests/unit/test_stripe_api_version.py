"""The worker names its Stripe API version in one place, the version its SDK's types describe."""

from __future__ import annotations

import stripe

from sync.adapters.stripe.payments import STRIPE_API_VERSION


def test_the_pinned_version_is_the_one_the_installed_sdk_is_generated_for():
    assert STRIPE_API_VERSION == stripe.api_version

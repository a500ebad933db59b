"""The JWT's audience follows the login URL: a Salesforce sandbox's JWTs are for test.salesforce.com."""

from __future__ import annotations

import pytest

from sync.adapters.salesforce.auth import jwt_audience
from tests.unit.factories import settings


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://login.salesforce.com", "https://login.salesforce.com"),
        ("https://test.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", "https://login.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.my.site.com/customers", "https://acme.my.site.com/customers"),  # Experience Cloud
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),  # the sandbox emulator, a proxy
    ],
)
def test_the_audience_is_the_login_server_the_login_url_names(login_url: str, audience: str):
    assert jwt_audience(settings(salesforce_login_url=login_url)) == audience


def test_an_audience_set_by_hand_wins():
    chosen = settings(salesforce_login_url="https://acme.my.salesforce.com", salesforce_jwt_audience="https://x.test")
    assert jwt_audience(chosen) == "https://x.test"

"""Stripe as strict as it is (issue 24): the worker as a process against the sandbox's Stripe."""

from __future__ import annotations

from decimal import Decimal

from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker


def test_a_500_saved_under_the_link_key_does_not_hold_the_payment_a_day(sandbox: Sandbox, worker: Worker):
    # Item 1: Stripe replays a saved 500 under the key for 24 hours; retried under the same key, the
    # Payment stayed without its link that long.
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="sam@example.com")
    sandbox.request_payment(project, amount=Decimal("1200"), type="progress", description="Cabinets")
    sandbox.stripe.add_saved_failure("^/v1/payment_links$")

    assert worker.once().code == 0
    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert payment["status"] == "link_sent"
    [live] = [link for link in sandbox.payment_links() if link["active"]]
    assert live["id"] == payment["payment_link_id"] and len(sandbox.outbox()) == 1

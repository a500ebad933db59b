"""The Stripe key comes from the CRM's Setup record: verified, mode-checked, rotated without restart."""

from __future__ import annotations

import signal
from datetime import timedelta
from decimal import Decimal

from sync.domain import messages
from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker, wait_until


def test_without_setup_requests_wait_then_go_by_themselves_once_it_is_added(sandbox: Sandbox, worker: Worker):
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="progress", amount="5000.00")

    first = worker.once()

    assert first.code == 3  # not settled: waiting for an admin
    [payment] = sandbox.payments()
    assert payment["status"] == "requested"
    assert payment["sync_error"] == messages.STRIPE_NOT_CONNECTED
    assert sandbox.stripe_requests() == []

    setup = sandbox.add_setup()
    second = worker.once()

    assert second.code == 0
    assert sandbox.payment(payment["id"])["status"] == "link_sent"
    assert sandbox.payment(payment["id"])["sync_error"] is None
    record = sandbox.setup(setup)
    assert record["connection_status"] == "Connected" and record["last_verified_at"] and record["last_error"] is None


def test_a_live_key_on_a_test_setup_is_never_used(sandbox: Sandbox, worker: Worker):
    setup = sandbox.add_setup(key=sandbox.credentials.stripe_live_key, mode="test")
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="progress", amount="5000.00")

    assert worker.once().code == 3

    record = sandbox.setup(setup)
    assert record["connection_status"] == "Mode Mismatch"
    assert "a live key but Mode is test" in record["last_error"]
    assert sandbox.stripe_requests() == []  # the key was never sent to Stripe
    assert sandbox.payments()[0]["sync_error"] == messages.STRIPE_NOT_CONNECTED


def test_a_test_key_on_a_live_setup_is_never_used(sandbox: Sandbox, worker: Worker):
    setup = sandbox.add_setup(key=sandbox.credentials.stripe_test_key, mode="live")
    assert worker.once().code == 0
    assert sandbox.setup(setup)["connection_status"] == "Mode Mismatch"
    assert sandbox.stripe_requests() == []


def test_a_revoked_key_is_reported_on_the_setup_without_leaking_it(sandbox: Sandbox, worker: Worker):
    sandbox.stripe.revoke_api_key(sandbox.credentials.stripe_test_key)
    setup = sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="progress", amount="5000.00")

    assert worker.once().code == 3

    record = sandbox.setup(setup)
    assert record["connection_status"] == "Invalid Key"
    assert record["last_error"] == messages.KEY_REJECTED
    assert sandbox.credentials.stripe_test_key[8:] not in record["last_error"]
    assert [r["path"] for r in sandbox.stripe_requests()] == ["/v1/payment_links"]  # the one verification call
    assert sandbox.payments()[0]["status"] == "requested"


def test_a_rotated_key_takes_effect_without_a_restart(sandbox: Sandbox, worker: Worker):
    setup = sandbox.add_setup()
    proc = worker.start()
    try:
        assert wait_until(lambda: sandbox.setup(setup)["connection_status"] == "Connected")
        old_key = sandbox.credentials.stripe_test_key
        new_key = "rk_test_rotated" + "9" * 24
        sandbox.stripe.add_api_key(new_key)
        sandbox.stripe.revoke_api_key(old_key)
        sandbox.update_setup(setup, secret_key=new_key)

        project = sandbox.add_project("Deck", customer_email="jo@example.com", contract_amount=Decimal("9800"))
        sandbox.request_payment(project, type="progress", amount="980.00")

        assert wait_until(lambda: [p["status"] for p in sandbox.payments()] == ["link_sent"], timeout=30)
        last_link_post = [r for r in sandbox.stripe_requests() if r["method"] == "POST"][-1]
        assert last_link_post["key_last4"] == new_key[-4:]
        assert proc.poll() is None  # the same process, never restarted
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    log = worker.collect(proc)
    assert new_key not in log and old_key not in log


def test_a_key_of_another_stripe_account_moves_no_money_until_an_admin_confirms(sandbox: Sandbox, worker: Worker):
    setup = sandbox.add_setup()
    assert worker.once().code == 0
    account = sandbox.stripe.account_id
    assert sandbox.setup(setup)["stripe_account_id"] == account  # pinned on first verifying the key

    # The Setup was pinned to another account: the key pasted since is not the account's the money went to.
    other = "acct_1PreviousAccount0000"
    sandbox.update_setup(setup, stripe_account_id=other)
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="progress", amount="5000.00")
    before = len(sandbox.stripe_requests())

    assert worker.once().code == 3

    record = sandbox.setup(setup)
    assert record["connection_status"] == "Account Changed"
    assert account in record["last_error"] and other in record["last_error"]
    assert "Confirm Account Change" in record["last_error"]
    calls = [(r["method"], r["path"]) for r in sandbox.stripe_requests()[before:]]
    assert calls == [("GET", "/v1/payment_links"), ("GET", "/v1/account")]  # the key check, nothing else
    [payment] = sandbox.payments()
    assert payment["status"] == "requested" and payment["sync_error"] == messages.STRIPE_NOT_CONNECTED

    sandbox.update_setup(setup, confirm_account_change=True)
    assert worker.once().code == 0

    record = sandbox.setup(setup)
    assert record["connection_status"] == "Connected" and record["last_error"] is None
    assert record["stripe_account_id"] == account and record["confirm_account_change"] is False
    assert sandbox.payment(payment["id"])["status"] == "link_sent"


def test_with_several_active_setups_the_working_one_is_used_and_each_record_says_where_it_stands(
    sandbox: Sandbox, worker: Worker
):
    # Issue 17: the newest Active one won even when broken (a blank key stopped every request), and
    # the others said nothing.
    working = sandbox.add_setup()
    spare = sandbox.add_setup()
    sandbox.clock.advance(timedelta(seconds=2))
    blank = sandbox.add_setup(key="")
    project = sandbox.add_project("Deck", customer_email="kim@example.com")
    sandbox.request_payment(project, amount=Decimal("800"), type="custom", description="Deck boards")

    assert worker.once().code == 0

    [payment] = sandbox.payments()
    assert payment["status"] == "link_sent"
    used, other = (working, spare) if sandbox.setup(working)["connection_status"] == "Connected" else (spare, working)
    assert sandbox.setup(used)["last_error"] == messages.SEVERAL_ACTIVE_SETUPS.format(count=3)
    assert (sandbox.setup(other)["connection_status"], sandbox.setup(other)["last_error"]) == (
        "Not In Use",
        messages.SETUP_NOT_IN_USE.format(used=used),
    )
    assert (sandbox.setup(blank)["connection_status"], sandbox.setup(blank)["last_error"]) == (
        "Invalid Key",
        messages.NO_KEY,
    )

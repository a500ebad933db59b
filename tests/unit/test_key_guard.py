"""The one place a key Stripe refuses mid-run is handled: the gateway stops, the Setup says it once."""

from __future__ import annotations

import inspect
import threading

import pytest

from sync.config.mapping import ConnectionStatuses
from sync.domain import messages
from sync.domain.actions import LinkSpec
from sync.domain.errors import StripeKeyRejected
from sync.ports import PaymentsGateway
from sync.service.key_guard import KeyGuard
from sync.service.stripe_connection import StripeConnection
from tests.unit.factories import T0
from tests.unit.fakes import FakeCrm, FakeStripe
from tests.unit.test_stripe_setup import setup


def link_spec(payment_id: str) -> LinkSpec:
    return LinkSpec(f"key-{payment_id}", 1000, "usd", "Deposit", "Kitchen: Deposit", {"crm_payment_id": payment_id})


def _port_methods(cls: type) -> set[str]:
    return {n for n, f in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}


def test_every_call_of_the_port_goes_through_the_guard():
    # A method added to the port and not to the guard would reach Stripe unguarded (or not at all).
    assert _port_methods(PaymentsGateway) == _port_methods(KeyGuard)


def test_after_the_first_refusal_no_call_reaches_stripe_and_the_first_refusal_is_kept():
    stripe = FakeStripe(fail_for={"p1": StripeKeyRejected("lacks rak_payment_link_write", missing_permission=True)})
    guard = KeyGuard(stripe)
    assert guard.refusal is None
    guard.create_payment_link(link_spec("p0"))
    with pytest.raises(StripeKeyRejected):
        guard.create_payment_link(link_spec("p1"))
    calls = stripe.calls
    with pytest.raises(StripeKeyRejected, match="rak_payment_link_write") as refused:
        guard.create_payment_link(link_spec("p2"))
    assert refused.value.missing_permission
    assert stripe.calls == calls  # not sent
    assert guard.refusal is not None and guard.refusal.missing_permission


def test_refusals_from_several_threads_keep_one():
    barrier = threading.Barrier(4)

    class Refusing(FakeStripe):
        def link(self, link_id):
            self.calls += 1
            barrier.wait(timeout=5)
            raise StripeKeyRejected(f"refused {link_id}")

    inner = Refusing()
    guard = KeyGuard(inner)
    seen: list[str] = []

    def call(n: int) -> None:
        try:
            guard.link(f"plink_{n}")
        except StripeKeyRejected as exc:
            seen.append(str(exc))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and guard.refusal is not None and str(guard.refusal) in seen
    with pytest.raises(StripeKeyRejected, match=str(guard.refusal)):
        guard.link("plink_9")  # refused with the one kept, without a call
    assert inner.calls == 4


def test_the_connection_says_a_refusal_on_the_setup_once_and_drops_the_gateway():
    crm = FakeCrm(setups=(setup(),))
    stripe = FakeStripe(fail_for={"p1": StripeKeyRejected("Stripe rejected the API key")})
    connection = StripeConnection(crm=crm, factory=lambda key: stripe, statuses=ConnectionStatuses(), now=lambda: T0)
    readiness = connection.refresh(crm.setups)
    assert readiness.ready and isinstance(readiness.gateway, KeyGuard)
    assert connection.current(readiness) is readiness  # nothing refused: unchanged, nothing written
    writes = len(crm.setup_writes)
    with pytest.raises(StripeKeyRejected):
        readiness.gateway.create_payment_link(link_spec("p1"))
    assert len(crm.setup_writes) == writes  # said by the cycle's thread, not by the caller's

    now = connection.current(readiness)
    assert not now.ready
    assert crm.setup_writes[-1]["status"] == "Invalid Key" and crm.setup_writes[-1]["error"] == messages.KEY_REJECTED
    connection.current(readiness)
    assert len(crm.setup_writes) == writes + 1  # once
    assert not connection.refresh(crm.setups).ready  # not verified again until the Setup changes

"""SIGTERM during a busy cycle: wherever it lands (making 300 links, reading the outcomes of 200
payments, issuing refunds), with Stripe answering in 0.15 s, the worker finishes the action in hand,
says so, and is gone within 10 s. Then the next start completes everything, and the chaos
invariants (one Payment and one link per request, one Stripe refund per refund request, the CRM's
totals equal to Stripe's, one link per customer, nothing lost) hold.

tests/e2e/test_process.py stops a worker during a small intake; this one stops it mid-way through
each kind of long step, where a stop that waited for the step to end would take far longer than 10 s.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from sync.sandbox.environment import Sandbox
from tests.reliability.chaos import Ask, Ledger, RefundAsk, Workers, check_invariants, wait_until

pytestmark = pytest.mark.timeout(360)

REQUESTS = 300
PAID = 200
REFUNDS = 40
STRIPE_LATENCY = 0.15
STOP_BOUND_SECONDS = 10.0


def stop_mid_way(workers: Workers, *, started: Callable[[], bool], done: Callable[[], bool]) -> float:
    """Start a worker, SIGTERM it once the step has begun and before it is done; the seconds it took to go."""
    worker = workers.start()
    assert wait_until(started, timeout=90, interval=0.05), "the step never began"
    assert not done(), "the step ended before the signal: nothing was stopped mid-way"
    seconds = workers.terminate(worker, timeout=30)
    output = worker.log_text()
    assert '"worker.stopping"' in output and '"worker.stopped"' in output, "no clean stop in the log"
    assert '"worker.stop_timeout"' not in output, "the worker was cut off, not stopped after the action in hand"
    return seconds


def finish(workers: Workers) -> None:
    """`run --once` until it exits 0 twice running: every record settled."""
    in_a_row = 0
    for _ in range(8):
        in_a_row = in_a_row + 1 if workers.once() == 0 else 0
        if in_a_row == 2:
            return
    pytest.fail(f"`run --once` did not settle: exits {workers.once_runs}")


def test_sigterm_in_each_busy_step_stops_within_10_s_and_the_next_start_finishes_everything(tmp_path: Path):
    rng = random.Random(20261126)
    ledger = Ledger()
    with Sandbox() as sandbox:
        sandbox.add_setup()
        sandbox.latency["stripe"] = STRIPE_LATENCY
        workers = Workers(sandbox, tmp_path, POLL_INTERVAL_SECONDS="1")
        for i in range(REQUESTS):
            project = sandbox.add_project(f"Job {i}", customer_email=f"c{i}@example.com", contract_amount=Decimal(9000))
            sandbox.request_payment(
                project, type="progress", amount=f"{rng.randint(100, 5000)}.{rng.randint(0, 99):02d}"
            )
            ledger.requests[project] = Ask(project, "flag", True)
        stops: dict[str, float] = {}

        # 1. Making links: 300 at Stripe's pace, in flight when the signal comes.
        links = lambda: len(sandbox.payment_links())  # noqa: E731
        stops["links"] = stop_mid_way(workers, started=lambda: links() >= 40, done=lambda: links() >= REQUESTS)
        assert 40 <= links() < REQUESTS
        finish(workers)
        payments = sandbox.payments()
        assert len(payments) == REQUESTS and all(p["status"] == "link_sent" for p in payments)

        # 2. Reading outcomes: 200 customers paid (some declined first); each Payment is read from Stripe.
        for payment in rng.sample(payments, PAID):
            if rng.random() < 0.2:
                sandbox.pay(payment["link_url"], card="4000000000000002")
            sandbox.pay(payment["link_url"], card=rng.choice(["4242424242424242", "4000000000007726"]))
        sandbox.stripe.clear_request_log()
        reads = lambda: sum(1 for r in sandbox.stripe_requests() if r["path"] == "/v1/checkout/sessions")  # noqa: E731
        paid = lambda: sum(1 for p in sandbox.payments() if p["status"] == "paid")  # noqa: E731
        stops["outcomes"] = stop_mid_way(workers, started=lambda: reads() >= 30, done=lambda: paid() >= PAID)
        assert paid() < PAID
        finish(workers)
        payments = sandbox.payments()
        assert sum(1 for p in payments if p["status"] == "paid") == PAID

        # 3. Issuing refunds staff asked for: blank (all that is left) and partial.
        for payment in rng.sample([p for p in payments if p["status"] == "paid"], REFUNDS):
            amount = None if rng.random() < 0.5 else (payment["amount_paid"] / 2).quantize(Decimal("0.01"))
            refund = sandbox.request_refund(payment["id"], amount=amount, reason="Customer changed plans")
            ledger.refunds[refund] = RefundAsk(payment["id"], amount)
        made = lambda: len(sandbox.stripe_refunds())  # noqa: E731
        stops["refunds"] = stop_mid_way(workers, started=lambda: made() >= 10, done=lambda: made() >= REFUNDS)
        assert made() < REFUNDS
        finish(workers)

        print(f"SIGTERM to exit: {', '.join(f'{step} {s:.1f} s' for step, s in stops.items())}")
        assert all(s < STOP_BOUND_SECONDS for s in stops.values()), stops
        assert [str(v) for v in check_invariants(sandbox, ledger)] == []
        refunds = sandbox.refunds()
        assert len(refunds) == REFUNDS and all(r["status"] in ("succeeded", "pending") for r in refunds)
        assert all(p["status"] in ("link_sent", "paid", "partially_refunded", "refunded") for p in sandbox.payments())

"""What a cycle spends of the org's daily API allowance and of Stripe's rate limit, counted by the sandbox."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

from sync.config.settings import load_settings
from sync.entry.bootstrap import build_app
from sync.sandbox.environment import Sandbox


def _runner(sandbox: Sandbox):
    # Call counts are the subject here, not pace: Stripe's rate is the benchmark's (sync bench).
    env = sandbox.worker_env(STRIPE_RATE_LIMIT="1000")
    app = build_app(load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()}))
    app.crm.connect()
    return app.runner


def test_an_idle_cycle_costs_one_salesforce_call_and_one_stripe_events_poll(start_sandbox):
    sandbox = start_sandbox()
    sandbox.add_setup()
    runner = _runner(sandbox)
    runner.run_cycle()  # the first cycle verifies the key once
    sandbox.salesforce.reset_api_calls()
    sandbox.stripe.clear_request_log()

    for _ in range(5):
        runner.run_cycle()

    assert sandbox.salesforce.api_calls()["total"] == 5
    assert [(r["method"], r["path"]) for r in sandbox.stripe_requests()] == [("GET", "/v1/events")] * 5


def test_a_hundred_requests_take_a_handful_of_salesforce_calls_and_one_stripe_call_each(start_sandbox):
    sandbox = start_sandbox()
    sandbox.add_setup()
    runner = _runner(sandbox)
    runner.run_cycle()
    for i in range(100):
        project = sandbox.add_project(f"P{i}", customer_email=f"c{i}@example.com", contract_amount=Decimal("1000"))
        sandbox.request_payment(project, type="progress", amount="100.00")
    sandbox.salesforce.reset_api_calls()
    sandbox.stripe.clear_request_log()

    report = runner.run_cycle()

    assert report.all_stable and len(report.outcomes) == 200  # 100 projects taken, 100 payments sent
    calls = sandbox.salesforce.api_calls()
    # read (1 composite), intake (1 call: 100 requests in 75 graphs), re-read (1 query), links written
    # back (1 collection), the single emails left today (1 limits, read at most once a minute), emails
    # (1 action), Link Sent (1 collection)
    assert calls["total"] == 7, calls
    assert calls["by_endpoint"]["GET limits"] == 1
    assert calls["by_endpoint"]["POST composite/graph"] == 1
    assert [r["path"] for r in sandbox.stripe_requests()] == ["/v1/payment_links"] * 100 + ["/v1/events"]
    assert len(sandbox.outbox()) == 100


def test_a_backlog_of_a_thousand_requests_goes_out_in_at_most_thirty_eight_salesforce_calls(start_sandbox):
    sandbox = start_sandbox()
    sandbox.add_setup()
    runner = _runner(sandbox)
    runner.run_cycle()
    for i in range(1000):
        project = sandbox.add_project(f"P{i}", customer_email=f"c{i}@example.com", contract_amount=Decimal("1000"))
        sandbox.request_payment(project, type="progress", amount="100.00")
    sandbox.salesforce.reset_api_calls()

    while runner.run_cycle().full_batch:
        pass

    assert Counter(p["status"] for p in sandbox.payments()) == {"link_sent": 1000}
    assert len(sandbox.outbox()) == 1000
    calls = sandbox.salesforce.api_calls()
    # 3 reads (the backlog fills a batch of 1000, so two more cycles follow at once), intake 4 graph
    # calls (250 requests each), 1 re-read, and per 200 links: written back (1), emailed (2, 100
    # inputs a call), marked sent (1). The Payment query selects three long text fields, so the org
    # answers it 200 records a batch: the re-read of the 1000 new Payments takes 4 more calls, and so
    # does the next cycle's read of them as just sent (36 in all).
    assert calls["total"] <= 38, calls
    assert calls["by_endpoint"]["GET query"] >= 1 + 4, calls
    assert calls["by_endpoint"]["POST composite/graph"] == 4
    assert calls["by_endpoint"]["POST actions/standard/emailSimple"] == 10
    assert calls["by_endpoint"]["PATCH composite/sobjects"] == 10


def test_a_hundred_payments_read_back_in_a_handful_of_salesforce_calls(start_sandbox):
    sandbox = start_sandbox()
    sandbox.add_setup()
    runner = _runner(sandbox)
    for i in range(100):
        project = sandbox.add_project(f"P{i}", customer_email=f"c{i}@example.com", contract_amount=Decimal("1000"))
        sandbox.request_payment(project, type="progress", amount="100.00")
    runner.run_cycle()
    for payment in sandbox.payments():
        sandbox.pay(payment["link_url"])
    # Records read in the second of their last change are re-read a second later; not this case.
    sandbox.clock.advance(timedelta(seconds=2))
    sandbox.salesforce.reset_api_calls()
    sandbox.stripe.clear_request_log()

    report = runner.run_cycle()

    assert {p["status"] for p in sandbox.payments()} == {"paid"}
    assert report.all_stable
    calls = sandbox.salesforce.api_calls()
    # read (1 composite), Payments by id (1 query), outcomes (2 graphs of <=75), cursor (1 update)
    assert calls["total"] == 5, calls
    stripe_calls = [(r["method"], r["path"]) for r in sandbox.stripe_requests()]
    # the event pages, then one read of each link's sessions (with the PaymentIntent and charge expanded)
    assert stripe_calls.count(("GET", "/v1/checkout/sessions")) == 100
    assert len(stripe_calls) - 100 == stripe_calls.count(("GET", "/v1/events")) <= 10


def test_a_hundred_refunds_and_resends_take_a_handful_of_salesforce_calls(start_sandbox):
    sandbox = start_sandbox()
    sandbox.add_setup()
    runner = _runner(sandbox)
    for i in range(150):
        project = sandbox.add_project(f"P{i}", customer_email=f"c{i}@example.com", contract_amount=Decimal("1000"))
        sandbox.request_payment(project, type="progress", amount="100.00")
    runner.run_cycle()
    payments = sandbox.payments()
    for payment in payments[:100]:
        sandbox.pay(payment["link_url"])
    sandbox.clock.advance(timedelta(seconds=2))
    runner.run_cycle()
    for payment in payments[:100]:
        sandbox.request_refund(payment["id"], amount="10.00")
    for payment in payments[100:]:
        sandbox.update_payment(payment["id"], resend=True)
    sandbox.clock.advance(timedelta(seconds=2))
    sandbox.salesforce.reset_api_calls()
    sandbox.stripe.clear_request_log()

    runner.run_cycle()

    assert sum(1 for r in sandbox.refunds() if r["status"] == "succeeded") == 100
    assert all(p["times_sent"] == 2 for p in sandbox.payments()[100:])
    calls = sandbox.salesforce.api_calls()
    # read (1 composite), Refunds written (1 collection), resend emails (1 action), resends recorded
    # (1 collection), Payments read back (1 query), their totals (2 graphs of <=75), cursor (1 update)
    assert calls["total"] == 8, calls
    stripe_paths = [r["path"] for r in sandbox.stripe_requests()]
    # each refund: looked for by its record id, created, then listed again when its Payment is read back
    assert stripe_paths.count("/v1/refunds") == 300


def test_near_the_orgs_api_share_the_worker_slows_then_pauses_reminders_but_not_payments(start_sandbox):
    sandbox = start_sandbox()
    sandbox.add_setup()
    env = sandbox.worker_env(STRIPE_RATE_LIMIT="1000", SALESFORCE_API_SHARE="0.8")
    app = build_app(load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()}))
    app.crm.connect()
    project = sandbox.add_project("Due", customer_email="due@example.com", contract_amount=Decimal("1000"))
    sandbox.request_payment(project, type="progress", amount="100.00")
    app.runner.run_cycle()
    assert app.crm.budget.slowdown() == 1.0  # a fresh org: full speed

    sandbox.salesforce.set_api_limit(daily_limit=10_000, used=7_500)  # other integrations spent 75%
    app.runner.run_cycle()
    assert 1.0 < app.crm.budget.slowdown() < 10.0 and not app.crm.budget.non_urgent_paused()

    sandbox.salesforce.set_api_limit(used=8_500)  # past the 80% share
    sandbox.clock.advance(timedelta(hours=49))  # the first reminder is due
    urgent = sandbox.add_project("Urgent", customer_email="urgent@example.com", contract_amount=Decimal("1000"))
    sandbox.request_payment(urgent, type="progress", amount="200.00")
    app.runner.run_cycle()
    assert app.crm.budget.slowdown() == 10.0 and app.crm.budget.non_urgent_paused()
    by_project = {p["project"]: p for p in sandbox.payments()}
    assert by_project[urgent]["status"] == "link_sent"  # a new request still goes out
    assert by_project[project]["reminders_sent"] == 0  # the reminder waits

    sandbox.salesforce.set_api_limit(used=1_000)  # the rolling window freed the allowance
    app.runner.run_cycle()
    assert app.crm.budget.slowdown() == 1.0
    assert {p["project"]: p for p in sandbox.payments()}[project]["reminders_sent"] == 1

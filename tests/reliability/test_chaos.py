"""The whole lifecycle under chaos (tests/reliability/chaos.py, CI mode): seeded faults of every kind in
both phases, SIGKILLs at random instants and right after Stripe began a write, two workers at once, a
Stripe outage and a Salesforce outage; then every invariant is checked on the records, Stripe's objects
and the outbox.

The run happens once per session (`chaos_run` in conftest.py); CHAOS_SEED=N runs another seed. Each
test below reads its report, and the minimums keep a run that did too little from passing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.chaos import SALESFORCE_KINDS, STRIPE_KINDS

pytestmark = pytest.mark.timeout(600)  # the session's chaos run happens in the first test's setup


def test_every_invariant_holds_after_the_chaos(chaos_run: Any):
    report = chaos_run.report
    assert report.violations == [], report.summary()
    assert report.converged_seconds is not None, "the records never settled once the faults stopped"
    assert report.once_runs[-2:] == [0, 0], "`run --once` did not exit 0 twice running after the chaos"


def test_the_run_reached_its_minimums_so_it_proves_something(chaos_run: Any):
    report, mode = chaos_run.report, chaos_run.mode
    assert report.faults_total >= mode.min_faults, report.summary()
    assert report.kills >= mode.min_kills, report.summary()
    for service, kinds in (("salesforce", SALESFORCE_KINDS), ("stripe", STRIPE_KINDS)):
        faults = report.faults[service]
        for kind in kinds:
            before = faults["injected"].get(kind, 0) - faults["after"].get(kind, 0)
            assert before >= 1 and faults["after"].get(kind, 0) >= 1, f"{service} {kind} not in both phases"
        assert faults["outage_failed"] >= 1, f"the {service} outage refused nothing"
    assert report.kills_in_window["link"] >= 1, "no kill landed between a Stripe link and its CRM write"
    people = report.ledger_counts
    for what, least in {
        "requests": 50,
        "payments": 20,
        "declined_attempts": 5,
        "refunds_crm": 5,
        "refunds_dashboard": 5,
        "resends": 1,
        "cancels": 1,
    }.items():
        assert people.get(what, 0) >= least, f"only {people.get(what, 0)} {what}: {report.summary()}"


def test_the_same_worker_resumes_by_itself_within_the_bound_after_each_outage(chaos_run: Any):
    report, bound = chaos_run.report, chaos_run.mode.resume_bound_seconds
    assert report.same_process_through_outages, "the worker did not live through the outages"
    for service in ("stripe", "salesforce"):
        reached, done = report.reach_seconds[service], report.resume_seconds[service]
        assert reached is not None and reached <= bound, f"{service}: the worker's next call came {reached} s after"
        assert done is not None and done <= bound, f"{service}: the waiting work was done {done} s after"


def test_no_worker_stops_by_itself_and_each_sigterm_stops_one_within_10_seconds(chaos_run: Any):
    report = chaos_run.report
    assert report.unexpected_exits == [], "a passing fault stopped a worker"
    assert report.stop_seconds and max(report.stop_seconds) < 10, report.stop_seconds

"""The chaos on a busy org (tests/reliability/chaos.py, busy mode; the org in busy_org.py): the CI
mode's faults, kills and two workers, while validation rules, failing automation and row locks
refuse the worker's writes on a share of the Payments, and feed tracking is off on the Project.
Then the admin lifts them, and every invariant must hold, with the busy org's own: no customer
emailed the same link twice, every refusal shown on its record while it stood, no Payment stuck
once it was lifted.

The run happens once per session (`busy_chaos_run` in conftest.py); CHAOS_SEED=N runs another seed.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.reliability import busy_org

pytestmark = [
    pytest.mark.timeout(600),  # the session's busy run happens in the first test's setup
    # Not yet in the default run: on seed 20261126 it still finds two links emailed twice and two
    # deleted paid Payments never said to staff while feed tracking was off (issue 23, open).
    pytest.mark.skipif(
        os.environ.get("BUSY_CHAOS") != "1",
        reason="busy chaos mode not passing yet (issue 23): BUSY_CHAOS=1 runs it",
    ),
]


def _violations_of(report: Any, *invariants: str) -> list[str]:
    return [v for v in report.violations if v.split(":", 1)[0] in invariants]


def test_every_invariant_holds_on_a_busy_org_once_its_rules_are_lifted(busy_chaos_run: Any):
    report = busy_chaos_run.report
    assert report.violations == [], report.summary()
    assert report.converged_seconds is not None, "the records never settled once the rules were lifted"
    assert report.once_runs[-2:] == [0, 0], "`run --once` did not exit 0 twice running after the chaos"


def test_no_customer_is_emailed_the_same_link_twice_whatever_the_org_refuses(busy_chaos_run: Any):
    report = busy_chaos_run.report
    assert _violations_of(report, "busy.one_email", "e.one_link_per_customer") == [], report.summary()


def test_every_refusal_shows_on_its_record_while_the_rule_stands(busy_chaos_run: Any):
    report = busy_chaos_run.report
    assert _violations_of(report, "busy.refusal_shown", "busy.post_held_outcome") == [], report.summary()
    assert report.busy_shown_seconds is not None, "not every refusal showed on its record in time"


def test_no_payment_is_stuck_once_the_admin_lifts_the_rules(busy_chaos_run: Any):
    report = busy_chaos_run.report
    assert _violations_of(report, "busy.not_stuck", "f.nothing_lost", "d.crm_equals_stripe") == [], report.summary()


def test_the_busy_run_met_every_refusal_so_it_proves_something(busy_chaos_run: Any):
    report, mode = busy_chaos_run.report, busy_chaos_run.mode
    assert busy_org.shortfalls(report.busy) == [], report.summary()
    assert report.faults_total >= mode.min_faults, report.summary()
    assert report.kills >= mode.min_kills, report.summary()
    assert report.unexpected_exits == [], "a passing fault or a refusal stopped a worker"

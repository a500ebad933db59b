"""Start-up, one way for every entry point: log in (retried), then check the org against the mapping."""

from __future__ import annotations

import threading

from sync.domain.errors import ConfigError, RetryableError
from sync.entry.bootstrap import App
from sync.entry.check import check_org, startup_error
from sync.runtime.logs import log
from sync.runtime.retry import call_with_retries

START_RETRY_CAP_SECONDS = 60.0  # the longest pause between start-up attempts of the worker loop


def start_up(app: App, stop: threading.Event, *, keep_trying: bool, check_org: bool) -> bool:
    """Log in and (`check_org`) check the org against the mapping; False if stopped first.

    A passing fault (Salesforce down or busy, a lock, an expired session) is retried: with
    `keep_trying` (the worker loop) until it passes, as the loop does with every cycle's faults, so a
    worker started during an outage comes up by itself once Salesforce is back instead of exiting
    into a supervisor's crash backoff; without it (`run --once`, `reconcile`, the demo) a bounded
    number of times, then RetryableError. Bad configuration still stops it at once (ConfigError).
    """
    failures = 0
    while not stop.is_set():
        try:
            call_with_retries(app.crm.connect, attempts=5, max_seconds=60, sleep=stop.wait)
            if check_org:
                _check_org_matches_mapping(app)
            return True
        except RetryableError as exc:
            if not keep_trying:
                raise
            failures += 1
            log.warning("worker.start_deferred", error=str(exc), consecutive_failures=failures)
            stop.wait(min(5.0 * failures, START_RETRY_CAP_SECONDS))
    return False


def _check_org_matches_mapping(app: App) -> None:
    """Stop with one message when the org lacks an object, field, relationship or picklist value the
    mapping names: otherwise every cycle would fail on the same query (a typo in a field name), or,
    worse, email a link whose status can never be written (a misspelled status word), again each cycle.

    Raises:
        ConfigError: naming the first problems; `sync check` lists them all.
    """
    findings = check_org(crm=app.crm, mapping=app.mapping, retry=app.retry, staff_notices=app.settings.staff_notices)
    for warning in findings.warnings + findings.blockers:
        log.warning("org.setting_off", warning=warning)
    if findings.problems:
        raise ConfigError(startup_error(findings.problems, mapping_file=app.settings.crm_mapping_file))

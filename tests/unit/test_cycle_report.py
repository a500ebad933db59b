"""A Payment write the org refuses for good is said on the record, in the org's words."""

from __future__ import annotations

from sync.domain import messages
from sync.domain.changes import PaymentChange
from sync.domain.models import PaymentStatus
from sync.ports import PaymentUpdate, WriteResult
from sync.runtime.retry import no_retry
from sync.service.cycle_report import CycleReport, Outcome, write_payment_updates

RULE = "FIELD_CUSTOM_VALIDATION_EXCEPTION: Link Sent needs a signed contract."


class _Org:
    """Refuses any write of Status (a validation rule); a lock on `locked`; keeps what it accepts."""

    def __init__(self, locked: frozenset[str] = frozenset()) -> None:
        self.locked = locked
        self.written: list[PaymentUpdate] = []

    def update_payments(self, updates: list[PaymentUpdate]) -> list[WriteResult]:
        results = []
        for u in updates:
            if u.payment_id in self.locked:
                results.append(WriteResult(u.payment_id, "UNABLE_TO_LOCK_ROW: locked", deferred=True))
            elif u.change.writes("status"):
                results.append(WriteResult(u.payment_id, RULE))
            else:
                self.written.append(u)
                results.append(WriteResult(u.payment_id))
        return results


def _write(org: _Org, *updates: PaymentUpdate) -> tuple[list[WriteResult], CycleReport]:
    report = CycleReport("c1")
    return write_payment_updates(org, list(updates), retry=no_retry, report=report), report  # type: ignore[arg-type]


def test_a_refused_write_is_followed_by_the_sync_error_alone_with_the_orgs_message():
    org = _Org()
    results, report = _write(org, PaymentUpdate("p1", PaymentChange(status=PaymentStatus.LINK_SENT, times_sent=1)))
    assert results[0].error == RULE  # the caller sees the write it asked for as refused
    [said] = org.written
    assert said.change == PaymentChange(sync_error=messages.CRM_REFUSED_UPDATE.format(detail=RULE))
    assert report.outcomes["p1"] == Outcome.ERROR  # said: stable until the next cycle


def test_a_passing_refusal_is_not_said_and_a_saying_write_is_not_said_again():
    org = _Org(locked=frozenset({"p1"}))
    _, report = _write(org, PaymentUpdate("p1", PaymentChange(status=PaymentStatus.LINK_SENT)))
    assert org.written == [] and report.outcomes["p1"] == Outcome.PENDING  # a lock passes: next cycle
    refusing = _Org()
    refusing.update_payments = lambda us: [WriteResult(u.payment_id, RULE) for u in us]  # type: ignore[method-assign]
    _, report = _write(refusing, PaymentUpdate("p2", PaymentChange(sync_error="x")))
    assert report.outcomes["p2"] == Outcome.PENDING  # one attempt only: no loop of saying writes

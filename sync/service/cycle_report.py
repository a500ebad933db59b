"""What one cycle did to each record, and whether more work may be waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sync.domain import messages
from sync.domain.changes import PaymentChange
from sync.domain.errors import PermanentError, RetryableError
from sync.ports import CrmGateway, PaymentUpdate, WriteResult, WriteStatus
from sync.runtime.logs import log
from sync.runtime.retry import Retry


class Outcome:
    """Where a record stands at the end of a cycle."""

    LINK_SENT = "link_sent"
    ERROR = "error"  # waiting for staff: stable
    CREATED = "created"  # intake made a Payment; it moves on in the same or the next cycle
    WAITING = "waiting"  # Stripe not connected: not stable
    PENDING = "pending"  # a passing fault: retried next cycle, not stable
    UPDATED = "updated"  # an outcome from Stripe, or a staff action, was written to the record


STABLE = frozenset({Outcome.LINK_SENT, Outcome.ERROR, Outcome.UPDATED})


@dataclass
class CycleReport:
    cycle_id: str
    outcomes: dict[str, str] = field(default_factory=dict)
    full_batch: bool = False  # more work may be waiting: run again without sleeping

    def set(self, record_id: str, outcome: str) -> None:
        self.outcomes[record_id] = outcome

    @property
    def all_stable(self) -> bool:
        return all(o in STABLE for rid, o in self.outcomes.items() if o != Outcome.CREATED)


U = TypeVar("U")


def write_records(
    write: Callable[[list[U]], list[WriteResult]],
    updates: list[U],
    *,
    record_id: Callable[[U], str],
    retry: Retry,
    report: CycleReport,
) -> list[WriteResult]:
    """Write the updates in batches; a record the CRM refuses is reported PENDING and tried next cycle."""
    if not updates:
        return []
    try:
        results: list[WriteResult] = retry(lambda: write(updates))
    except (RetryableError, PermanentError) as exc:
        log.warning("crm.write_failed", records=len(updates), error=str(exc))
        for update in updates:
            report.set(record_id(update), Outcome.PENDING)
        return [WriteResult(record_id=record_id(u), error=str(exc)) for u in updates]
    for update, result in zip(updates, results, strict=True):
        if result.error is not None:
            report.set(record_id(update), Outcome.PENDING)
            log.warning("crm.record_write_failed", record_id=record_id(update), error=result.error)
    return results


def write_payment_updates(
    crm: CrmGateway, updates: list[PaymentUpdate], *, retry: Retry, report: CycleReport
) -> list[WriteResult]:
    """Write the updates; a Payment the org refuses for good (a validation rule, failing automation)
    then gets a write of its Sync Error alone, with the org's own message, so the refusal shows on the
    record. The results are those of the updates."""
    results = write_records(crm.update_payments, updates, record_id=lambda u: u.payment_id, retry=retry, report=report)
    said = [
        PaymentUpdate(u.payment_id, PaymentChange(sync_error=messages.CRM_REFUSED_UPDATE.format(detail=r.error)))
        for u, r in zip(updates, results, strict=True)
        if r.status is WriteStatus.REFUSED and set(u.change.written()) - _SAYING
    ]
    written = write_records(crm.update_payments, said, record_id=lambda u: u.payment_id, retry=retry, report=report)
    for update, result in zip(said, written, strict=True):
        if result.error is None:
            report.set(update.payment_id, Outcome.ERROR)  # said on the record; tried again next cycle
            log.warning("crm.refusal_said", payment_id=update.payment_id)
    return results


_SAYING = frozenset({"sync_error", "last_synced_at"})  # an update that only says something is not said again

"""What one cycle did to each record, and whether more work may be waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sync.domain.errors import PermanentError, RetryableError
from sync.ports import CrmGateway, PaymentUpdate, WriteResult
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
    return write_records(crm.update_payments, updates, record_id=lambda u: u.payment_id, retry=retry, report=report)

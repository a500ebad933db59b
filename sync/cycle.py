"""What one cycle did to each record, and whether more work may be waiting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sync.errors import PermanentError, RetryableError
from sync.logs import log
from sync.ports import CrmGateway, PaymentUpdate, WriteResult


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


def write_payment_updates(
    crm: CrmGateway, updates: list[PaymentUpdate], *, retry: Callable[[Callable[[], Any]], Any], report: CycleReport
) -> list[WriteResult]:
    """Write the updates in batches; a record the CRM refuses is reported PENDING and tried next cycle."""
    if not updates:
        return []
    try:
        results: list[WriteResult] = retry(lambda: crm.update_payments(updates))
    except (RetryableError, PermanentError) as exc:
        log.warning("crm.write_failed", records=len(updates), error=str(exc))
        for update in updates:
            report.set(update.payment_id, Outcome.PENDING)
        return [WriteResult(record_id=u.payment_id, error=str(exc)) for u in updates]
    for update, result in zip(updates, results, strict=True):
        if result.error is not None:
            report.set(update.payment_id, Outcome.PENDING)
            log.warning("crm.record_write_failed", payment_id=update.payment_id, error=result.error)
    return results

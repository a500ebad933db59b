"""Planning guarded per record, and the Sync Error writes of the records set aside (see `sync.domain.faults`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sync.domain import messages
from sync.domain.changes import UNSET, PaymentChange
from sync.domain.faults import RecordFault
from sync.ports import PaymentUpdate
from sync.runtime.logs import log

T = TypeVar("T")


def planned(
    record_id: str, plan: Callable[[], T], *, faults: list[RecordFault], sync_error: str | None = None
) -> T | None:
    """Run one Payment's planning; a raise becomes a fault on that record (None), the caller goes on.

    `sync_error`: what the record says now, so a fault already said is not written again.

    Catches any Exception on purpose: planning is pure, so whatever it raises is a fault of ours or
    of this record's data, and never a reason to leave every other record of the cycle undone.
    """
    try:
        return plan()
    except Exception as exc:  # isolated per record, logged with its type
        log.error("payment.planning_failed", payment_id=record_id, error_type=type(exc).__name__)
        problem = messages.PLANNING_FAILED.format(error_type=type(exc).__name__)
        faults.append(RecordFault(record_id=record_id, sobject="payment", problem=problem, sync_error=sync_error))
        return None


def fault_updates(faults: list[RecordFault], *, now: datetime | None) -> list[PaymentUpdate]:
    """The Sync Error writes for Payments set aside: the sentence only, its status left as it is
    (an unreadable Paid Payment stays Paid); none where the record already says it.

    `now`: also set Last Synced At (None: leave it)."""
    return [
        PaymentUpdate(f.record_id, PaymentChange(sync_error=f.problem, last_synced_at=UNSET if now is None else now))
        for f in faults
        if f.sobject == "payment" and f.sync_error != f.problem
    ]

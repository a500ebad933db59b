"""A record the worker cannot read or plan is set aside with a sentence, so the others go on.

Invariant 6: one bad record never stops the rest. Decoding a CRM record and planning what it needs
are pure steps that can still raise on a value nobody foresaw (a number field holding text, a date
that does not parse) or on a fault of ours. Each such record becomes a `RecordFault`: a Sync Error
on that record and one structured log event, never a stack trace on the record or a stopped cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sync.core import messages
from sync.logs import log, mask_secrets
from sync.ports import PaymentUpdate

T = TypeVar("T")

VALUE_SHOWN = 40  # characters of a bad value quoted back to staff


@dataclass(frozen=True)
class RecordFault:
    """One record set aside this cycle: which, of what object, and the sentence for staff."""

    record_id: str
    sobject: str  # "payment" or "project": where the sentence goes
    problem: str
    sync_error: str | None = None  # what the record's Sync Error says now (no write when the same)


class UnreadableField(ValueError):
    """A mapped field holds a value of the wrong kind (raised by the record codec)."""

    def __init__(self, *, field: str, value: object, kind: str) -> None:
        super().__init__(f"{field} is not a {kind}")
        self.field = field
        self.value = value
        self.kind = kind


def unreadable_problem(exc: Exception) -> str:
    """The staff sentence for a record that could not be decoded (no Python value, no secret)."""
    if isinstance(exc, UnreadableField):
        shown = " ".join(str(exc.value).split())
        if len(shown) > VALUE_SHOWN:
            shown = shown[: VALUE_SHOWN - 1] + "…"
        return messages.FIELD_UNREADABLE.format(field=exc.field, value=mask_secrets(shown), kind=exc.kind)
    return messages.RECORD_UNREADABLE.format(error_type=type(exc).__name__)


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
    synced = {} if now is None else {"last_synced_at": now}
    return [
        PaymentUpdate(f.record_id, {"sync_error": f.problem, **synced})
        for f in faults
        if f.sobject == "payment" and f.sync_error != f.problem
    ]

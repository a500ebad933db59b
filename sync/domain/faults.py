"""A record set aside this cycle (invariant 6: one bad record never stops the rest).

Decoding a CRM record and planning what it needs can still raise on a value nobody foresaw (a number
field holding text, a date that does not parse) or on a fault of ours. Each such record becomes a
`RecordFault`: a Sync Error on that record and one structured log event, never a stack trace on the
record or a stopped cycle. The codec says which field (`sync.adapters.salesforce.records`); the
service layer guards planning and writes the sentence (`sync.service.record_faults`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordFault:
    """One record set aside this cycle: which, of what object, and the sentence for staff."""

    record_id: str
    sobject: str  # "payment" or "project": where the sentence goes
    problem: str
    sync_error: str | None = None  # what the record's Sync Error says now (no write when the same)

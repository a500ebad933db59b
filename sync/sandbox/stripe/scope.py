"""Where one change to the emulator's state happens: transaction, mode, clock second, and who asked.

API handlers and the control actions (a customer on the hosted page, staff in the Dashboard) both
change objects through a `Scope`, so every change records its events the same way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from . import api_versions, event_objects, ids, store


@dataclass(frozen=True)
class Scope:
    conn: sqlite3.Connection
    mode: str
    now: int
    api_version: str
    base_url: str
    # The API request behind the change; None for Dashboard and customer actions, whose events
    # carry `request: {id: null, idempotency_key: null}`.
    request_id: str | None = None
    idempotency_key: str | None = None
    settlement_currency: str = "usd"  # the account's default currency, which it is paid out in

    @property
    def livemode(self) -> bool:
        return self.mode == "live"

    def record(self, type: str, obj: dict[str, Any], *, previous: dict[str, Any] | None = None) -> None:
        """Record an event whose `data.object` is a snapshot of `obj` now, in the account's API version
        (which also decides whether the event is sent at all: api_versions.py)."""
        if not api_versions.sends_event(type, obj, version=self.api_version):
            return
        event = event_objects.event(
            event_id=ids.new_id("evt"),
            type=type,
            obj=api_versions.render(self.conn, obj, version=self.api_version),
            previous=api_versions.render_previous(obj, previous, version=self.api_version),
            api_version=self.api_version,
            created=self.now,
            livemode=self.livemode,
            request_id=self.request_id,
            idempotency_key=self.idempotency_key,
        )
        store.insert_event(self.conn, event, mode=self.mode)

    def update(self, old: dict[str, Any], new: dict[str, Any], *, event: str | None = None) -> None:
        """Store `new` in place of `old`; with `event`, record it with the changed attributes."""
        store.update_object(self.conn, new)
        if event is not None:
            self.record(event, new, previous=event_objects.previous_attributes(old, new))

    def receipt_url(self, charge_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/__sandbox/receipts/{charge_id}"

    def link_url(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/__sandbox/pay/{token}"

"""The Stripe gateway as the worker uses it: the first key refusal is noted, and the key is not used again.

Every Stripe call of a cycle goes through the one `KeyGuard` the connection hands out, from the
cycle's thread or a fan-out thread alike. The first StripeKeyRejected is kept (the connection says it
on the Setup record, from the cycle's thread); every call after it is refused here without reaching
Stripe, so no flow needs to know that another one saw the key refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sync.domain.actions import LinkSpec
from sync.domain.errors import StripeKeyRejected
from sync.domain.models import ActiveLinkStep, CreatedLink, EventBatch, StripeAccount, StripePaymentState, StripeRefund
from sync.domain.refunds import RefundSpec
from sync.ports import PaymentsGateway

T = TypeVar("T")


class KeyGuard:
    """A PaymentsGateway that stops at the first refusal of its key, and keeps that refusal."""

    def __init__(self, inner: PaymentsGateway) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._refusal: StripeKeyRejected | None = None

    @property
    def refusal(self) -> StripeKeyRejected | None:
        """The first refusal of the key, or None while Stripe accepts it."""
        return self._refusal

    def _call(self, call: Callable[[], T]) -> T:
        first = self._refusal
        if first is not None:  # not sent: Stripe said no to this key already
            raise StripeKeyRejected(str(first), missing_permission=first.missing_permission)
        try:
            return call()
        except StripeKeyRejected as exc:
            with self._lock:
                if self._refusal is None:
                    self._refusal = exc
            raise

    def verify_key(self) -> StripeAccount:
        return self._call(self._inner.verify_key)

    def create_payment_link(self, spec: LinkSpec) -> CreatedLink:
        return self._call(lambda: self._inner.create_payment_link(spec))

    def link(self, link_id: str) -> CreatedLink:
        return self._call(lambda: self._inner.link(link_id))

    def deactivate_link(self, link_id: str) -> None:
        self._call(lambda: self._inner.deactivate_link(link_id))

    def note_emailed(self, link_id: str, recipient_mark: str) -> None:
        self._call(lambda: self._inner.note_emailed(link_id, recipient_mark))

    def note_deleted_paid_said(self, link_id: str, charge_id: str) -> None:
        self._call(lambda: self._inner.note_deleted_paid_said(link_id, charge_id))

    def links_for_payment(self, payment_id: str) -> list[CreatedLink]:
        return self._call(lambda: self._inner.links_for_payment(payment_id))

    def own_link(self, payment_id: str, *, session_id: str | None, intent_id: str | None) -> CreatedLink | None:
        return self._call(lambda: self._inner.own_link(payment_id, session_id=session_id, intent_id=intent_id))

    def active_links(self, after: str | None, *, most: int) -> ActiveLinkStep:
        return self._call(lambda: self._inner.active_links(after, most=most))

    def events_after(self, cursor: str, *, max_events: int) -> EventBatch:
        return self._call(lambda: self._inner.events_after(cursor, max_events=max_events))

    def events_before(self, older_than: str | None, *, since: datetime, max_events: int) -> EventBatch:
        return self._call(lambda: self._inner.events_before(older_than, since=since, max_events=max_events))

    def payment_state(self, link_id: str, *, with_refunds: bool) -> StripePaymentState:
        return self._call(lambda: self._inner.payment_state(link_id, with_refunds=with_refunds))

    def payment_id_of_intent(self, payment_intent_id: str) -> str | None:
        return self._call(lambda: self._inner.payment_id_of_intent(payment_intent_id))

    def create_refund(self, spec: RefundSpec) -> StripeRefund:
        return self._call(lambda: self._inner.create_refund(spec))

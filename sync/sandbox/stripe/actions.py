"""What customers and staff do outside the API: pay a link on the hosted page, refund or see a
dispute in the Dashboard. Mixed into `StripeEmulator`; `control.py` serves the same over HTTP.

Each action runs in one transaction in the mode of the object it starts from, at the sandbox
clock's second, and records its events like the API does (see `payments`, `refunds`, `disputes`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..clock import SandboxClock
from ..db import Database
from ..httpserver import Request
from . import disputes, errors, payments, refunds, store
from .scope import Scope


class Actions:
    """Customer and Dashboard actions; the host class provides the state below.

    Their events carry `request: {id: null, idempotency_key: null}`. Each takes `request`, the
    control API's HTTP request, whose Host names the emulator in receipt URLs until `base_url` is set.
    """

    db: Database
    clock: SandboxClock
    api_version: str
    default_currency: str

    def base_for(self, request: Request | None) -> str:
        """The emulator's own URL (implemented by `StripeEmulator`)."""
        raise NotImplementedError

    def pay(
        self,
        link: str,
        *,
        card: str = "4242424242424242",
        email: str | None = None,
        name: str | None = None,
        new_session: bool = False,
        request: Request | None = None,
    ) -> dict[str, Any]:
        """Pay a payment link (id, URL or token) with a test card, as a customer on the hosted page.

        Reuses the link's most recent open Checkout Session unless `new_session`. A URL's
        `prefilled_email` and `client_reference_id` query parameters apply as on buy.stripe.com.
        Returns the ids and statuses of the session, PaymentIntent, Charge and link, and the
        card error of a declined attempt (`error`, else None).

        Raises:
            ValueError: an unknown link (errors.ActionNotFound), an inactive link
                (errors.ActionError; nothing is created) or a card number that is no test card.
        """
        with self.db.transaction() as conn:
            stored, query = payments.find_link(conn, link)
            scope = self._scope(conn, stored, request)
            return payments.pay(
                scope,
                stored,
                card=card,
                email=email or query.get("prefilled_email"),
                name=name,
                new_session=new_session,
                client_reference_id=query.get("client_reference_id"),
            )

    def refund(
        self,
        charge_or_payment_intent: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        status: str = "succeeded",
        request: Request | None = None,
    ) -> dict[str, Any]:
        """Refund a charge from the Dashboard: no metadata, the API's limits; `status="pending"` waits.

        `amount` is in minor units and defaults to all that is left. A charge paid with the
        pending-refund test card (4000000000007726) gives a pending refund whatever `status` says,
        as a refund made through the API does. Returns the refund's id,
        status and amount and the charge's `amount_refunded` and `refunded`.

        Raises:
            ValueError: an unknown object, a bad reason or status, or a refund Stripe refuses
                (errors.ActionError with the API's message, e.g. "Refund amount ($X) is greater
                than unrefunded amount on charge ($Y)").
        """
        if reason is not None and reason not in refunds.REASONS:
            raise errors.ActionError(f"reason must be one of {', '.join(refunds.REASONS)}")
        if status not in ("succeeded", "pending"):
            raise errors.ActionError('status must be "succeeded" or "pending"')
        with self.db.transaction() as conn:
            target = self._find(conn, charge_or_payment_intent, ("charge", "payment_intent"))
            scope = self._scope(conn, target, request)
            is_intent = target.body["object"] == "payment_intent"
            try:
                charge = refunds.charge_to_refund(
                    scope,
                    charge_id=None if is_intent else target.body["id"],
                    intent_id=target.body["id"] if is_intent else None,
                )
                refund = refunds.create(scope, charge, amount=amount, reason=reason, metadata={}, status=status)
            except errors.StripeError as exc:
                raise errors.ActionError(exc.message) from exc
            return _refund_result(conn, refund)

    def settle_refund(self, refund_id: str, *, request: Request | None = None) -> dict[str, Any]:
        """A pending refund succeeds (`refund.updated`, `charge.refund.updated`).

        Raises:
            ValueError: an unknown refund, or one that is not pending.
        """
        with self.db.transaction() as conn:
            stored = self._find(conn, refund_id, ("refund",))
            refund = refunds.settle(self._scope(conn, stored, request), stored)
            return _refund_result(conn, refund)

    def fail_refund(
        self, refund_id: str, *, failure_reason: str | None = None, request: Request | None = None
    ) -> dict[str, Any]:
        """A pending or succeeded refund fails later; the charge's `amount_refunded` drops back.

        `failure_reason` defaults to the one the charge's test card gives (4000000000005126:
        `expired_or_canceled_card`), else `expired_or_canceled_card`.

        Raises:
            ValueError: an unknown refund or reason, or a refund already failed.
        """
        with self.db.transaction() as conn:
            stored = self._find(conn, refund_id, ("refund",))
            refund = refunds.fail(self._scope(conn, stored, request), stored, failure_reason=failure_reason)
            return _refund_result(conn, refund)

    def dispute(
        self,
        charge_or_payment_intent: str,
        *,
        reason: str = "fraudulent",
        amount: int | None = None,
        request: Request | None = None,
    ) -> dict[str, Any]:
        """The cardholder disputes a charge: a `needs_response` chargeback, funds withdrawn.

        Raises:
            ValueError: an unknown object or reason, or a charge that cannot be disputed.
        """
        with self.db.transaction() as conn:
            target = self._find(conn, charge_or_payment_intent, ("charge", "payment_intent"))
            if target.body["object"] == "payment_intent":
                latest = target.body["latest_charge"]
                charge = None if latest is None else store.get_object(conn, latest, type="charge")
                if charge is None:
                    raise errors.ActionError(f"PaymentIntent {target.body['id']} has no charge to dispute")
                target = charge
            opened = disputes.open_dispute(self._scope(conn, target, request), target, reason=reason, amount=amount)
            return _dispute_result(conn, opened)

    def submit_dispute_evidence(self, dispute_id: str, *, request: Request | None = None) -> dict[str, Any]:
        """The merchant answers a dispute with evidence: it goes under review.

        Raises:
            ValueError: an unknown dispute, or one that does not need a response.
        """
        with self.db.transaction() as conn:
            stored = self._find(conn, dispute_id, ("dispute",))
            updated = disputes.submit_evidence(self._scope(conn, stored, request), stored)
            return _dispute_result(conn, updated)

    def close_dispute(self, dispute_id: str, *, won: bool, request: Request | None = None) -> dict[str, Any]:
        """The card network decides: the dispute is won (funds reinstated) or lost.

        Raises:
            ValueError: an unknown dispute, or one already closed.
        """
        with self.db.transaction() as conn:
            stored = self._find(conn, dispute_id, ("dispute",))
            closed = disputes.close(self._scope(conn, stored, request), stored, won=won)
            return _dispute_result(conn, closed)

    def _scope(self, conn: sqlite3.Connection, start: store.Stored, request: Request | None) -> Scope:
        """A customer or Dashboard change in the mode of the object it starts from."""
        return Scope(
            conn=conn,
            mode=start.mode,
            now=int(self.clock.time()),
            api_version=self.api_version,
            base_url=self.base_for(request),
            settlement_currency=self.default_currency,
        )

    @staticmethod
    def _find(conn: sqlite3.Connection, object_id: str, kinds: tuple[str, ...]) -> store.Stored:
        stored = store.get_object(conn, object_id)
        if stored is None or stored.body["object"] not in kinds:
            raise errors.ActionNotFound(f"No such {' or '.join(kinds)}: {object_id!r}")
        return stored


def _refund_result(conn: sqlite3.Connection, refund: dict[str, Any]) -> dict[str, Any]:
    charge = store.get_object(conn, refund["charge"])
    assert charge is not None
    return {
        "refund": {"id": refund["id"], "status": refund["status"], "amount": refund["amount"]},
        "charge": {
            "id": charge.body["id"],
            "amount_refunded": charge.body["amount_refunded"],
            "refunded": charge.body["refunded"],
        },
    }


def _dispute_result(conn: sqlite3.Connection, dispute: dict[str, Any]) -> dict[str, Any]:
    charge = store.get_object(conn, dispute["charge"])
    assert charge is not None
    return {
        "dispute": {"id": dispute["id"], "status": dispute["status"], "amount": dispute["amount"]},
        "charge": {"id": charge.body["id"], "disputed": charge.body["disputed"]},
    }

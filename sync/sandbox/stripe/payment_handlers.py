"""API endpoints for what payments leave behind: Checkout Sessions, PaymentIntents, Charges, Refunds,
Disputes. Through the API, refunds can be created and changed and open Checkout Sessions expired;
the rest is read-only here and made by the control actions (`payments`, `refunds`, `disputes`).

Lists come newest first and page with `listing.page`; filters on ids compare the object's field,
so a filter on something the emulator never sets (e.g. `customer`) matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import errors, expansion, objects, param_specs, payments, refunds, store
from .handlers import Call
from .listing import created_matches, page
from .schema import Obj

Filter = Callable[[dict[str, Any], dict[str, Any]], bool]


def _fields(*names: str) -> Filter:
    """Match list params that name a field of the object (`payment_intent=pi_...`)."""

    def matches(obj: dict[str, Any], params: dict[str, Any]) -> bool:
        return all(obj.get(name) == params[name] for name in names if name in params)

    return matches


def _retrieve(kind: str, spec: Obj = param_specs.RETRIEVE) -> Callable[[Call], dict[str, Any]]:
    def handler(call: Call) -> dict[str, Any]:
        params = call.validated(spec)
        paths = expansion.check(params.get("expand", []), kind)
        return expansion.render(call.conn, _stored(call, kind).body, paths)

    return handler


def _list(kind: str, url: str, spec: Obj, matches: Filter) -> Callable[[Call], dict[str, Any]]:
    def handler(call: Call) -> dict[str, Any]:
        params = call.validated(spec)
        paths = expansion.check(params.get("expand", []), kind, listed=True)
        # Id filters go to the store's indexes; `matches` still judges every object that comes back.
        equal = {f: params[f] for f in store.INDEXED_FIELDS if isinstance(params.get(f), str)}
        candidates = store.list_objects(call.conn, kind, mode=call.mode, equal=equal)
        chosen = [
            s
            for s in candidates
            if created_matches(params.get("created"), s.body["created"]) and matches(s.body, params)
        ]

        def cursor_index(cursor: str) -> int | None:
            # A cursor outside the filtered list keeps its place among all objects of the kind.
            found = store.get_object(call.conn, cursor, type=kind, mode=call.mode)
            return None if found is None else sum(s.seq > found.seq for s in chosen)

        result = page([s.body for s in chosen], params=params, kind=kind, url=url, cursor_index=cursor_index)
        result["data"] = expansion.render_all(call.conn, result["data"], paths)
        return result

    return handler


def _stored(call: Call, kind: str) -> store.Stored:
    stored = store.get_object(call.conn, call.path_args["id"], type=kind, mode=call.mode)
    if stored is None:
        raise errors.resource_missing(kind, call.path_args["id"])
    return stored


def _session_matches(session: dict[str, Any], params: dict[str, Any]) -> bool:
    if not _fields("customer", "customer_account", "payment_intent", "payment_link", "status", "subscription")(
        session, params
    ):
        return False
    if "customer_details" in params:
        email = (session["customer_details"] or {}).get("email")
        return email == params["customer_details"]["email"]
    return True


retrieve_checkout_session = _retrieve("checkout.session")
list_checkout_sessions = _list(
    "checkout.session", "/v1/checkout/sessions", param_specs.CHECKOUT_SESSION_LIST, _session_matches
)
retrieve_payment_intent = _retrieve("payment_intent", param_specs.PAYMENT_INTENT_RETRIEVE)
list_payment_intents = _list(
    "payment_intent", "/v1/payment_intents", param_specs.PAYMENT_INTENT_LIST, _fields("customer", "customer_account")
)
retrieve_charge = _retrieve("charge")
list_charges = _list(
    "charge", "/v1/charges", param_specs.CHARGE_LIST, _fields("customer", "payment_intent", "transfer_group")
)
retrieve_refund = _retrieve("refund")
list_refunds = _list("refund", "/v1/refunds", param_specs.REFUND_LIST, _fields("charge", "payment_intent"))
retrieve_dispute = _retrieve("dispute")
list_disputes = _list("dispute", "/v1/disputes", param_specs.DISPUTE_LIST, _fields("charge", "payment_intent"))


def expire_checkout_session(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.CHECKOUT_SESSION_EXPIRE)
    paths = expansion.check(params.get("expand", []), "checkout.session")
    stored = _stored(call, "checkout.session")
    try:
        session = payments.expire_session(call.scope(), stored)
    except errors.StripeError as exc:
        # Refused after looking at the session: saved under the idempotency key, as for refunds.
        exc.after_execution_began = True
        raise
    return expansion.render(call.conn, session, paths)


def create_refund(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.REFUND_CREATE)
    paths = expansion.check(params.get("expand", []), "refund")
    balance_params = [name for name in ("currency", "customer", "origin") if name in params]
    if balance_params:
        # Customer-balance refunds are not emulated; refusing beats pretending (our wording).
        raise errors.invalid("The emulator refunds charges only, not customer balances.", param=balance_params[0])
    # `instructions_email`, `refund_application_fee` and `reverse_transfer` change nothing for a card
    # charge without Connect transfers or application fees, so they are accepted and ignored.
    scope = call.scope()
    charge = refunds.charge_to_refund(scope, charge_id=params.get("charge"), intent_id=params.get("payment_intent"))
    try:
        refund = refunds.create(
            scope,
            charge,
            amount=params.get("amount"),
            reason=params.get("reason"),
            metadata=objects.merge_metadata({}, params.get("metadata", {})),
        )
    except errors.StripeError as exc:
        # Refused after looking at the charge: the idempotency layer saves this answer, as
        # Stripe does once "endpoint execution begins".
        exc.after_execution_began = True
        raise
    return expansion.render(call.conn, refund, paths)


def update_refund(call: Call) -> dict[str, Any]:
    params = call.validated(param_specs.REFUND_UPDATE)
    paths = expansion.check(params.get("expand", []), "refund")
    stored = _stored(call, "refund")
    refund = stored.body
    if "metadata" in params:
        refund = refunds.update_metadata(call.scope(), stored, params["metadata"])
    return expansion.render(call.conn, refund, paths)

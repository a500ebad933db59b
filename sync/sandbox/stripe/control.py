"""The emulator's control API over HTTP (`/__sandbox/...`, JSON, no Stripe auth) and the hosted page.

Mirrors the Python methods of `StripeEmulator` so a worker process under test can be set up and
inspected from outside. Keys go in request bodies only and are never echoed back.

Customer and Dashboard actions (JSON bodies; amounts in minor units; 201 when objects are made,
404 for an unknown object, 409 when Stripe would refuse, 400 for a malformed request):
  POST /__sandbox/pay                       {link, card?, email?, name?, new_session?}
  POST /__sandbox/refunds                   {charge_or_payment_intent, amount?, reason?, status?}
  POST /__sandbox/refunds/{id}/settle
  POST /__sandbox/refunds/{id}/fail         {failure_reason?}
  POST /__sandbox/disputes                  {charge_or_payment_intent, reason?, amount?}
  POST /__sandbox/disputes/{id}/evidence    (the merchant submits evidence: under review)
  POST /__sandbox/disputes/{id}/close       {won}
  POST /__sandbox/saved-errors              {path, method?, times?, after_work?} (a 500 saved under the key)
  POST /__sandbox/event-delay               {seconds, count?} (the next events show in the list late)
  GET|POST /__sandbox/account               {api_version?, default_currency?} (the account's default API
                                            version, in which events are rendered; the currency it settles in)
  GET  /__sandbox/clock    POST /__sandbox/clock/advance {days?, hours?, minutes?, seconds?} (shared)
  GET|POST|DELETE /__sandbox/faults  served in front of this app by the fault layer (sandbox/faults/control.py)
`card` is a Stripe test card number (cards.py): 4242424242424242 pays; 4000000000000002 and its kin
are declined; 4000000000007726 pays and its refunds start pending (settle them with `settle`);
4000000000005126 pays and its refunds succeed, then fail with expired_or_canceled_card on `fail`.
Pages: GET/POST /__sandbox/pay/{token} (the hosted page; its form posts `card` and `email`) and
GET /__sandbox/receipts/{charge_id} (a charge's `receipt_url`).
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..clock import clock_control
from ..httpserver import Request, Response
from . import errors, receipts

if TYPE_CHECKING:
    from .app import StripeEmulator


def handle(emulator: StripeEmulator, request: Request) -> Response:
    """Answer one `/__sandbox/...` request."""
    parts = [p for p in request.path.split("/") if p][1:]
    method = request.method
    try:
        match method, parts:
            case "POST", ["api_keys"]:
                key = _body(request)["key"]
                mode = emulator.add_api_key(key)
                return Response.json({"mode": mode, "key_last4": key[-4:]}, status=201)
            case "POST", ["api_keys", "revoke"]:
                revoked = emulator.revoke_api_key(_body(request)["key"])
                return Response.json({"revoked": revoked}, status=200 if revoked else 404)
            case "GET", ["objects"]:
                kind = request.arg("type")
                if not kind:
                    return Response.json({"error": "the type query parameter is required"}, status=400)
                return Response.json({"data": emulator.objects(kind, mode=request.arg("mode"))})
            case "GET", ["objects", object_id]:
                found = emulator.get_object(object_id)
                return Response.json(found) if found else Response.json({"error": "not found"}, status=404)
            case "GET", ["events"]:
                return Response.json({"data": emulator.events(mode=request.arg("mode") or "test")})
            case ("GET", ["clock"]) | ("POST", ["clock", "advance"]):
                body = _body(request) if method == "POST" else {}
                try:
                    return Response.json(clock_control(emulator.clock, method, body))
                except ValueError as exc:
                    return Response.json({"error": str(exc)}, status=400)
            case "GET", ["requests"]:
                return Response.json({"data": emulator.request_log()})
            case "DELETE", ["requests"]:
                emulator.clear_request_log()
                return Response.empty()
            case "GET", ["requests", "counts"]:
                counts = emulator.request_counts()
                data = [{"method": m, "path": p, "count": n} for (m, p), n in sorted(counts.items())]
                return Response.json({"data": data})
            case "GET", ["pay", token]:
                return _hosted_page(emulator, token)
            case "POST", ["pay", token]:
                return _submit_payment_form(emulator, token, request)
            case "GET", ["account"]:
                return Response.json(emulator.account_settings())
            case "POST", ["account"]:
                body = _fields(request, optional=("api_version", "default_currency"))
                emulator.set_account(
                    api_version=None if body.get("api_version") is None else _text(body["api_version"], "api_version"),
                    default_currency=None
                    if body.get("default_currency") is None
                    else _text(body["default_currency"], "default_currency"),
                )
                return Response.json(emulator.account_settings())
            case "POST", ["event-delay"]:
                body = _fields(request, required=("seconds",), optional=("count",))
                emulator.delay_events(int(body["seconds"]), count=int(body.get("count", 1_000_000)))
                return Response.empty()
            case "POST", ["saved-errors"]:
                body = _fields(request, required=("path",), optional=("method", "times", "after_work"))
                emulator.add_saved_failure(
                    _text(body["path"], "path"), method=_text(body.get("method", "POST"), "method"),
                    times=int(body.get("times", 1)), after_work=bool(body.get("after_work", False)),
                )  # fmt: skip
                return Response.empty()
            case "POST", ["pay"]:
                body = _fields(request, required=("link",), optional=("card", "email", "name", "new_session"))
                link = body.pop("link")
                return Response.json(emulator.pay(_text(link, "link"), **_pay_options(body), request=request), 201)
            case "POST", ["refunds"]:
                body = _fields(request, required=("charge_or_payment_intent",), optional=("amount", "reason", "status"))
                target = _text(body.pop("charge_or_payment_intent"), "charge_or_payment_intent")
                result = emulator.refund(target, **_refund_options(body), request=request)
                return Response.json(result, status=201)
            case "POST", ["refunds", refund_id, "settle"]:
                _fields(request)
                return Response.json(emulator.settle_refund(refund_id, request=request))
            case "POST", ["refunds", refund_id, "fail"]:
                body = _fields(request, optional=("failure_reason",))
                reason = body.get("failure_reason")
                reason = None if reason is None else _text(reason, "failure_reason")
                return Response.json(emulator.fail_refund(refund_id, failure_reason=reason, request=request))
            case "POST", ["disputes"]:
                body = _fields(request, required=("charge_or_payment_intent",), optional=("reason", "amount"))
                target = _text(body["charge_or_payment_intent"], "charge_or_payment_intent")
                reason = _text(body.get("reason", "fraudulent"), "reason")
                amount = _amount(body.get("amount"))
                return Response.json(emulator.dispute(target, reason=reason, amount=amount, request=request), 201)
            case "POST", ["disputes", dispute_id, "evidence"]:
                _fields(request)
                return Response.json(emulator.submit_dispute_evidence(dispute_id, request=request))
            case "POST", ["disputes", dispute_id, "close"]:
                won = _fields(request, required=("won",))["won"]
                if not isinstance(won, bool):
                    raise TypeError("won must be true or false")
                return Response.json(emulator.close_dispute(dispute_id, won=won, request=request))
            case "GET", ["receipts", charge_id]:
                return _receipt(emulator, charge_id)
    except errors.ActionError as exc:
        return Response.json({"error": str(exc)}, status=exc.status)
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        return Response.json({"error": f"bad control request: {exc}"}, status=400)
    return Response.json({"error": f"no control route {method} {request.path}"}, status=404)


def _fields(request: Request, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON body (may be empty when nothing is required), refusing missing and unknown fields."""
    body = _body(request) if request.body or required else {}
    unknown = sorted(set(body) - set(required) - set(optional))
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in required if name not in body]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    return body


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string")
    return value


def _amount(value: Any) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError("amount must be an integer in minor units")
    return value


def _pay_options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("card", "email", "name"):
        if body.get(name) is not None:
            options[name] = _text(body[name], name)
    if "new_session" in body:
        if not isinstance(body["new_session"], bool):
            raise TypeError("new_session must be true or false")
        options["new_session"] = body["new_session"]
    return options


def _refund_options(body: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"amount": _amount(body.get("amount"))}
    if body.get("reason") is not None:
        options["reason"] = _text(body["reason"], "reason")
    if "status" in body:
        options["status"] = _text(body["status"], "status")
    return options


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise TypeError("the body must be a JSON object")
    return body


def _hosted_page(emulator: StripeEmulator, token: str) -> Response:
    """A bare stand-in for buy.stripe.com: what is for sale, or the link's inactive message."""
    link = emulator.payment_link_by_token(token)
    if link is None:
        return _html("<h1>Not found</h1>", status=404)
    if not link["active"]:
        message = link["inactive_message"] or "This link is no longer active."
        body = f"<h1>Inactive</h1><p class='inactive-message'>{html.escape(message)}</p>"
    else:
        rows = "".join(
            f"<li data-amount='{item['amount_total']}' data-currency='{item['currency']}'>"
            f"{html.escape(item['description'] or '')} × {item['quantity']}</li>"
            for item in link["line_items"]
        )
        form = (
            f"<form method='post' action='/__sandbox/pay/{html.escape(token)}'>"
            "<input name='email' type='email' placeholder='Email'>"
            "<input name='card' value='4242424242424242' placeholder='Card number'>"
            "<button type='submit'>Pay</button></form>"
        )
        body = f"<h1>Pay</h1><ul>{rows}</ul>{form}"
    return _html(f"<!doctype html><html><body data-payment-link='{link['id']}'>{body}</body></html>")


def _submit_payment_form(emulator: StripeEmulator, token: str, request: Request) -> Response:
    """The hosted page's form posted (`card`, optional `email`): the outcome as a small page."""
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", errors="replace")).items()}
    try:
        result = emulator.pay(
            token, card=form.get("card", "4242424242424242"), email=form.get("email"), request=request
        )
    except errors.ActionNotFound:
        return _html("<h1>Not found</h1>", status=404)
    except ValueError as exc:  # an inactive link or an unknown card: the page says so
        return _html(f"<h1>Payment not possible</h1><p class='error'>{html.escape(str(exc))}</p>", status=409)
    if result["error"] is not None:
        message = html.escape(result["error"]["message"])
        return _html(f"<h1>Payment failed</h1><p class='error'>{message}</p>", status=402)
    receipt = html.escape(result["charge"]["receipt_url"])
    return _html(f"<h1>Payment succeeded</h1><p><a class='receipt' href='{receipt}'>Receipt</a></p>")


def _receipt(emulator: StripeEmulator, charge_id: str) -> Response:
    charge = emulator.get_object(charge_id)
    if charge is None or charge["object"] != "charge" or charge["receipt_url"] is None:
        return _html("<h1>Not found</h1>", status=404)
    return _html(receipts.page(charge))


def _html(page: str, *, status: int = 200) -> Response:
    return Response(status=status, body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"})

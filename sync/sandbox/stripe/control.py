"""The emulator's control API over HTTP (`/__sandbox/...`, JSON, no Stripe auth) and the hosted page.

Mirrors the Python methods of `StripeEmulator` so a worker process under test can be set up and
inspected from outside. Keys go in request bodies only and are never echoed back.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

from ..httpserver import Request, Response

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
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        return Response.json({"error": f"bad control request: {exc}"}, status=400)
    return Response.json({"error": f"no control route {method} {request.path}"}, status=404)


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise TypeError("the body must be a JSON object")
    return body


def _hosted_page(emulator: StripeEmulator, token: str) -> Response:
    """A bare stand-in for buy.stripe.com: what is for sale, or the link's inactive message."""
    link = emulator.payment_link_by_token(token)
    if link is None:
        return Response(status=404, body=b"<h1>Not found</h1>", headers={"Content-Type": "text/html"})
    if not link["active"]:
        message = link["inactive_message"] or "This link is no longer active."
        body = f"<h1>Inactive</h1><p class='inactive-message'>{html.escape(message)}</p>"
    else:
        rows = "".join(
            f"<li data-amount='{item['amount_total']}' data-currency='{item['currency']}'>"
            f"{html.escape(item['description'] or '')} × {item['quantity']}</li>"
            for item in link["line_items"]
        )
        body = f"<h1>Pay</h1><ul>{rows}</ul>"
    page = f"<!doctype html><html><body data-payment-link='{link['id']}'>{body}</body></html>"
    return Response(status=200, body=page.encode(), headers={"Content-Type": "text/html; charset=utf-8"})

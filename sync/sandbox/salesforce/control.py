"""The sandbox's own HTTP control API under /__sandbox/ (no auth; not part of Salesforce's API).

POST   /__sandbox/apps/client-credentials   {consumer_key, consumer_secret, username}
POST   /__sandbox/apps/jwt                  {consumer_key, certificate_pem, username}
POST   /__sandbox/records/{Obj}             {fields...}            -> {"id"}
GET    /__sandbox/records/{Obj}/{id}                               -> record
PATCH  /__sandbox/records/{Obj}/{id}        {fields...}
DELETE /__sandbox/records/{Obj}/{id}
POST   /__sandbox/query                     {"q", "include_deleted"?} -> query result
GET    /__sandbox/outbox                                           -> [mail...]
GET    /__sandbox/api-calls    DELETE /__sandbox/api-calls (reset)
POST   /__sandbox/tokens/expire
POST   /__sandbox/fields/{Obj}/{Field}      {readable?, createable?, updateable?}
POST   /__sandbox/rules                     {object, when, message, code?, field?, on?, times?}
POST   /__sandbox/feeds/{Obj}               {enabled}              (feed tracking on the object)
POST   /__sandbox/activities/{Obj}          {enabled}              ("Allow Activities" on the object)
POST   /__sandbox/permissions               {view_encrypted_data}  (the API user's)
POST   /__sandbox/users/{username}          {email_verified}       (the user's email verification)
POST   /__sandbox/settings/invocable-actions {partial_save_allowed} (InvocableActionSettings)
DELETE /__sandbox/rules                     (every rule removed)
GET    /__sandbox/limits       POST /__sandbox/limits {daily_limit?, used?, single_email_max?}
GET    /__sandbox/clock        POST /__sandbox/clock/advance {days?, hours?, minutes?, seconds?}
GET|POST|DELETE /__sandbox/faults  served in front of this app by the fault layer (sandbox/faults/control.py)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..clock import clock_control
from ..httpserver import Request, Response
from .errors import ApiError
from .jsonwire import dumps, loads
from .validation_rules import ValidationRule

if TYPE_CHECKING:
    from .app import SalesforceEmulator


def handle_control(emulator: SalesforceEmulator, request: Request) -> Response:
    parts = [p for p in request.path.split("/") if p][1:]
    try:
        body = loads(request.body) if request.body else {}
        return _ok(_route(emulator, request.method, parts, body))
    except ApiError as err:
        return _reply(err.status, err.body())
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        return _reply(400, {"error": f"{type(exc).__name__}: {exc}"})


def _route(emulator: SalesforceEmulator, method: str, parts: list[str], body: Any) -> Any:
    match method, parts:
        case "POST", ["apps", "client-credentials"]:
            return {"user_id": emulator.register_client_credentials_app(**body)}
        case "POST", ["apps", "jwt"]:
            return {"user_id": emulator.register_jwt_app(**body)}
        case "POST", ["records", sobject]:
            return {"id": emulator.create_record(sobject, body)}
        case "GET", ["records", sobject, record_id]:
            return emulator.get_record(sobject, record_id)
        case "PATCH", ["records", sobject, record_id]:
            emulator.update_record(sobject, record_id, body)
            return None
        case "DELETE", ["records", sobject, record_id]:
            emulator.delete_record(sobject, record_id)
            return None
        case "POST", ["query"]:
            return emulator.query(body["q"], include_deleted=bool(body.get("include_deleted", False)))
        case "GET", ["outbox"]:
            return emulator.outbox()
        case "GET", ["api-calls"]:
            return emulator.api_calls()
        case "DELETE", ["api-calls"]:
            emulator.reset_api_calls()
            return None
        case "POST", ["tokens", "expire"]:
            emulator.expire_all_tokens()
            return None
        case "POST", ["rules"]:
            emulator.add_validation_rule(ValidationRule.from_json(body))
            return None
        case "POST", ["permissions"]:
            emulator.set_view_encrypted_data(bool(body["view_encrypted_data"]))
            return None
        case "POST", ["feeds", sobject]:
            emulator.set_feed_tracking(sobject, enabled=bool(body["enabled"]))
            return None
        case "POST", ["activities", sobject]:
            emulator.set_activities(sobject, enabled=bool(body["enabled"]))
            return None
        case "POST", ["settings", "invocable-actions"]:
            emulator.set_partial_save(bool(body["partial_save_allowed"]))
            return None
        case "POST", ["users", username]:
            emulator.set_email_verified(username, bool(body["email_verified"]))
            return None
        case "DELETE", ["rules"]:
            emulator.clear_validation_rules()
            return None
        case "POST", ["fields", sobject, field]:
            emulator.set_field_access(sobject, field, **body)
            return None
        case "GET", ["limits"]:
            return emulator.limits()
        case "POST", ["limits"]:
            emulator.set_api_limit(**body)
            return emulator.limits()
        case ("GET", ["clock"]) | ("POST", ["clock", "advance"]):
            return clock_control(emulator.clock, method, body)
    raise ApiError(404, "NOT_FOUND", f"no sandbox control endpoint {method} /__sandbox/{'/'.join(parts)}")


def _ok(payload: Any) -> Response:
    return _reply(200, payload) if payload is not None else Response(status=204)


def _reply(status: int, payload: Any) -> Response:
    return Response(status=status, body=dumps(payload).encode(), headers={"Content-Type": "application/json"})

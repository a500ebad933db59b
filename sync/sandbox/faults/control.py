"""`/__sandbox/faults` on both emulators: each controls the faults of its own service (JSON, no auth).

GET    /__sandbox/faults          -> {service, seed, latency, rules[], outage, rate_limit, kinds, recent, counts}
POST   /__sandbox/faults          {seed?, latency?, rules?, outage_seconds?, outage?, rate_limit?} -> as GET
POST   /__sandbox/faults/rules    {kind, rate?, path?, method?, phase?, limit?, hold_seconds?, should_retry?}
DELETE /__sandbox/faults          clear rules, latency, outage and rate limit (counts stay) -> as GET
DELETE /__sandbox/faults/counts   reset the counts
POST keys replace that part of the configuration and leave the rest; `rules` replaces the list.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..httpserver import Request, Response
from .rules import FaultRule

if TYPE_CHECKING:
    from .injector import FaultInjector

PATH = "/__sandbox/faults"
_SETTINGS = ("seed", "latency", "rules", "outage_seconds", "outage", "rate_limit")


def is_control(path: str) -> bool:
    return path.rstrip("/") == PATH or path.startswith(PATH + "/")


def handle(injector: FaultInjector, request: Request) -> Response:
    """Answer one `/__sandbox/faults...` request; 400 with `{"error"}` for a bad body."""
    rest = request.path.rstrip("/")[len(PATH) :]
    try:
        match request.method, rest:
            case "GET", "":
                return Response.json(injector.snapshot())
            case "POST", "":
                injector.configure(**_settings(_body(request)))
                return Response.json(injector.snapshot())
            case "POST", "/rules":
                rule = FaultRule.from_json(_body(request))
                injector.add_rule(**rule.to_json())
                return Response.json(injector.snapshot(), status=201)
            case "DELETE", "":
                injector.clear()
                return Response.json(injector.snapshot())
            case "DELETE", "/counts":
                injector.reset_counts()
                return Response.json(injector.snapshot())
    except (TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        return Response.json({"error": f"bad fault configuration: {exc}"}, status=400)
    return Response.json({"error": f"no control route {request.method} {request.path}"}, status=404)


def _settings(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - set(_SETTINGS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; use {', '.join(_SETTINGS)}")
    settings = dict(body)
    if "rules" in settings:
        if not isinstance(settings["rules"], list):
            raise ValueError("rules must be a list")
        settings["rules"] = [FaultRule.from_json(rule) for rule in settings["rules"]]
    if settings.get("latency", 0) is None or settings.get("rate_limit", False) is None:
        raise ValueError("latency and rate_limit cannot be null; send 0 or false")
    return settings


def _body(request: Request) -> dict[str, Any]:
    body = json.loads(request.body or b"{}")
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body

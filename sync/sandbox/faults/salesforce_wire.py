"""Salesforce's answers to injected faults: `[{"message", "errorCode"}]` bodies, as the org sends them."""

from __future__ import annotations

import re
from email.utils import formatdate
from typing import TYPE_CHECKING

from ..httpserver import Request, Response
from ..salesforce import errors
from ..salesforce.ids import make_id, to_18
from ..salesforce.jsonwire import dumps
from .rules import FaultRule

if TYPE_CHECKING:
    from ..salesforce.app import SalesforceEmulator

_ID18 = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{18}(?![A-Za-z0-9])")
_SOME_RECORD = make_id("a00", 1)  # named in a lock error when the request names no record


class SalesforceWire:
    """Fault answers of the org emulator.

    `invalid_session` ends the session of the token the request carried, as an expiry would, so
    the client must log in again (a retry with the same token gets 401 from the org itself).
    """

    service = "salesforce"
    kinds = frozenset({"invalid_session", "unable_to_lock_row", "request_limit_exceeded", "unavailable"})
    exempt_prefixes = ("/__sandbox/", "/services/oauth2/")
    rate_limits: dict[str, int] | None = None

    def __init__(self, emulator: SalesforceEmulator) -> None:
        self._emulator = emulator

    def error(self, rule: FaultRule, request: Request, original: Response | None) -> Response:
        match rule.kind:
            case "invalid_session":
                self._emulator.revoke_session(request.header("Authorization"))
                return self._answer(errors.invalid_session(), {"WWW-Authenticate": "Token"})
            case "unable_to_lock_row":
                return self._answer(errors.unable_to_lock_row(_record_id(request)))
            case "request_limit_exceeded":
                used, limit = self._emulator.usage.current()
                return self._answer(errors.request_limit_exceeded(), {"Sforce-Limit-Info": f"api-usage={used}/{limit}"})
            case "unavailable":
                return self.outage(request)
        raise ValueError(f"not a Salesforce fault kind: {rule.kind}")

    def outage(self, request: Request) -> Response:
        return self._answer(errors.server_unavailable())

    def rate_limited(self, request: Request) -> Response:
        raise NotImplementedError("the org emulator has no per-second rate limit")

    def mode(self, request: Request) -> str | None:
        return None

    def _answer(self, error: errors.ApiError, headers: dict[str, str] | None = None) -> Response:
        return Response(
            status=error.status,
            body=dumps(error.body()).encode(),
            headers={
                "Content-Type": "application/json;charset=UTF-8",
                # Date from the org's clock, as on every answer the org gives.
                "Date": formatdate(self._emulator.clock.time(), usegmt=True),
                **(headers or {}),
            },
        )


def _record_id(request: Request) -> str:
    """The first record id the request names (path, then query, then body); a lock is on a record."""
    for text in (request.path, request.raw_query, request.body.decode("utf-8", errors="replace")):
        for candidate in _ID18.findall(text):
            if to_18(candidate) == candidate:
                return candidate
    return _SOME_RECORD

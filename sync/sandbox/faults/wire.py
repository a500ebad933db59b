"""What a service answers when a fault hits: the port the injector builds its answers through."""

from __future__ import annotations

from typing import Protocol

from ..httpserver import Request, Response
from .rules import FaultRule


class ServiceWire(Protocol):
    """One service's fault answers, in its own wire format."""

    service: str
    kinds: frozenset[str]  # error kinds beyond reset and timeout
    exempt_prefixes: tuple[str, ...]  # paths no fault reaches unless a rule names them
    rate_limits: dict[str, int] | None  # requests a second per mode, for services that limit

    def error(self, rule: FaultRule, request: Request, original: Response | None) -> Response:
        """The answer for an error kind; `original` is the emulator's answer in phase "after"."""
        ...

    def outage(self, request: Request) -> Response:
        """The answer to every API call while the service is down."""
        ...

    def rate_limited(self, request: Request) -> Response:
        """The answer over the rate limit (only called when `rate_limits` is set)."""
        ...

    def mode(self, request: Request) -> str | None:
        """The key of the rate-limit budget a request counts against, if any."""
        ...

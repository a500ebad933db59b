"""A fault rule: which requests it hits, how often, and what the client then sees."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..httpserver import Request

PHASES = ("before", "after")
# Kinds every service has: the connection closes without an answer, at once or after a hold.
CONNECTION_KINDS = frozenset({"reset", "timeout"})
# Longer than a typical client timeout, so the client gives up first, as it would on a hung server.
DEFAULT_HOLD_SECONDS = 30.0


@dataclass(frozen=True)
class FaultRule:
    """Inject `kind` into a matching request with probability `rate`, at most `limit` times.

    `path` is a regular expression searched in the request path, so a plain fragment such as
    `/composite` matches every path containing it and `^/v1/payment_links$` only that one. Paths a
    service exempts (its control API, the OAuth endpoints) match only a rule whose `path` names
    them (contains `__sandbox` or `oauth2`).

    `phase`: "before" answers without the emulator seeing the request; "after" lets the emulator
    apply it and then replaces or loses the answer. Unset: "before" for error answers, a seeded
    coin toss for `reset` and `timeout`. `hold_seconds` is how long a `timeout` holds the
    connection before dropping it. `should_retry` (Stripe only) sets `Stripe-Should-Retry` to true
    or false, or leaves it out (null); "auto" does what Stripe does: true on `lock_timeout` only.
    """

    kind: str
    rate: float = 1.0
    path: str | None = None
    method: str | None = None
    phase: str | None = None
    limit: int | None = None
    hold_seconds: float = DEFAULT_HOLD_SECONDS
    should_retry: bool | str | None = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError("kind must be a non-empty string")
        if not (is_number(self.rate) and 0 <= self.rate <= 1):
            raise ValueError(f"rate must be a number from 0 to 1, not {self.rate!r}")
        if self.path is not None:
            if not isinstance(self.path, str) or not self.path:
                raise ValueError("path must be a non-empty string")
            try:
                re.compile(self.path)
            except re.error as exc:
                raise ValueError(f"path is not a regular expression: {exc}") from exc
        if self.method is not None:
            if not isinstance(self.method, str) or not self.method.isalpha():
                raise ValueError(f"method must be an HTTP method such as POST, not {self.method!r}")
            object.__setattr__(self, "method", self.method.upper())
        if self.phase is not None and self.phase not in PHASES:
            raise ValueError(f"phase must be one of {list(PHASES)}, not {self.phase!r}")
        if self.limit is not None and not (is_number(self.limit) and isinstance(self.limit, int) and self.limit >= 0):
            raise ValueError(f"limit must be a whole number of injections, not {self.limit!r}")
        if not (is_number(self.hold_seconds) and self.hold_seconds >= 0):
            raise ValueError(f"hold_seconds must be a number of seconds, not {self.hold_seconds!r}")
        if not (self.should_retry is None or isinstance(self.should_retry, bool) or self.should_retry == "auto"):
            raise ValueError('should_retry must be true, false, null (no header) or "auto"')

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """A rule from its JSON object; raises ValueError on unknown or ill-typed fields."""
        if not isinstance(data, dict):
            raise ValueError("each rule must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown rule field(s): {', '.join(unknown)}")
        if "kind" not in data:
            raise ValueError("a rule needs a kind")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, request: Request, *, exempt_stem: str | None) -> bool:
        """Whether this rule applies to `request`; `exempt_stem` is set for paths exempt by default."""
        if self.method is not None and request.method != self.method:
            return False
        if exempt_stem is not None and (self.path is None or exempt_stem not in self.path):
            return False
        return self.path is None or re.search(self.path, request.path) is not None


def is_number(value: object) -> bool:
    """A finite int or float, not a bool (JSON true would otherwise pass as 1)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

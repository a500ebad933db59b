"""Spend the org's daily API allowance with care: read usage from every answer's Sforce-Limit-Info
header, slow the poll as usage nears the configured share, and past it pause non-urgent work.

The allowance is org-wide and rolling over 24 h, shared by every integration; once it is spent,
Salesforce refuses all of them (REQUEST_LIMIT_EXCEEDED) until usage drops. Header format:
`api-usage=18/5000` (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm).
Urgent work goes on at any usage: new requests, payments and refunds. Non-urgent work waits:
reminders and the periodic sweep (events still bring every outcome back).
"""

from __future__ import annotations

import re
import threading

from sync.runtime.logs import log

_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")
SLOW_FROM = 0.10  # start slowing this far below the share (as a fraction of the allowance)
MAX_SLOWDOWN = 10.0  # the poll interval is stretched at most this much


def parse_usage(header: str | None) -> tuple[int, int] | None:
    """(used, limit) from a Sforce-Limit-Info value, or None."""
    match = _USAGE.search(header or "")
    if match is None or int(match.group(2)) <= 0:
        return None
    return int(match.group(1)), int(match.group(2))


class ApiBudget:
    """The org's API usage as last reported, and what the worker should do about it. Thread-safe."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._lock = threading.Lock()
        self._usage: tuple[int, int] | None = None
        self._state = "normal"

    def observe(self, header: str | None) -> None:
        usage = parse_usage(header)
        if usage is None:
            return
        with self._lock:
            self._usage = usage
        self._log_change()

    @property
    def used_share(self) -> float | None:
        with self._lock:
            return None if self._usage is None else self._usage[0] / self._usage[1]

    def slowdown(self) -> float:
        """How much to stretch the poll interval: 1 well below the share, rising to MAX_SLOWDOWN at it."""
        used = self.used_share
        start = self.share - SLOW_FROM
        if used is None or used <= start:
            return 1.0
        if used >= self.share:
            return MAX_SLOWDOWN
        return 1.0 + (MAX_SLOWDOWN - 1.0) * (used - start) / SLOW_FROM

    def non_urgent_paused(self) -> bool:
        used = self.used_share
        return used is not None and used >= self.share

    def _log_change(self) -> None:
        state = "paused" if self.non_urgent_paused() else "slowing" if self.slowdown() > 1.0 else "normal"
        with self._lock:
            changed, self._state = state != self._state, state
            usage = self._usage
        if changed and usage is not None:
            used, limit = usage
            log.warning(
                f"api_budget.{state}",
                used=used,
                limit=limit,
                share=self.share,
                poll_interval_factor=round(self.slowdown(), 1),
            )

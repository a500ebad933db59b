"""Route a data-API call (/services/data/vNN.N/...) to its resource; the same router serves subrequests."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from urllib.parse import unquote

from . import actions
from .composite_api import CompositeApi
from .errors import ApiError, not_found
from .query_api import QueryApi
from .sobject_api import SObjectApi, method_not_allowed
from .wire import Call, Result

_RESOURCES = ("sobjects", "query", "queryAll", "composite", "actions", "limits")


class DataApi:
    def __init__(
        self, *, sobjects: SObjectApi, queries: QueryApi, composite: CompositeApi, emails: actions.EmailAction
    ) -> None:
        self.emails = emails
        self.sobjects = sobjects
        self.queries = queries
        self.composite = composite

    def dispatch(self, conn: sqlite3.Connection, call: Call, now: datetime) -> Result:
        """Answer one call; ApiErrors become error results so composite can report them per subrequest."""
        try:
            return self._route(conn, call, now)
        except ApiError as err:
            return Result.error(err)

    def _route(self, conn: sqlite3.Connection, call: Call, now: datetime) -> Result:
        parts = [unquote(p) for p in call.resource.split("/") if p]
        if not parts:
            _only(call, "GET")
            return Result(200, {name: f"/services/data/v{call.version}/{name}" for name in _RESOURCES})
        head, rest = parts[0], parts[1:]
        if head == "limits" and not rest:
            _only(call, "GET")
            return Result(200, limits(conn, now))
        if head in ("query", "queryAll"):
            _only(call, "GET")
            if not rest:
                return self.queries.query(conn, call, now, include_deleted=head == "queryAll")
            return self.queries.more(conn, call, rest[0], now)
        if head == "sobjects":
            return self.sobjects.handle(conn, call, rest, now)
        if head == "composite":
            if not rest:
                _only(call, "POST")
                return self.composite.composite(conn, call, self.dispatch, now)
            if rest[0] == "sobjects":
                return self.composite.collections(conn, call, rest[1:], now)
            if rest == ["graph"]:
                _only(call, "POST")
                return self.composite.graph(conn, call, self.dispatch, now)
        if parts == ["actions", "standard", "emailSimple"]:
            _only(call, "POST")
            return Result(*self.emails.send(conn, call.json(), sent_at=now, user_id=call.user_id))
        raise not_found()


def endpoint_name(method: str, resource: str) -> str:
    """The per-endpoint counter key: `GET query`, `POST composite/sobjects`, `PATCH sobjects`."""
    parts = [p for p in resource.split("/") if p]
    if not parts:
        family = "resources"
    elif parts[0] == "composite" and len(parts) > 1:
        family = f"composite/{parts[1]}"
    elif parts[0] == "actions":
        family = "/".join(parts)
    else:
        family = parts[0]
    return f"{method} {family}"


def limits(conn: sqlite3.Connection, now: datetime) -> dict[str, dict[str, int]]:
    settings = {r["name"]: int(r["value"]) for r in conn.execute("SELECT name, value FROM sf_settings")}
    daily = settings["daily_limit"]
    single_left = actions.single_email_remaining(conn, day=now.date().isoformat())
    return {
        "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
        "DailyApiRequests": {"Max": daily, "Remaining": max(0, daily - settings["used"])},
        "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DailyWorkflowEmails": {"Max": 100000, "Remaining": 100000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        "FileStorageMB": {"Max": 1024, "Remaining": 1024},
        "HourlyPublishedPlatformEvents": {"Max": 50000, "Remaining": 50000},
        "MassEmail": {"Max": 5000, "Remaining": 5000},
        "SingleEmail": {"Max": actions.single_email_max(conn), "Remaining": single_left},
    }


def _only(call: Call, method: str) -> None:
    if call.method != method:
        raise method_not_allowed(call.method, f"HEAD,{method}" if method == "GET" else method)

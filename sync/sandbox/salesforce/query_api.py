"""The query and queryAll resources, with paging through query locators that hold a result snapshot."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from ..db import Database
from .catalog import Catalog
from .errors import bad_request
from .ids import make_id
from .query_engine import Child, Plan, QueryEngine
from .soql import parse
from .store import Store
from .wire import Call, Result

_TABLES = """
CREATE TABLE IF NOT EXISTS sf_query_locators (
    locator TEXT PRIMARY KEY, soql TEXT NOT NULL, include_deleted INTEGER NOT NULL,
    ids TEXT NOT NULL, batch INTEGER NOT NULL
);
"""
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
# Salesforce, SOQL and SOSL Reference, "Change the Batch Size in Queries" (which covers REST and SOAP
# queries alike; developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/
# sforce_api_calls_soql_changing_batch_size.htm): "If the SOQL statement selects two or more custom
# fields of type long text, the batch size can't be greater than 200 records." One such field is not
# enough. The REST "Query Options Header" page gives the header's range: "The default is 2,000; the
# minimum is 200, and the maximum is 2,000. There is no guarantee that the requested batch size is the
# actual batch size."
_LONG_TEXT_BATCH = 200
_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")


class QueryApi:
    def __init__(self, *, db: Database, catalog: Catalog, store: Store, batch_size: int) -> None:
        self.catalog = catalog
        self.store = store
        self.batch_size = batch_size
        db.executescript(_TABLES)

    def engine(self, conn: sqlite3.Connection, now: Any, *, admin: bool = False) -> QueryEngine:
        return QueryEngine(catalog=self.catalog, store=self.store, conn=conn, now=now, admin=admin)

    def query(self, conn: sqlite3.Connection, call: Call, now: Any, *, include_deleted: bool) -> Result:
        resource = "queryAll" if include_deleted else "query"
        text = call.arg("q")
        if not text:
            raise bad_request("MALFORMED_QUERY", "A query string has to be specified")
        engine = self.engine(conn, now)
        plan = engine.plan(parse(text))
        rows = engine.run(plan, include_deleted=include_deleted)
        if plan.count is not None:
            return Result(200, count_result(plan, len(rows)))
        batch = self._batch(call, plan)
        payload: dict[str, Any] = {"totalSize": len(rows), "done": len(rows) <= batch}
        if len(rows) > batch:
            locator = make_id("01g", self.store.next_value(conn, "query_locator"))
            conn.execute(
                "INSERT INTO sf_query_locators VALUES (?, ?, ?, ?, ?)",
                (locator, text, int(include_deleted), json.dumps([r.id for r in rows]), batch),
            )
            payload["nextRecordsUrl"] = f"/services/data/v{call.version}/{resource}/{locator}-{batch}"
        payload["records"] = [
            engine.render(plan, r, version=call.version, include_deleted=include_deleted) for r in rows[:batch]
        ]
        return Result(200, payload)

    def more(self, conn: sqlite3.Connection, call: Call, locator_text: str, now: Any) -> Result:
        """The next batch of a query: GET query/01g…-2000 returns records from position 2000."""
        match = _LOCATOR.match(locator_text)
        found = (
            match and conn.execute("SELECT * FROM sf_query_locators WHERE locator = ?", (match.group(1),)).fetchone()
        )
        if not match or not found:
            raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
        ids: list[str] = json.loads(found["ids"])
        start, batch = int(match.group(2)), int(found["batch"])
        include_deleted = bool(found["include_deleted"])
        engine = self.engine(conn, now)
        plan = engine.plan(parse(found["soql"]))
        page = [row for row in (self.store.get(conn, i) for i in ids[start : start + batch]) if row]
        payload: dict[str, Any] = {"totalSize": len(ids), "done": start + batch >= len(ids)}
        if start + batch < len(ids):
            resource = call.resource.split("/")[0]
            payload["nextRecordsUrl"] = f"/services/data/v{call.version}/{resource}/{match.group(1)}-{start + batch}"
        payload["records"] = [
            engine.render(plan, r, version=call.version, include_deleted=include_deleted) for r in page
        ]
        return Result(200, payload)

    def admin_query(
        self, conn: sqlite3.Connection, text: str, now: Any, *, version: str, include_deleted: bool
    ) -> dict:
        """Run a query as the admin (no FLS) and return every row at once."""
        engine = self.engine(conn, now, admin=True)
        plan = engine.plan(parse(text))
        rows = engine.run(plan, include_deleted=include_deleted)
        if plan.count is not None:
            return count_result(plan, len(rows))
        records = [engine.render(plan, r, version=version, include_deleted=include_deleted) for r in rows]
        return {"totalSize": len(rows), "done": True, "records": records}

    def _batch(self, call: Call, plan: Plan) -> int:
        # Sforce-Query-Options: batchSize=N takes 200..2000; Salesforce treats it as a request, so it
        # lowers the batch but never lifts it past the long-text cap.
        match = _BATCH.search(call.header("Sforce-Query-Options") or "")
        batch = max(200, min(2000, int(match.group(1)))) if match else self.batch_size
        if len(long_text_fields(plan)) >= 2:
            return min(batch, _LONG_TEXT_BATCH)
        return batch


def long_text_fields(plan: Plan) -> set[tuple[str, str]]:
    """The custom long text fields a query selects, as (object, field), parent paths and subqueries included.

    The documentation counts the fields "the SOQL statement selects" and does not say whether those of a
    parent path or a subquery count; the emulator counts them, so a query is never paged larger than an
    org might page it.
    """
    found: set[tuple[str, str]] = set()
    for item in plan.items:
        if isinstance(item, Child):
            found |= long_text_fields(item.plan)
        elif item.field.custom and item.field.long_text:
            owner = item.hops[-1][2] if item.hops else plan.sobject
            found.add((owner.name, item.field.name))
    return found


def count_result(plan: Plan, count: int) -> dict[str, Any]:
    if plan.count == "count()":
        return {"totalSize": count, "done": True, "records": []}
    return {
        "totalSize": 1,
        "done": True,
        "records": [{"attributes": {"type": "AggregateResult"}, str(plan.count): count}],
    }

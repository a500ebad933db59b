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
from .query_engine import Child, ChildPager, Filter, Logic, Path, Plan, QueryEngine
from .soql import parse
from .store import Row, Store
from .wire import Call, Result

_TABLES = """
CREATE TABLE IF NOT EXISTS sf_query_cursors (
    locator TEXT PRIMARY KEY, soql TEXT NOT NULL, include_deleted INTEGER NOT NULL,
    ids TEXT NOT NULL, batch INTEGER NOT NULL, child_path TEXT NOT NULL, parent TEXT
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
# A subquery's child rows are a QueryResult of their own, paged apart from the parents: "Subquery
# results are like regular query results in that you might need to use queryMore() to retrieve all
# the records if there are many children" (SOQL and SOSL Reference, "Understanding Query Results",
# developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/
# sforce_api_calls_soql_relationships_query_results.htm). The size is not documented; real REST
# answers show 499 children then `"done": false, "nextRecordsUrl": "/services/data/v29.0/query/
# 01g1C00007zabMdQAI-499"` (simple-salesforce issue #311, quoting an org; also jsforce #577 and
# jetstream PR #1966: "only the first 499"), and 199 for a statement with long text fields
# (jsforce PR #1752: 199 of 257). So: 499, or 199 where the long text rule above caps the batch.
_SUBQUERY_BATCH = 499
_LONG_TEXT_SUBQUERY_BATCH = 199
_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")


class QueryApi:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        store: Store,
        batch_size: int,
        subquery_batch_size: int = _SUBQUERY_BATCH,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.batch_size = batch_size
        self.subquery_batch_size = subquery_batch_size
        db.executescript(_TABLES)

    def engine(self, conn: sqlite3.Connection, now: Any, *, admin: bool = False) -> QueryEngine:
        return QueryEngine(catalog=self.catalog, store=self.store, conn=conn, now=now, admin=admin)

    def query(self, conn: sqlite3.Connection, call: Call, now: Any, *, include_deleted: bool) -> Result:
        text = call.arg("q")
        if not text:
            raise bad_request("MALFORMED_QUERY", "A query string has to be specified")
        engine = self.engine(conn, now)
        plan = engine.plan(parse(text))
        check_relationship_depth(plan, version=call.version)
        rows = engine.run(plan, include_deleted=include_deleted)
        if plan.count is not None:
            return Result(200, count_result(plan, len(rows)))
        batch = self._batch(call, plan)
        payload: dict[str, Any] = {"totalSize": len(rows), "done": len(rows) <= batch}
        locator = None
        if len(rows) > batch:
            locator = self._cursor(conn, text, include_deleted, [r.id for r in rows], batch, (), parent=None)
            payload["nextRecordsUrl"] = _next_url(call.version, locator, batch)
        pager = self._pager(conn, call, plan, text, include_deleted, parent=locator)
        payload["records"] = [
            engine.render(plan, r, version=call.version, include_deleted=include_deleted, pager=pager)
            for r in rows[:batch]
        ]
        return Result(200, payload)

    def more(self, conn: sqlite3.Connection, call: Call, locator_text: str, now: Any) -> Result:
        """The next batch of a query: GET query/01g…-2000 returns records from position 2000.

        The locator may be a subquery's (one parent's child rows). Paging a cursor on releases the
        cursors of its previous batch's subqueries: "A queryMore() call on a parent object
        invalidates all child cursors in the previous result set" (SOAP API Developer Guide,
        QueryLocator; developer.salesforce.com/docs/atlas.en-us.api.meta/api/
        sforce_api_calls_querymore_querylocator.htm). REST's nextRecordsUrl is the same server-side
        cursor (Salesforce Help 000004410, "INVALID_QUERY_LOCATOR").
        """
        match = _LOCATOR.match(locator_text)
        found = match and conn.execute("SELECT * FROM sf_query_cursors WHERE locator = ?", (match.group(1),)).fetchone()
        if not match or not found:
            raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
        ids: list[str] = json.loads(found["ids"])
        start, batch = int(match.group(2)), int(found["batch"])
        include_deleted = bool(found["include_deleted"])
        at = tuple(json.loads(found["child_path"]))
        engine = self.engine(conn, now)
        top = plan = engine.plan(parse(found["soql"]))
        for index in at:
            item = plan.items[index]
            assert isinstance(item, Child)
            plan = item.plan
        self._release_children(conn, match.group(1))
        page = [row for row in (self.store.get(conn, i) for i in ids[start : start + batch]) if row]
        payload: dict[str, Any] = {"totalSize": len(ids), "done": start + batch >= len(ids)}
        if start + batch < len(ids):
            payload["nextRecordsUrl"] = _next_url(call.version, match.group(1), start + batch)
        pager = self._pager(conn, call, top, found["soql"], include_deleted, parent=match.group(1))
        payload["records"] = [
            engine.render(plan, r, version=call.version, include_deleted=include_deleted, pager=pager, at=at)
            for r in page
        ]
        return Result(200, payload)

    def _pager(
        self,
        conn: sqlite3.Connection,
        call: Call,
        plan: Plan,
        soql: str,
        include_deleted: bool,
        *,
        parent: str | None,
    ) -> ChildPager:
        """Page each parent's child rows: the first batch now, a cursor of their own for the rest."""
        batch = self.subquery_batch_size
        if len(long_text_fields(plan)) >= 2:
            batch = min(batch, _LONG_TEXT_SUBQUERY_BATCH)

        def page(at: tuple[int, ...], rows: list[Row]) -> tuple[list[Row], dict[str, Any]]:
            if len(rows) <= batch:
                return rows, {"done": True}
            locator = self._cursor(conn, soql, include_deleted, [r.id for r in rows], batch, at, parent=parent)
            return rows[:batch], {"done": False, "nextRecordsUrl": _next_url(call.version, locator, batch)}

        return page

    def _cursor(
        self,
        conn: sqlite3.Connection,
        soql: str,
        include_deleted: bool,
        ids: list[str],
        batch: int,
        at: tuple[int, ...],
        *,
        parent: str | None,
    ) -> str:
        locator = make_id("01g", self.store.next_value(conn, "query_locator"))
        conn.execute(
            "INSERT INTO sf_query_cursors VALUES (?, ?, ?, ?, ?, ?, ?)",
            (locator, soql, int(include_deleted), json.dumps(ids), batch, json.dumps(list(at)), parent),
        )
        return locator

    def _release_children(self, conn: sqlite3.Connection, parent: str) -> None:
        rows = conn.execute("SELECT locator FROM sf_query_cursors WHERE parent = ?", (parent,)).fetchall()
        for child in [r["locator"] for r in rows]:
            self._release_children(conn, child)
            conn.execute("DELETE FROM sf_query_cursors WHERE locator = ?", (child,))

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


# SOQL and SOSL Reference, "Understanding Relationship Query Limitations" (developer.salesforce.com/
# docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_relationships_query_limits.htm):
# "No more than 55 child-to-parent relationships can be specified in a query ... The same relationship
# used multiple times in a query also count as 1 relationship"; "No more than 20 parent-to-child
# relationships"; "no more than five levels can be specified in a child-to-parent relationship. For
# example, Contact.Account.Owner.FirstName (three levels)" (the root object counts as a level); "In
# API version 57.0 and earlier, only two levels of parent-to-child relationship"; from 58.0, five via
# REST and SOAP ("the parent is counted as the first level", "Using Relationship Queries"). The
# subquery wording is what orgs answer for the one-level rule ("SOQL statements cannot query aggregate
# relationships more than 1 level away from the root entity object", quoted on Stack Exchange and
# blogs); the other messages, and MALFORMED_QUERY for all four, are the emulator's.
MAX_PARENT_RELATIONSHIPS = 55
MAX_CHILD_RELATIONSHIPS = 20
MAX_PARENT_LEVELS = 5


def check_relationship_depth(plan: Plan, *, version: str) -> None:
    """Refuse a query past SOQL's relationship limits, as an org does before running it."""
    child_levels = 4 if float(version) >= 58.0 else 1
    parents: set[tuple[str, ...]] = set()
    subqueries = 0

    def walk(current: Plan, level: int) -> None:
        nonlocal subqueries
        paths: list[Path] = [i for i in current.items if isinstance(i, Path)]
        paths += [p for p, _, _ in current.order] + _filter_paths(current.where)
        for path in paths:
            if len(path.hops) + 1 > MAX_PARENT_LEVELS:
                raise bad_request(
                    "MALFORMED_QUERY",
                    f"SOQL statements cannot query more than {MAX_PARENT_LEVELS} levels of child-to-parent "
                    f"relationships: {'.'.join(h[1] for h in path.hops)}.{path.field.name}",
                )
            names = (current.sobject.name, *(h[0].name for h in path.hops))
            parents.update(names[: n + 1] for n in range(1, len(names)))
        for item in current.items:
            if isinstance(item, Child):
                subqueries += 1
                if level + 1 > child_levels:
                    plural = "level" if child_levels == 1 else "levels"
                    raise bad_request(
                        "MALFORMED_QUERY",
                        "SOQL statements cannot query aggregate relationships more than "
                        f"{child_levels} {plural} away from the root entity object.",
                    )
                walk(item.plan, level + 1)

    walk(plan, 0)
    if subqueries > MAX_CHILD_RELATIONSHIPS:
        raise bad_request(
            "MALFORMED_QUERY", f"No more than {MAX_CHILD_RELATIONSHIPS} parent-to-child relationships in a query"
        )
    if len(parents) > MAX_PARENT_RELATIONSHIPS:
        raise bad_request(
            "MALFORMED_QUERY", f"No more than {MAX_PARENT_RELATIONSHIPS} child-to-parent relationships in a query"
        )


def _filter_paths(node: Filter | Logic | None) -> list[Path]:
    if node is None:
        return []
    if isinstance(node, Logic):
        return [p for operand in node.operands for p in _filter_paths(operand)]
    return [node.path]


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


def _next_url(version: str, locator: str, position: int) -> str:
    # Always `query/`, for queryAll as well: "The URI specified in the nextRecordsUrl field of a
    # QueryAll response body contains query instead of queryAll" (REST API Developer Guide, QueryAll
    # More Results, developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
    # resources_queryall_more_results.htm); the cursor remembers that deleted rows are included.
    return f"/services/data/v{version}/query/{locator}-{position}"

"""Composite, sObject Collections and Composite Graph: several operations in one API call.

Rollback uses SQLite savepoints inside the request's transaction, so allOrNone really undoes writes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .catalog import Catalog
from .errors import ApiError, bad_request
from .ids import to_18
from .records import RecordWriter
from .sobject_api import SObjectApi
from .wire import Call, Result

Dispatch = Callable[[sqlite3.Connection, Call, datetime], Result]

MAX_SUBREQUESTS = 25
MAX_QUERY_SUBREQUESTS = 5
MAX_COLLECTION_RECORDS = 200
MAX_RETRIEVE_IDS = 2000
MAX_GRAPHS = 75
MAX_GRAPH_NODES = 500
# "If the number of graph failures exceeds the maximum limit of 14, processing is halted for the
# remaining graphs in the request ... the status for the remaining graphs is shown as
# PROCESSING_HALTED" (Composite Graph Limits, developer.salesforce.com/docs/atlas.en-us.api_rest.meta/
# api/resources_composite_graph_limits.htm).
MAX_GRAPH_FAILURES = 14
# "Maximum number of different nodes in one payload: 15. Nodes are considered different if they use
# resources from different API versions, a different HTTP method, or different types of objects"
# (the same page). The refusal's wording is the emulator's: the page gives none.
MAX_DIFFERENT_NODES = 15
# "Maximum depth of a graph: 15" (the same page). The page does not define depth; the emulator takes
# it as the longest chain of nodes each referring (@{ref}) to the one before, a node on its own being
# depth 1, and refuses the payload as it does for the other limits on the page, in its own words.
MAX_GRAPH_DEPTH = 15
_NODE_KIND = re.compile(r"/services/data/v(\d+\.\d)/sobjects/([^/?]+)", re.IGNORECASE)
ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."
RECORD_ROLLED_BACK = "Record rolled back because not all records were valid and the request was using AllOrNone header"
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_DATA_URL = re.compile(r"^/services/data/v(\d+\.\d)/(.*)$")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")


class _Unresolved(Exception):
    def __init__(self, expression: str, ref: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.ref = ref


class CompositeApi:
    def __init__(self, *, catalog: Catalog, writer: RecordWriter, sobjects: SObjectApi, versions: tuple[str, ...]):
        self.catalog = catalog
        self.writer = writer
        self.sobjects = sobjects
        self.versions = versions

    # -- composite --------------------------------------------------------------------------------

    def composite(self, conn: sqlite3.Connection, call: Call, dispatch: Dispatch, now: datetime) -> Result:
        body = call.json_object()
        requests = body.get("compositeRequest")
        if not isinstance(requests, list) or not requests:
            raise bad_request("JSON_PARSER_ERROR", "'compositeRequest' is a required field.")
        if len(requests) > MAX_SUBREQUESTS:
            raise bad_request("LIMIT_EXCEEDED", f"Exceeded max limit of subrequests allowed: {MAX_SUBREQUESTS}")
        queries = sum(1 for r in requests if isinstance(r, dict) and "/query" in str(r.get("url", "")).lower())
        if queries > MAX_QUERY_SUBREQUESTS:
            raise bad_request(
                "LIMIT_EXCEEDED", f"Exceeded max limit of query subrequests allowed: {MAX_QUERY_SUBREQUESTS}"
            )
        self._validate(requests)
        responses, _ = self._run(conn, call, requests, bool(body.get("allOrNone", False)), dispatch, now)
        return Result(200, {"compositeResponse": responses})

    def graph(self, conn: sqlite3.Connection, call: Call, dispatch: Dispatch, now: datetime) -> Result:
        body = call.json_object()
        graphs = body.get("graphs")
        if not isinstance(graphs, list) or not graphs:
            raise bad_request("JSON_PARSER_ERROR", "'graphs' is a required field.")
        if len(graphs) > MAX_GRAPHS:
            raise bad_request("LIMIT_EXCEEDED", f"Exceeded max limit of graphs allowed: {MAX_GRAPHS}")
        nodes = sum(len(g.get("compositeRequest") or []) for g in graphs if isinstance(g, dict))
        if nodes > MAX_GRAPH_NODES:
            raise bad_request("LIMIT_EXCEEDED", f"Exceeded max limit of nodes allowed: {MAX_GRAPH_NODES}")
        kinds = {_node_kind(sub) for g in graphs if isinstance(g, dict) for sub in g.get("compositeRequest") or []}
        if len(kinds) > MAX_DIFFERENT_NODES:
            raise bad_request(
                "LIMIT_EXCEEDED", f"Exceeded max limit of different nodes allowed in one payload: {MAX_DIFFERENT_NODES}"
            )
        for graph in graphs:
            requests = graph.get("compositeRequest") if isinstance(graph, dict) else None
            if isinstance(requests, list) and _depth(requests) > MAX_GRAPH_DEPTH:
                message = f"Exceeded max depth of a graph allowed: {MAX_GRAPH_DEPTH} ({graph.get('graphId')})"
                raise bad_request("LIMIT_EXCEEDED", message)
        out = []
        failures = 0
        for graph in graphs:
            requests = graph.get("compositeRequest") if isinstance(graph, dict) else None
            if not isinstance(requests, list) or not requests:
                raise bad_request("JSON_PARSER_ERROR", "'compositeRequest' is a required field.")
            self._validate(requests)
            if failures > MAX_GRAPH_FAILURES:
                responses = [_halted(str(sub["referenceId"])) for sub in requests]
                out.append({"graphId": graph.get("graphId"), "graphResponse": {"compositeResponse": responses},
                            "isSuccessful": False})  # fmt: skip
                continue
            # Each graph is its own all-or-nothing transaction; the other graphs go on.
            responses, ok = self._run(conn, call, requests, True, dispatch, now)
            failures += not ok
            out.append(
                {
                    "graphId": graph.get("graphId"),
                    "graphResponse": {"compositeResponse": responses},
                    "isSuccessful": ok,
                }
            )
        return Result(200, {"graphs": out})

    def _validate(self, requests: list[Any]) -> None:
        seen: set[str] = set()
        for sub in requests:
            if not isinstance(sub, dict):
                raise bad_request("JSON_PARSER_ERROR", "Each subrequest must be a JSON object.")
            for key in ("method", "url", "referenceId"):
                if not sub.get(key):
                    raise bad_request("JSON_PARSER_ERROR", f"'{key}' is a required field.")
            ref = str(sub["referenceId"])
            if not _REFERENCE_ID.match(ref):
                raise bad_request("JSON_PARSER_ERROR", f"Invalid referenceId: {ref}")
            if ref in seen:
                raise bad_request("JSON_PARSER_ERROR", f"Duplicate referenceId provided in the request: {ref}")
            seen.add(ref)

    def _run(
        self,
        conn: sqlite3.Connection,
        call: Call,
        requests: list[dict],
        all_or_none: bool,
        dispatch: Dispatch,
        now: datetime,
    ) -> tuple[list[dict[str, Any]], bool]:
        conn.execute("SAVEPOINT composite_all")
        results: dict[str, Any] = {}
        responses: list[dict[str, Any]] = []
        failed = False
        for sub in requests:
            ref = str(sub["referenceId"])
            if failed and all_or_none:
                responses.append(_halted(ref))
                continue
            try:
                url = _resolve(str(sub["url"]), results, as_text=True)
                sub_body = _resolve(sub.get("body"), results, as_text=False) if "body" in sub else None
            except _Unresolved as exc:
                message = f"Invalid reference specified. No value for {exc.expression} found in {exc.ref}."
                responses.append(_response(ref, Result(400, [{"errorCode": "PROCESSING_HALTED", "message": message}])))
                failed = True
                continue
            conn.execute("SAVEPOINT composite_sub")
            result = self._subrequest(conn, call, sub, url, sub_body, dispatch, now)
            if result.status >= 400:
                conn.execute("ROLLBACK TO composite_sub")
                failed = True
            else:
                results[ref] = result.payload
            conn.execute("RELEASE composite_sub")
            responses.append(_response(ref, result))
        if failed and all_or_none:
            conn.execute("ROLLBACK TO composite_all")
            responses = [r if r["httpStatusCode"] >= 400 else _halted(r["referenceId"]) for r in responses]
        conn.execute("RELEASE composite_all")
        return responses, not failed

    def _subrequest(
        self,
        conn: sqlite3.Connection,
        call: Call,
        sub: dict,
        url: str,
        body: Any,
        dispatch: Dispatch,
        now: datetime,
    ) -> Result:
        parts = urlsplit(url)
        match = _DATA_URL.match(parts.path.rstrip("/"))
        if not match or match.group(1) not in self.versions:
            return Result.error(ApiError(404, "NOT_FOUND", "The requested resource does not exist"))
        # A subrequest, a graph's node included, carries its own headers: "Request headers and their
        # values to include with the subrequest. You can include any header supported by the
        # requested resource" except Accept, Authorization and Content-Type (REST API Developer Guide,
        # "Composite Request Body", Composite Subrequest's httpHeaders; developer.salesforce.com/docs/
        # atlas.en-us.api_rest.meta/api_rest/requests_composite.htm). A graph's nodes are composite
        # subrequests (REST API Developer Guide, "Composite Graph", resources_composite_graph_
        # introduction.htm), so the sObject Rows PATCH's If-Unmodified-Since guard holds inside a
        # graph too (its 412 rolls the graph back).
        headers = dict(call.headers)
        extra = sub.get("httpHeaders") or {}
        headers.update({str(k).lower(): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {})
        subcall = Call(
            method=str(sub["method"]).upper(), version=match.group(1), resource=match.group(2),
            query=parse_qs(parts.query, keep_blank_values=True), headers=headers, user_id=call.user_id,
            parsed_body=body,
        )  # fmt: skip
        if subcall.resource.split("/")[0] == "composite" and subcall.resource != "composite/sobjects":
            return Result.error(bad_request("INVALID_URL", "Composite requests cannot be nested"))
        return dispatch(conn, subcall, now)

    # -- sObject Collections ----------------------------------------------------------------------

    def collections(self, conn: sqlite3.Connection, call: Call, parts: list[str], now: datetime) -> Result:
        if parts:
            return self._retrieve(conn, call, parts[0], now)
        if call.method == "DELETE":
            ids = [i for i in (call.arg("ids") or "").split(",") if i]
            if len(ids) > MAX_COLLECTION_RECORDS:
                raise _too_many()
            all_or_none = (call.arg("allOrNone") or "false").lower() == "true"
            return Result(200, self._each(conn, ids, all_or_none, lambda item: self._delete_one(conn, call, item)))
        if call.method not in ("POST", "PATCH"):
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{call.method}' not allowed. Allowed are POST,PATCH,DELETE",
            )
        body = call.json_object()
        records = body.get("records")
        if not isinstance(records, list):
            raise bad_request("JSON_PARSER_ERROR", "'records' is a required field.")
        if len(records) > MAX_COLLECTION_RECORDS:
            raise _too_many()
        all_or_none = bool(body.get("allOrNone", False))
        creating = call.method == "POST"
        return Result(200, self._each(conn, records, all_or_none, lambda r: self._save_one(conn, call, r, creating)))

    def _each(self, conn: sqlite3.Connection, items: list[Any], all_or_none: bool, work: Callable[[Any], dict]) -> list:
        conn.execute("SAVEPOINT collection_all")
        results = []
        for item in items:
            conn.execute("SAVEPOINT collection_one")
            result = work(item)
            if not result["success"]:
                conn.execute("ROLLBACK TO collection_one")
            conn.execute("RELEASE collection_one")
            results.append(result)
        if all_or_none and not all(r["success"] for r in results):
            conn.execute("ROLLBACK TO collection_all")
            rolled_back = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": RECORD_ROLLED_BACK,
                "fields": [],
            }
            results = [
                r
                if not r["success"]
                else {
                    **({"id": r["id"]} if "id" in r and not r.get("created") else {}),
                    "success": False,
                    "errors": [rolled_back],
                }
                for r in results
            ]
        conn.execute("RELEASE collection_all")
        return [{k: v for k, v in r.items() if k != "created"} for r in results]

    def _save_one(self, conn: sqlite3.Connection, call: Call, record: Any, creating: bool) -> dict[str, Any]:
        record = record if isinstance(record, dict) else {}
        attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
        sobject = self.catalog.sobject(str(attributes.get("type") or ""))
        if sobject is None:
            return _failed(
                None,
                bad_request("INVALID_TYPE", f"sObject type '{attributes.get('type')}' is not supported."),
            )
        fields = {k: v for k, v in record.items() if k != "attributes"}
        if creating:
            try:
                row = self.writer.create(conn, sobject, fields, actor=call.user_id)
            except ApiError as err:
                return _failed(None, err)
            return {"id": row.id, "success": True, "errors": [], "created": True}
        raw_id = next((v for k, v in fields.items() if k.lower() == "id"), None)
        if not raw_id:
            return _failed(None, bad_request("MISSING_ARGUMENT", "Id not specified in an update call", []))
        fields = {k: v for k, v in fields.items() if k.lower() != "id"}
        try:
            row_id = self._existing_id(conn, str(raw_id), sobject.name)
            row = self.writer.update(conn, sobject, row_id, fields, actor=call.user_id)
        except ApiError as err:
            return _failed(str(raw_id), err)
        return {"id": row.id, "success": True, "errors": []}

    def _delete_one(self, conn: sqlite3.Connection, call: Call, raw_id: str) -> dict[str, Any]:
        try:
            row_id = self._existing_id(conn, raw_id, None)
            self.writer.delete(conn, None, row_id, actor=call.user_id)
        except ApiError as err:
            return _failed(raw_id, err)
        return {"id": row_id, "success": True, "errors": []}

    def _existing_id(self, conn: sqlite3.Connection, raw_id: str, sobject: str | None) -> str:
        """Map a bad id to the SaveResult codes Salesforce uses in collections."""
        normal = to_18(raw_id)
        if normal is None:
            raise bad_request("MALFORMED_ID", f"malformed id {raw_id}", [])
        row = self.sobjects.store.get(conn, normal)
        if row is None or (sobject is not None and row.sobject != sobject):
            raise bad_request("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if row.deleted:
            raise bad_request("ENTITY_IS_DELETED", "entity is deleted", [])
        return normal

    def _retrieve(self, conn: sqlite3.Connection, call: Call, name: str, now: datetime) -> Result:
        sobject = self.catalog.sobject(name)
        if sobject is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if call.method == "POST":
            body = call.json_object()
            ids, fields = list(body.get("ids") or []), list(body.get("fields") or [])
        elif call.method == "GET":
            ids = [i for i in (call.arg("ids") or "").split(",") if i]
            fields = [f for f in (call.arg("fields") or "").split(",") if f]
        else:
            raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. Allowed are GET,POST")
        if len(ids) > MAX_RETRIEVE_IDS:
            raise bad_request(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_RETRIEVE_IDS} records into this call",
            )
        if not fields:
            raise bad_request("MISSING_ARGUMENT", "fields parameter is required")
        out = []
        for raw_id in ids:
            normal = to_18(str(raw_id))
            row = self.sobjects.store.get(conn, normal) if normal else None
            if row is None or row.deleted or row.sobject != sobject.name:
                out.append(None)
                continue
            out.append(self.sobjects.render(conn, call, sobject, row, ",".join(fields), now))
        return Result(200, out)


def _too_many() -> ApiError:
    return bad_request(
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_COLLECTION_RECORDS} records into this call",
    )


def _failed(row_id: str | None, err: ApiError) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [err.save_error()]}
    return {"id": row_id, **result} if row_id is not None else result


def _node_kind(sub: Any) -> tuple[str, str, str]:
    """(API version, method, object) of a graph node: what makes two nodes "different"."""
    if not isinstance(sub, dict):
        return ("", "", "")
    found = _NODE_KIND.search(str(sub.get("url", "")))
    version, sobject = (found.group(1), found.group(2).lower()) if found else ("", str(sub.get("url", "")))
    return (version, str(sub.get("method", "")).upper(), sobject)


def _depth(requests: list[Any]) -> int:
    """The longest chain of references among a graph's nodes (1 for nodes that refer to none)."""
    depths: dict[str, int] = {}
    for sub in requests:
        if not isinstance(sub, dict):
            continue
        text = f"{sub.get('url', '')} {json.dumps(sub.get('body'), default=str)}"
        refs = {m.group(1) for m in _REFERENCE.finditer(text)}
        depths[str(sub.get("referenceId"))] = 1 + max((depths.get(r, 0) for r in refs), default=0)
    return max(depths.values(), default=0)


def _halted(ref: str) -> dict[str, Any]:
    body = [{"errorCode": "PROCESSING_HALTED", "message": ROLLED_BACK}]
    return {"body": body, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref}


def _response(ref: str, result: Result) -> dict[str, Any]:
    return {
        "body": result.payload,
        "httpHeaders": dict(result.headers),
        "httpStatusCode": result.status,
        "referenceId": ref,
    }


def _lookup(value: Any, path: str) -> Any:
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        key, index = step
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise KeyError(path)
    return value


def _resolve(value: Any, results: dict[str, Any], *, as_text: bool) -> Any:
    """Replace @{ref.path} with values from earlier results; a lone reference keeps its JSON type."""
    if isinstance(value, dict):
        return {k: _resolve(v, results, as_text=as_text) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results, as_text=as_text) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def lookup(match: re.Match[str]) -> Any:
        ref, path = match.group(1), match.group(2)
        expression = f"{ref}{path}"
        if ref not in results:
            raise _Unresolved(expression, ref)
        try:
            return _lookup(results[ref], path)
        except KeyError:
            raise _Unresolved(expression, ref) from None

    whole = _REFERENCE.fullmatch(value)
    if whole and not as_text:
        return lookup(whole)
    return _REFERENCE.sub(lambda m: str(lookup(m)), value)

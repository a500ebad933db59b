"""sObject resources: describe, basic info, rows by id, and rows by external id (get, upsert, delete)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .catalog import Catalog
from .describe import describe_global, describe_sobject, global_entry
from .errors import ApiError, bad_request, not_found
from .ids import to_18
from .query_api import QueryApi
from .records import RecordWriter
from .schema import SObjectSchema
from .soql import parse, quote_string
from .store import Row, Store
from .wire import Call, Result


def method_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}")


class SObjectApi:
    def __init__(self, *, catalog: Catalog, store: Store, writer: RecordWriter, queries: QueryApi) -> None:
        self.catalog = catalog
        self.store = store
        self.writer = writer
        self.queries = queries

    def handle(self, conn: sqlite3.Connection, call: Call, parts: list[str], now: datetime) -> Result:
        if not parts:
            if call.method != "GET":
                raise method_not_allowed(call.method, "HEAD,GET")
            return Result(200, describe_global(self.catalog, call.version))
        sobject = self.catalog.sobject(parts[0])
        if sobject is None:
            raise not_found()
        rest = parts[1:]
        if not rest:
            if call.method == "GET":
                return Result(
                    200,
                    {
                        "objectDescribe": global_entry(
                            sobject, call.version, feed_enabled=self.catalog.feed_enabled(sobject)
                        ),
                        "recentItems": [],
                    },
                )
            if call.method == "POST":
                return self.create(conn, call, sobject)
            raise method_not_allowed(call.method, "HEAD,GET,POST")
        if rest == ["describe"]:
            if call.method != "GET":
                raise method_not_allowed(call.method, "HEAD,GET")
            return Result(200, describe_sobject(self.catalog, sobject, call.version))
        if len(rest) == 1:
            return self.row(conn, call, sobject, rest[0], now)
        if len(rest) == 2:
            return self.by_external_id(conn, call, sobject, rest[0], rest[1], now)
        raise not_found()

    def create(self, conn: sqlite3.Connection, call: Call, sobject: SObjectSchema) -> Result:
        row = self.writer.create(conn, sobject, call.json_object(), actor=call.user_id)
        return Result(201, {"id": row.id, "success": True, "errors": []}, {"Location": self.url(call, row)})

    def row(self, conn: sqlite3.Connection, call: Call, sobject: SObjectSchema, row_id: str, now: datetime) -> Result:
        if call.method == "GET":
            try:
                row = self.writer.load(conn, sobject, row_id)
            except ApiError as err:
                # Reading a deleted record is a plain 404; only writes say ENTITY_IS_DELETED.
                raise (not_found() if err.code == "ENTITY_IS_DELETED" else err) from None
            since = _http_date(call.header("If-Modified-Since"))
            if since is not None and row.values["LastModifiedDate"].replace(microsecond=0) <= since:
                return Result(304)
            return Result(200, self.render(conn, call, sobject, row, call.arg("fields"), now))
        if call.method == "PATCH":
            unmodified = call.header("If-Unmodified-Since")
            since = _http_date(unmodified)
            if unmodified is not None and since is None:
                raise bad_request("BAD_REQUEST", f"Invalid If-Unmodified-Since header value: {unmodified}")
            self.writer.update(conn, sobject, row_id, call.json_object(), actor=call.user_id, if_unmodified_since=since)
            return Result(204)
        if call.method == "DELETE":
            self.writer.delete(conn, sobject, row_id, actor=call.user_id)
            return Result(204)
        raise method_not_allowed(call.method, "HEAD,GET,PATCH,DELETE")

    def by_external_id(
        self,
        conn: sqlite3.Connection,
        call: Call,
        sobject: SObjectSchema,
        field_name: str,
        value: str,
        now: datetime,
    ) -> Result:
        fs = self.catalog.field(sobject, field_name)
        if fs is None or not (fs.external_id or fs.name == "Id"):
            raise not_found(f"Provided external ID field does not exist or is not accessible: {field_name}")
        matches = self.find(conn, sobject, fs.name, value)
        if len(matches) > 1:
            return Result(300, [self.url(call, r) for r in matches])
        if call.method == "GET":
            if not matches:
                raise not_found()
            return Result(200, self.render(conn, call, sobject, matches[0], call.arg("fields"), now))
        if call.method == "DELETE":
            if not matches:
                raise not_found()
            self.writer.delete(conn, sobject, matches[0].id, actor=call.user_id)
            return Result(204)
        if call.method == "PATCH":
            body = {k: v for k, v in call.json_object().items() if k.lower() != fs.name.lower()}
            if matches:
                row = self.writer.update(conn, sobject, matches[0].id, body, actor=call.user_id)
                return Result(200, {"id": row.id, "success": True, "errors": [], "created": False})
            if fs.name == "Id":
                raise not_found()
            row = self.writer.create(conn, sobject, {**body, fs.name: value}, actor=call.user_id)
            payload = {"id": row.id, "success": True, "errors": [], "created": True}
            return Result(201, payload, {"Location": self.url(call, row)})
        raise method_not_allowed(call.method, "HEAD,GET,PATCH,DELETE")

    def find(self, conn: sqlite3.Connection, sobject: SObjectSchema, field_name: str, value: str) -> list[Row]:
        if field_name == "Id":
            normal = to_18(value)
            row = self.store.get(conn, normal) if normal else None
            return [row] if row and not row.deleted and row.sobject == sobject.name else []
        wanted = value.lower()  # external ids match case-insensitively unless marked case-sensitive
        return [
            r
            for r in self.store.rows(conn, sobject, include_deleted=False)
            if r.values.get(field_name) is not None and str(r.values[field_name]).lower() == wanted
        ]

    def render(
        self,
        conn: sqlite3.Connection,
        call: Call,
        sobject: SObjectSchema,
        row: Row,
        fields: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """A record as GET sobjects/X/id returns it: all readable fields, or those in ?fields=."""
        names = fields or ", ".join(f.name for f in self.catalog.fields(sobject))
        # Salesforce answers ?fields= through SOQL, so a bad name gets SOQL's INVALID_FIELD text.
        text = f"SELECT {names} FROM {sobject.name} WHERE Id = {quote_string(row.id)}"
        engine = self.queries.engine(conn, now)
        plan = engine.plan(parse(text))
        return engine.render(plan, row, version=call.version, include_deleted=True)

    @staticmethod
    def url(call: Call, row: Row) -> str:
        return f"/services/data/v{call.version}/sobjects/{row.sobject}/{row.id}"


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)

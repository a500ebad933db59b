"""Run a parsed SOQL query against the store: resolve names, filter, sort, and shape records."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from .catalog import Catalog, ChildRelationship
from .errors import ApiError
from .ids import to_18
from .schema import DECIMAL_TYPES, FieldSchema, SObjectSchema
from .soql import BoolOp, Comparison, CountCall, FieldPath, Literal, Not, Query, SubQuery, soql_error
from .store import Condition, Row, Store, checkbox_is, id_in, text_in
from .values import to_json

_TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "phone", "picklist", "encryptedstring"})
_ID_TYPES = frozenset({"id", "reference"})
_MAX_OFFSET = 2000
_INVALID_FIELD = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, be sure to "
    "append the '__c' after the custom field name. Please reference your WSDL or the describe call for "
    "the appropriate names."
)
_BAD_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
    "your WSDL or the describe call for the appropriate names."
)
_BAD_CHILD = (
    "Didn't understand relationship '{name}' in FROM part of query call. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. Please "
    "reference your WSDL or the describe call for the appropriate names."
)
_BAD_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to "
    "append the '__c' after the entity name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


@dataclass(frozen=True)
class Path:
    """A resolved field path: reference hops (field, relationship name, target object) then a field."""

    hops: tuple[tuple[FieldSchema, str, SObjectSchema], ...]
    field: FieldSchema


@dataclass(frozen=True)
class Filter:
    path: Path
    op: str
    values: tuple[Any, ...]  # typed values, or (start, end) ranges for date literals
    like: re.Pattern[str] | None = None
    semi_join: Plan | None = None


@dataclass(frozen=True)
class Logic:
    op: str  # AND, OR, NOT
    operands: tuple[Filter | Logic, ...]


@dataclass(frozen=True)
class Child:
    relationship: ChildRelationship
    plan: Plan


# (position of the subquery in the query's plan, all its child rows of one parent) -> (the rows to
# return now, the nested QueryResult's paging keys: done, and nextRecordsUrl when not done).
ChildPager = Callable[[tuple[int, ...], list[Row]], tuple[list[Row], dict[str, Any]]]


@dataclass(frozen=True)
class Plan:
    sobject: SObjectSchema
    items: tuple[Path | Child, ...]
    where: Filter | Logic | None
    order: tuple[tuple[Path, bool, bool], ...]
    limit: int | None
    offset: int | None
    count: str | None  # None, "count()" or the alias of COUNT(field)


class QueryEngine:
    """Resolve and run queries in one transaction, as the API user or as the admin."""

    def __init__(self, *, catalog: Catalog, store: Store, conn: sqlite3.Connection, now: datetime, admin: bool):
        self.catalog = catalog
        self.store = store
        self.conn = conn
        self.now = now
        self.admin = admin
        self._cache: dict[str, Row | None] = {}
        self._semi_joins: dict[int, set[Any]] = {}
        self._child_rows: dict[tuple[str, str, bool], dict[str, list[Row]]] = {}

    # -- resolution -------------------------------------------------------------------------------

    def plan(self, query: Query, *, parent: SObjectSchema | None = None) -> Plan:
        if parent is None:
            sobject = self.catalog.sobject(query.sobject)
            if sobject is None:
                raise soql_error(query.text, query.sobject_offset, _BAD_TYPE.format(name=query.sobject), "INVALID_TYPE")
        else:
            rel = self.catalog.child(parent, query.sobject, admin=self.admin)
            if rel is None:
                raise soql_error(
                    query.text, query.sobject_offset, _BAD_CHILD.format(name=query.sobject), "INVALID_TYPE"
                )
            sobject = rel.child
        items: list[Path | Child] = []
        count = None
        for item in query.select:
            if isinstance(item, CountCall):
                if item.field is not None:
                    self.path(query, sobject, item.field)
                count = "count()" if item.field is None else (item.alias or "expr0")
            elif isinstance(item, SubQuery):
                rel = self.catalog.child(sobject, item.query.sobject, admin=self.admin)
                if rel is None:
                    raise soql_error(
                        query.text,
                        item.query.sobject_offset,
                        _BAD_CHILD.format(name=item.query.sobject),
                        "INVALID_TYPE",
                    )
                items.append(Child(rel, self.plan(item.query, parent=sobject)))
            else:
                items.append(self.path(query, sobject, item))
        if count is not None and items:
            first = next(i for i in query.select if not isinstance(i, CountCall))
            offset = first.offset if isinstance(first, (FieldPath, SubQuery)) else 0
            name = first.dotted if isinstance(first, FieldPath) else "subquery"
            raise soql_error(query.text, offset, f"Field must be grouped or aggregated: {name}")
        seen: set[str] = set()
        for source in query.select:
            if isinstance(source, FieldPath):
                if source.dotted.lower() in seen:
                    raise soql_error(query.text, source.offset, f"duplicate field selected: {source.dotted}")
                seen.add(source.dotted.lower())
        where = self.condition(query, sobject, query.where) if query.where is not None else None
        order = []
        for spec in query.order_by:
            path = self.path(query, sobject, spec.field)
            if path.field.type == "encryptedstring" or (
                path.field.type == "textarea" and (path.field.length or 255) > 255
            ):
                raise soql_error(
                    query.text,
                    spec.field.offset,
                    f"field '{path.field.name}' can not be sorted in a query call",
                    "INVALID_FIELD",
                )
            order.append((path, spec.descending, spec.nulls_first))
        if query.offset is not None and query.offset > _MAX_OFFSET:
            raise ApiError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {_MAX_OFFSET}")
        return Plan(sobject, tuple(items), where, tuple(order), query.limit, query.offset, count)

    def path(self, query: Query, sobject: SObjectSchema, path: FieldPath) -> Path:
        hops = []
        current = sobject
        for name in path.parts[:-1]:
            found = self.catalog.parent(current, name, admin=self.admin)
            if found is None:
                raise soql_error(query.text, path.offset, _BAD_RELATIONSHIP.format(name=name), "INVALID_FIELD")
            ref, target = found
            hops.append((ref, ref.relationship_name or name, target))
            current = target
        fs = self.catalog.field(current, path.parts[-1], admin=self.admin)
        if fs is None:
            shown = path.dotted if len(path.parts) > 1 else path.parts[-1]
            raise soql_error(
                query.text,
                path.offset,
                _INVALID_FIELD.format(name=shown, entity=current.name),
                "INVALID_FIELD",
            )
        return Path(tuple(hops), fs)

    def condition(self, query: Query, sobject: SObjectSchema, node: Any) -> Filter | Logic:
        if isinstance(node, BoolOp):
            return Logic(node.op, tuple(self.condition(query, sobject, n) for n in node.operands))
        if isinstance(node, Not):
            return Logic("NOT", (self.condition(query, sobject, node.operand),))
        assert isinstance(node, Comparison)
        path = self.path(query, sobject, node.field)
        fs = path.field
        if fs.type == "encryptedstring" or (fs.type == "textarea" and (fs.length or 255) > 255):
            raise soql_error(
                query.text,
                node.field.offset,
                f"field '{fs.name}' can not be filtered in a query call",
                "INVALID_FIELD",
            )
        if isinstance(node.value, Query):
            inner = self.plan(node.value)
            selected = [i for i in inner.items if isinstance(i, Path)]
            if len(selected) != 1 or selected[0].field.type not in _ID_TYPES or fs.type not in _ID_TYPES:
                raise soql_error(
                    query.text,
                    node.offset,
                    "The selected field in a semi join subquery must be an Id or a reference",
                )
            return Filter(path, node.op, (), semi_join=inner)
        literals = node.value if isinstance(node.value, tuple) else (node.value,)
        if node.op == "LIKE":
            if fs.type not in _TEXT_TYPES:
                raise soql_error(
                    query.text,
                    node.offset,
                    f"invalid operator on {fs.type} field",
                    "INVALID_QUERY_FILTER_OPERATOR",
                )
            return Filter(path, "LIKE", (), like=re.compile(f"^{literals[0].like}$", re.IGNORECASE | re.DOTALL))
        if fs.type == "boolean" and node.op not in ("=", "!=", "IN", "NOT IN"):
            raise soql_error(
                query.text, node.offset, "invalid operator on boolean field", "INVALID_QUERY_FILTER_OPERATOR"
            )
        return Filter(path, node.op, tuple(self.literal(query, fs, lit) for lit in literals))

    def literal(self, query: Query, fs: FieldSchema, lit: Literal) -> Any:
        if lit.kind == "null":
            return None
        kind = fs.type
        if kind in _ID_TYPES:
            if lit.kind != "string":
                raise self._mistyped(query, fs, lit, "id", quoted=True)
            normal = to_18(str(lit.value))
            if normal is None:
                raise soql_error(
                    query.text, lit.offset, f"invalid ID field: {lit.value}", "INVALID_QUERY_FILTER_OPERATOR"
                )
            return normal
        if kind in _TEXT_TYPES:
            if lit.kind != "string":
                raise self._mistyped(query, fs, lit, "string", quoted=True)
            return str(lit.value).replace("\\%", "%").replace("\\_", "_").lower()
        if kind in DECIMAL_TYPES or kind == "int":
            if lit.kind != "number":
                raise self._mistyped(query, fs, lit, "double" if kind != "int" else "integer", quoted=False)
            return lit.value
        if kind == "boolean":
            if lit.kind != "boolean":
                raise self._mistyped(query, fs, lit, "boolean", quoted=False)
            return lit.value
        if kind == "date":
            if lit.kind == "date_literal":
                start, end = self._range(lit.value)
                return (start.date(), end.date())
            if lit.kind != "date":
                raise self._mistyped(query, fs, lit, "date", quoted=False)
            return lit.value
        if kind == "datetime":
            if lit.kind == "date_literal":
                return self._range(lit.value)
            if lit.kind != "datetime":
                raise self._mistyped(query, fs, lit, "dateTime", quoted=False)
            return lit.value
        raise self._mistyped(query, fs, lit, kind, quoted=False)

    def _mistyped(self, query: Query, fs: FieldSchema, lit: Literal, type_name: str, *, quoted: bool) -> ApiError:
        advice = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
        return soql_error(
            query.text,
            lit.offset,
            f"value of filter criterion for field '{fs.name}' must be of type {type_name} and {advice}",
        )

    def _range(self, value: Any) -> tuple[datetime, datetime]:
        """Date literals as [start, end) in UTC, the integration user's time zone."""
        name, n = value
        today = datetime.combine(self.now.astimezone(UTC).date(), time(0), tzinfo=UTC)
        day = timedelta(days=1)
        if name == "TODAY":
            return today, today + day
        if name == "YESTERDAY":
            return today - day, today
        if name == "TOMORROW":
            return today + day, today + 2 * day
        if name == "LAST_N_DAYS":  # n days back, today included
            return today - n * day, today + day
        return today + day, today + (n + 1) * day  # NEXT_N_DAYS: from tomorrow, today excluded

    # -- evaluation -------------------------------------------------------------------------------

    def run(self, plan: Plan, *, include_deleted: bool) -> list[Row]:
        ids = _ids_named(plan.where)
        if ids is None:
            narrow = _narrowing(plan.where)
            rows = self.store.rows(self.conn, plan.sobject, include_deleted=include_deleted, narrow=narrow)
        else:  # `Id IN (...)` or `Id = ...` narrows the rows at once; the WHERE still judges each
            rows = self.store.rows_by_id(self.conn, plan.sobject, ids, include_deleted=include_deleted)
        return self._select(plan, rows, include_deleted=include_deleted)

    def _select(self, plan: Plan, rows: list[Row], *, include_deleted: bool) -> list[Row]:
        if plan.where is not None:
            rows = [r for r in rows if self._matches(plan.where, r, include_deleted)]
        for path, descending, nulls_first in reversed(plan.order):
            rows.sort(
                key=lambda r, p=path, d=descending, nf=nulls_first: self._sort_key(r, p, d, nf),
                reverse=descending,
            )
        start = plan.offset or 0
        end = None if plan.limit is None else start + plan.limit
        return rows[start:end]

    def _sort_key(self, row: Row, path: Path, descending: bool, nulls_first: bool) -> tuple[int, Any]:
        value = self._comparable(path.field, self.value(row, path))
        if value is None:
            return (1 if descending == nulls_first else 0, 0)
        return (0 if descending == nulls_first else 1, value)

    def _matches(self, node: Filter | Logic, row: Row, include_deleted: bool) -> bool:
        if isinstance(node, Logic):
            if node.op == "NOT":
                return not self._matches(node.operands[0], row, include_deleted)
            results = (self._matches(n, row, include_deleted) for n in node.operands)
            return all(results) if node.op == "AND" else any(results)
        value = self._comparable(node.path.field, self.value(row, node.path))
        if node.semi_join is not None:
            return (value in self._members(node.semi_join)) == (node.op == "IN")
        if node.like is not None:
            return value is not None and bool(node.like.match(str(self.value(row, node.path))))
        if node.op in ("IN", "NOT IN"):
            hit = any(self._compare(value, "=", v) for v in node.values)
            return hit if node.op == "IN" else not hit
        return self._compare(value, node.op, node.values[0])

    def _members(self, inner: Plan) -> set[Any]:
        """The ids a semi-join subquery selects, computed once per query run."""
        key = id(inner)
        if key not in self._semi_joins:
            column = next(i for i in inner.items if isinstance(i, Path))
            self._semi_joins[key] = {self.value(r, column) for r in self.run(inner, include_deleted=False)} - {None}
        return self._semi_joins[key]

    @staticmethod
    def _compare(value: Any, op: str, literal: Any) -> bool:
        if isinstance(literal, tuple):  # a date literal's [start, end)
            start, end = literal
            if value is None:
                return op == "!="
            inside = start <= value < end
            return {"=": inside, "!=": not inside, "<": value < start, "<=": value < end,
                    ">": value >= end, ">=": value >= start}[op]  # fmt: skip
        if op == "=":
            return value == literal
        if op == "!=":
            return value != literal  # Salesforce's != also matches nulls
        if value is None or literal is None:
            return False
        return {"<": value < literal, "<=": value <= literal, ">": value > literal, ">=": value >= literal}[op]

    @staticmethod
    def _comparable(fs: FieldSchema, value: Any) -> Any:
        if isinstance(value, str) and fs.type in _TEXT_TYPES:
            return value.lower()  # = and LIKE ignore case on text, as in Salesforce
        return value

    def value(self, row: Row, path: Path) -> Any:
        current: Row | None = row
        for ref, _, _ in path.hops:
            current = self._parent(current, ref)
            if current is None:
                return None
        return current.values.get(path.field.name) if current else None

    def _parent(self, row: Row | None, ref: FieldSchema) -> Row | None:
        parent_id = row.values.get(ref.name) if row else None
        if not parent_id:
            return None
        if parent_id not in self._cache:
            found = self.store.get(self.conn, parent_id)
            self._cache[parent_id] = found if found and not found.deleted else None
        return self._cache[parent_id]

    def _children(self, rel: ChildRelationship, include_deleted: bool) -> dict[str, list[Row]]:
        """Child rows grouped by parent id, loaded once per relationship and query run."""
        key = (rel.child.name, rel.field.name, include_deleted)
        if key not in self._child_rows:
            grouped: dict[str, list[Row]] = {}
            for child in self.store.rows(self.conn, rel.child, include_deleted=include_deleted):
                parent_id = child.values.get(rel.field.name)
                if parent_id:
                    grouped.setdefault(parent_id, []).append(child)
            self._child_rows[key] = grouped
        return self._child_rows[key]

    # -- shaping ----------------------------------------------------------------------------------

    def render(
        self,
        plan: Plan,
        row: Row,
        *,
        version: str,
        include_deleted: bool,
        pager: ChildPager | None = None,
        at: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        """One record as the REST API returns it, attributes first, then fields in SELECT order.

        `pager` decides how many of a subquery's child rows come back now (and the rest's locator);
        `at` is the position of `plan` in the query's own plan (item indexes, one a subquery level).
        """
        out: dict[str, Any] = {"attributes": attributes(plan.sobject.name, row.id, version)}
        for index, item in enumerate(plan.items):
            if isinstance(item, Child):
                children = self._children(item.relationship, include_deleted).get(row.id, [])
                picked = self._select(item.plan, list(children), include_deleted=include_deleted)
                if not picked:
                    out[item.relationship.name] = None
                    continue
                path = (*at, index)
                now, paging = pager(path, picked) if pager else (picked, {"done": True})
                out[item.relationship.name] = {
                    "totalSize": len(picked),
                    **paging,
                    "records": [
                        self.render(
                            item.plan, c, version=version, include_deleted=include_deleted, pager=pager, at=path
                        )
                        for c in now
                    ],
                }
                continue
            target = out
            current: Row | None = row
            for ref, rel_name, parent_schema in item.hops:
                if rel_name in target and target[rel_name] is None:
                    current = None
                    break
                current = self._parent(current, ref)
                if current is None:
                    target[rel_name] = None
                    break
                target = target.setdefault(
                    rel_name, {"attributes": attributes(parent_schema.name, current.id, version)}
                )
            if current is not None:
                value = to_json(item.field, current.values.get(item.field.name))
                if (
                    item.field.type == "encryptedstring"
                    and value
                    and not (self.admin or self.catalog.view_encrypted_data)
                ):
                    value = ENCRYPTED_MASK * len(value)
                target[item.field.name] = value
        return out


# What a user without View Encrypted Data reads in an encrypted field: every character masked (the
# default mask type "Mask All Characters", mask character "*"; Salesforce Help, "Custom Field
# Attributes": Mask Type and Mask Character of Text (Encrypted) fields).
ENCRYPTED_MASK = "*"


def attributes(sobject: str, row_id: str, version: str) -> dict[str, str]:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{row_id}"}


def _ids_named(where: Filter | Logic | None) -> list[str] | None:
    """The record ids a WHERE clause is limited to (its own `Id =`/`Id IN`, or one ANDed at the top)."""
    if isinstance(where, Logic) and where.op == "AND":
        for operand in where.operands:
            found = _ids_named(operand)
            if found is not None:
                return found
        return None
    if isinstance(where, Filter) and not where.path.hops and where.path.field.name == "Id" and where.semi_join is None:
        if where.op in ("=", "IN") and where.like is None:
            return [str(v) for v in where.values if v is not None]
    return None


def _narrowing(where: Filter | Logic | None) -> list[Condition]:
    """SQL conditions implied by a WHERE clause's top-level `field = value` or `field IN (...)` on a
    text, id or checkbox field: the store then decodes only the rows that may match (a status query on
    10,000 Payments decoded them all). The WHERE clause still judges every row it returns."""
    if where is None:
        return []
    operands = where.operands if isinstance(where, Logic) and where.op == "AND" else (where,)
    found: list[Condition | None] = []
    for node in operands:
        if not isinstance(node, Filter) or node.path.hops or node.like is not None or node.semi_join is not None:
            continue
        fs, values = node.path.field, node.values
        if node.op not in ("=", "IN"):
            continue
        if fs.type in _TEXT_TYPES and values and all(isinstance(v, str) for v in values):
            found.append(text_in(fs.name, values))
        elif fs.type in _ID_TYPES and values and all(isinstance(v, str) for v in values):
            found.append(id_in(fs.name, values))
        elif fs.type == "boolean" and len(values) == 1 and isinstance(values[0], bool):
            found.append(checkbox_is(fs.name, values[0]))
    return [c for c in found if c is not None]

"""Record writes validated as Salesforce validates them: FLS, types, references, required, unique."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..clock import SandboxClock
from .catalog import Catalog
from .errors import ApiError, bad_request, not_found
from .ids import to_18
from .schema import SYSTEM_FIELDS, FieldSchema, SObjectSchema
from .store import Row, Store
from .validation_rules import ValidationRule, check_rules
from .values import coerce, label, truncate_ms

_FLS_MESSAGE = (
    "Unable to create/update fields: {names}. Please check the security settings of this field and "
    "verify that it is read/write for your profile or permission set."
)
_AUTONUMBER = re.compile(r"\{(0+)\}")


class RecordWriter:
    """Create, update and delete rows as one user (`actor`); `admin` bypasses field-level security."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: Store,
        clock: SandboxClock,
        is_user: Callable[[sqlite3.Connection, str], bool],
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self.is_user = is_user
        self.validation_rules: list[ValidationRule] = []  # the org admin's (add_validation_rule)

    def create(
        self, conn: sqlite3.Connection, sobject: SObjectSchema, body: dict, *, actor: str, admin: bool = False
    ) -> Row:
        """Insert a record; raises ApiError with the first failing check's errorCode."""
        if any(k.lower() == "id" for k in body if k != "attributes"):
            raise bad_request("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
        values = self._coerce_body(conn, sobject, body, creating=True, admin=admin)
        now = self._now()
        row_id = self.store.new_id(conn, sobject.key_prefix)
        for fs in self.catalog.fields(sobject, admin=True):
            if fs.name not in values:
                if fs.default is not None:
                    values[fs.name] = coerce(fs, fs.default)
                elif fs.type == "boolean":
                    values[fs.name] = False
        values.update(
            Id=row_id, IsDeleted=False, CreatedDate=now, LastModifiedDate=now, SystemModstamp=now,
            CreatedById=actor, LastModifiedById=actor,
        )  # fmt: skip
        values.setdefault("OwnerId", actor)
        name_field = self.catalog.field(sobject, "Name", admin=True)
        if name_field and name_field.auto_number:
            values["Name"] = self._auto_number(conn, sobject)
        elif sobject.custom and values.get("Name") is None:
            values["Name"] = row_id  # Salesforce names an unnamed custom record after its id
        self._derive(sobject, values)
        self._check_required(sobject, values)
        self._check_feed(sobject, values)
        check_rules(self.validation_rules, sobject.name, values, "insert")
        self._check_unique(conn, sobject, values, None)
        return self.store.insert(conn, sobject, row_id, values)

    def update(
        self,
        conn: sqlite3.Connection,
        sobject: SObjectSchema,
        row_id: str,
        body: dict,
        *,
        actor: str,
        admin: bool = False,
        if_unmodified_since: datetime | None = None,
        began_at: datetime | None = None,
    ) -> Row:
        """Save changes to a record. `began_at`: when the saving transaction began, if long before its
        commit (a slow trigger or Flow): the record is stamped then, and seen only now."""
        row = self.load(conn, sobject, row_id)
        body = {k: v for k, v in body.items() if not (k.lower() == "id" and v and to_18(str(v)) == row.id)}
        changes = self._coerce_body(conn, sobject, body, creating=False, admin=admin)
        if if_unmodified_since is not None:
            # Weak validation at one-second granularity, against LastModifiedDate.
            modified = row.values["LastModifiedDate"].replace(microsecond=0)
            if modified > if_unmodified_since:
                raise ApiError(
                    412, "PRECONDITION_FAILED",
                    "The requested resource has been modified since the If-Unmodified-Since date.",
                )  # fmt: skip
        merged = {**row.values, **changes}
        self._derive(sobject, merged)
        self._check_required(sobject, merged)
        check_rules(self.validation_rules, sobject.name, merged, "update")
        self._check_unique(conn, sobject, merged, row.id)
        now = truncate_ms(began_at) if began_at is not None else self._now()
        merged.update(LastModifiedDate=now, SystemModstamp=now, LastModifiedById=actor)
        row.values = merged
        self.store.save(conn, row)
        return row

    def delete(self, conn: sqlite3.Connection, sobject: SObjectSchema | None, row_id: str, *, actor: str) -> Row:
        row = self.load(conn, sobject, row_id)
        now = self._now()
        row.values.update(IsDeleted=True, LastModifiedDate=now, SystemModstamp=now, LastModifiedById=actor)
        self.store.save(conn, row)
        self._cascade(conn, row, actor=actor)
        return row

    def load(self, conn: sqlite3.Connection, sobject: SObjectSchema | None, row_id: str) -> Row:
        """Fetch a live row by id; 404 NOT_FOUND when absent, ENTITY_IS_DELETED when deleted."""
        normal = to_18(row_id)
        if normal is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {row_id}")
        row = self.store.get(conn, normal)
        if row is None or (sobject is not None and row.sobject != sobject.name):
            raise not_found()
        if row.deleted:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return row

    # -- validation -------------------------------------------------------------------------------

    def _coerce_body(
        self, conn: sqlite3.Connection, sobject: SObjectSchema, body: dict, *, creating: bool, admin: bool
    ) -> dict[str, Any]:
        resolved: list[tuple[FieldSchema, Any]] = []
        for key, raw in body.items():
            if key == "attributes":
                continue
            fs = self.catalog.field(sobject, key, admin=admin)
            if fs is None:
                raise bad_request("INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject.name}")
            resolved.append((fs, raw))
        # Admin writes (the UI) still cannot touch platform-owned fields.
        locked = [
            fs.name
            for fs, _ in resolved
            if not (self._writable(sobject, fs, creating) if not admin else self._platform_writable(fs, creating))
        ]
        if locked:
            raise bad_request("INVALID_FIELD_FOR_INSERT_UPDATE", _FLS_MESSAGE.format(names=", ".join(locked)), locked)
        values = {}
        for fs, raw in resolved:
            value = coerce(fs, raw)
            if value is not None and fs.type == "reference":
                value = self._check_reference(conn, fs, value)
            values[fs.name] = value
        return values

    def _writable(self, sobject: SObjectSchema, fs: FieldSchema, creating: bool) -> bool:
        return fs.createable if creating else fs.updateable

    def _platform_writable(self, fs: FieldSchema, creating: bool) -> bool:
        return not (fs.auto_number or fs.calculated or fs.type == "id" or fs.name in SYSTEM_FIELDS)

    def _check_reference(self, conn: sqlite3.Connection, fs: FieldSchema, value: str) -> str:
        normal = to_18(value)
        if normal is None:
            raise bad_request("MALFORMED_ID", f"{label(fs)}: id value of incorrect type: {value}", [fs.name])
        if fs.reference_to == "User":
            if normal.startswith("005") and self.is_user(conn, normal):
                return normal
            raise bad_request(
                "FIELD_INTEGRITY_EXCEPTION", f"{label(fs)}: id value of incorrect type: {value}", [fs.name]
            )
        target = self.catalog.sobject(fs.reference_to or "")
        if target is None or normal[:3] != target.key_prefix:
            raise bad_request(
                "FIELD_INTEGRITY_EXCEPTION", f"{label(fs)}: id value of incorrect type: {value}", [fs.name]
            )
        parent = self.store.get(conn, normal)
        if parent is None:
            raise bad_request(
                "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                "insufficient access rights on cross-reference id",
                [fs.name],
            )
        if parent.deleted:
            raise bad_request("ENTITY_IS_DELETED", "entity is deleted", [fs.name])
        return normal

    def _check_feed(self, sobject: SObjectSchema, values: dict[str, Any]) -> None:
        """A post on a record whose object has no feed: the answer Salesforce gives ("Parent ID: id
        value of incorrect type", FIELD_INTEGRITY_EXCEPTION), as reported by admins on Salesforce
        Stack Exchange for objects whose feed tracking is off."""
        if sobject.name != "FeedItem":
            return
        parent_id = str(values.get("ParentId") or "")
        parent = self.catalog.sobject_for_prefix(parent_id[:3])
        if parent is not None and not self.catalog.feed_enabled(parent):
            raise bad_request(
                "FIELD_INTEGRITY_EXCEPTION", f"Parent ID: id value of incorrect type: {parent_id}", ["ParentId"]
            )

    def _check_required(self, sobject: SObjectSchema, values: dict[str, Any]) -> None:
        missing = [
            fs.name for fs in self.catalog.fields(sobject, admin=True) if fs.required and values.get(fs.name) is None
        ]
        if missing:
            raise bad_request("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _check_unique(self, conn: sqlite3.Connection, sobject: SObjectSchema, values: dict, own_id: str | None) -> None:
        unique = [
            fs for fs in self.catalog.fields(sobject, admin=True) if fs.unique and values.get(fs.name) is not None
        ]
        if not unique:
            return
        for fs in unique:
            # Unique text fields are case-insensitive by default.
            other_id = self.store.find_text(conn, sobject, fs.name, str(values[fs.name]), exclude_id=own_id)
            if other_id is not None:
                raise bad_request(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {fs.name} duplicates value on record with id: {other_id}",
                    [],
                )

    # -- derived values ---------------------------------------------------------------------------

    def _derive(self, sobject: SObjectSchema, values: dict[str, Any]) -> None:
        if sobject.compound_name:
            values["Name"] = " ".join(p for p in (values.get("FirstName"), values.get("LastName")) if p) or None

    def _auto_number(self, conn: sqlite3.Connection, sobject: SObjectSchema) -> str:
        number = self.store.next_value(conn, f"autonumber:{sobject.name}")
        fmt = sobject.name_field_autonumber or "{0}"
        return _AUTONUMBER.sub(lambda m: str(number).zfill(len(m.group(1))), fmt)

    def _cascade(self, conn: sqlite3.Connection, parent: Row, *, actor: str) -> None:
        """Delete children of a required (master-detail-like) lookup; clear optional lookups."""
        sobject = self.catalog.sobject(parent.sobject)
        assert sobject is not None
        for rel in self.catalog.children(sobject, admin=True):
            for child in self.store.rows(conn, rel.child, include_deleted=False):
                if child.values.get(rel.field.name) != parent.id:
                    continue
                if rel.field.required:
                    self.delete(conn, rel.child, child.id, actor=actor)
                else:
                    child.values[rel.field.name] = None
                    self.store.save(conn, child)

    def _now(self) -> datetime:
        return truncate_ms(self.clock.now())

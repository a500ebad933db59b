"""Record rows in SQLite: one table for all objects, values kept as typed JSON per the schema."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..db import Database
from .catalog import Catalog
from .ids import make_id
from .schema import SObjectSchema
from .values import from_storage, to_storage

_TABLES = """
CREATE TABLE IF NOT EXISTS sf_records (
    id TEXT PRIMARY KEY,
    sobject TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sf_records_by_object ON sf_records (sobject, seq);
CREATE TABLE IF NOT EXISTS sf_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


DECODED_ROWS_KEPT = 50_000
_SAFE_NAME = re.compile(r"[A-Za-z0-9_]+")  # API names only: they go into SQL text below


def _text_of(field: str) -> str:
    """The SQL expression of a field's stored value as lower-case text."""
    return f"lower(CAST(json_extract(data, '$.\"{field}\"') AS TEXT))"


Condition = tuple[str, tuple[Any, ...]]  # SQL on sf_records.data, and its bound values
_NON_ASCII = "*[^\x01-\x7f]*"  # GLOB: text with a character outside ASCII


def text_in(field: str, lowered: Sequence[str]) -> Condition | None:
    """A condition met by every row whose text `field`, lower-cased, is one of `lowered` (ASCII).

    SQLite's lower() folds ASCII letters only, so a stored value with any other character is let
    through for the query engine to judge (Python folds e.g. the Kelvin sign to "k").
    """
    if not _SAFE_NAME.fullmatch(field) or not lowered or not all(v.isascii() for v in lowered):
        return None
    raw = f"CAST(json_extract(data, '$.\"{field}\"') AS TEXT)"
    marks = ", ".join("?" for _ in lowered)
    return f"lower({raw}) IN ({marks}) OR {raw} GLOB ?", (*lowered, _NON_ASCII)


def id_in(field: str, ids: Sequence[str]) -> Condition | None:
    """A condition met by every row whose id or reference `field` is one of `ids` (18-character)."""
    if not _SAFE_NAME.fullmatch(field) or not ids:
        return None
    raw = f"CAST(json_extract(data, '$.\"{field}\"') AS TEXT)"
    marks = ", ".join("?" for _ in ids)
    return f"{raw} IN ({marks}) OR length({raw}) != 18", tuple(ids)  # a 15-character id: the engine judges


def checkbox_is(field: str, wanted: bool) -> Condition | None:
    """A condition met by every row whose checkbox `field` is `wanted` (JSON true reads as 1)."""
    if not _SAFE_NAME.fullmatch(field):
        return None
    return f"json_extract(data, '$.\"{field}\"') {'=' if wanted else 'IS NOT'} 1", ()


@dataclass
class Row:
    """One record: canonical field name -> Python value (Decimal, date, datetime, bool, str, int)."""

    id: str
    sobject: str
    seq: int
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return bool(self.values.get("IsDeleted"))


class Store:
    """Reads and writes rows inside a caller's transaction (`conn` from Database.transaction())."""

    def __init__(self, db: Database, catalog: Catalog) -> None:
        self.db = db
        self.catalog = catalog
        # Field name -> schema per object, for encoding and decoding (the field set never changes).
        self._fields = {o.name: {f.name: f for f in catalog.fields(o, admin=True)} for o in catalog.objects}
        # Stored JSON text -> decoded values: a big org's queries decode the same unchanged rows over
        # and over (parsing every datetime and Decimal again), which made the sandbox, not the
        # worker, the bottleneck of a 10,000-record benchmark.
        self._decoded: dict[tuple[str, str], dict[str, Any]] = {}
        db.executescript(_TABLES)
        # One expression index per unique field, so that the duplicate check of an insert is a lookup
        # rather than a scan: a backlog of 10,000 requests otherwise made intake quadratic.
        for sobject in catalog.objects:
            for fs in catalog.fields(sobject, admin=True):
                if fs.unique and _SAFE_NAME.fullmatch(sobject.name + fs.name):
                    db.executescript(
                        f"CREATE INDEX IF NOT EXISTS sf_unique_{sobject.name}_{fs.name} "
                        f"ON sf_records (sobject, {_text_of(fs.name)}) WHERE is_deleted = 0;"
                    )

    def next_value(self, conn: sqlite3.Connection, name: str) -> int:
        """Increment and return a named counter (ids, auto-numbers, locators)."""
        conn.execute(
            "INSERT INTO sf_counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )
        return int(conn.execute("SELECT value FROM sf_counters WHERE name = ?", (name,)).fetchone()[0])

    def new_id(self, conn: sqlite3.Connection, key_prefix: str) -> str:
        # One org-wide sequence, as on a real pod, so ids sort in creation order across objects.
        return make_id(key_prefix, 100_000 + self.next_value(conn, "record_id"))

    def insert(self, conn: sqlite3.Connection, sobject: SObjectSchema, row_id: str, values: dict) -> Row:
        seq = self.next_value(conn, "record_seq")
        row = Row(row_id, sobject.name, seq, values)
        conn.execute(
            "INSERT INTO sf_records (id, sobject, seq, is_deleted, data) VALUES (?, ?, ?, ?, ?)",
            (row_id, sobject.name, seq, int(row.deleted), self._encode(sobject, values)),
        )
        return row

    def save(self, conn: sqlite3.Connection, row: Row) -> None:
        sobject = self.catalog.sobject(row.sobject)
        assert sobject is not None
        conn.execute(
            "UPDATE sf_records SET data = ?, is_deleted = ? WHERE id = ?",
            (self._encode(sobject, row.values), int(row.deleted), row.id),
        )

    def get(self, conn: sqlite3.Connection, row_id: str) -> Row | None:
        found = conn.execute("SELECT * FROM sf_records WHERE id = ?", (row_id,)).fetchone()
        return self._decode(found) if found else None

    def rows(
        self,
        conn: sqlite3.Connection,
        sobject: SObjectSchema,
        *,
        include_deleted: bool,
        narrow: Sequence[Condition] = (),
    ) -> list[Row]:
        """Rows of `sobject` in creation order; `narrow`: conditions (`text_in`, `checkbox_is`) every
        wanted row meets, checked in SQL so that the rows failing them are never decoded."""
        sql, args = "SELECT * FROM sf_records WHERE sobject = ?", [sobject.name]
        if not include_deleted:
            sql += " AND is_deleted = 0"
        for condition, values in narrow:
            sql, args = f"{sql} AND ({condition})", [*args, *values]
        return [self._decode(r) for r in conn.execute(sql + " ORDER BY seq", args)]

    def find_text(
        self, conn: sqlite3.Connection, sobject: SObjectSchema, field: str, value: str, *, exclude_id: str | None
    ) -> str | None:
        """The id of a live record whose text `field` equals `value` ignoring case, if any.

        Looked up in SQL rather than by decoding every row, so an insert stays cheap in a big org.
        """
        # The same expression as the field's index (a literal path: a bound one would not use it).
        assert _SAFE_NAME.fullmatch(field), field
        found = conn.execute(
            f"SELECT id FROM sf_records WHERE sobject = ? AND is_deleted = 0 AND {_text_of(field)} = lower(?)"
            " AND id != ? LIMIT 1",
            (sobject.name, value, exclude_id or ""),
        ).fetchone()
        return found[0] if found else None

    def rows_by_id(
        self, conn: sqlite3.Connection, sobject: SObjectSchema, ids: list[str], *, include_deleted: bool
    ) -> list[Row]:
        """Rows of `sobject` with these ids, in creation order (as `rows` gives them)."""
        found: list[Row] = []
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit is far above; keep it modest
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT * FROM sf_records WHERE sobject = ? AND id IN ({marks})"
            if not include_deleted:
                sql += " AND is_deleted = 0"
            found.extend(self._decode(r) for r in conn.execute(sql, (sobject.name, *chunk)))
        return sorted(found, key=lambda r: r.seq)

    def _encode(self, sobject: SObjectSchema, values: dict[str, Any]) -> str:
        fields = self._fields[sobject.name]
        return json.dumps({k: to_storage(fields[k], v) for k, v in values.items() if k in fields})

    def _decode(self, record: sqlite3.Row) -> Row:
        key = (record["sobject"], record["data"])
        values = self._decoded.get(key)
        if values is None:
            fields = self._fields[record["sobject"]]
            values = {k: from_storage(fields[k], v) for k, v in json.loads(record["data"]).items() if k in fields}
            if len(self._decoded) >= DECODED_ROWS_KEPT:
                self._decoded.clear()  # crude, but bounded; a busy org refills it with its live rows
            self._decoded[key] = values
        # A copy: callers change a row's values before saving it. The values themselves (str,
        # Decimal, datetime, bool...) are immutable.
        return Row(record["id"], record["sobject"], record["seq"], dict(values))

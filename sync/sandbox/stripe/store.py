"""The emulator's state in SQLite: objects by id, type and mode; events; idempotency; request log.

Every function takes the connection of an open `Database.transaction()`, so a handler's reads and
writes commit together. Objects and events carry an increasing `seq`, which orders lists: Stripe
lists newest first, and two objects made in the same clock second must still have an order.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (
    key TEXT PRIMARY KEY, mode TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    mode TEXT NOT NULL,
    body TEXT NOT NULL,
    internal TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS objects_by_type ON objects (type, mode, seq);
CREATE INDEX IF NOT EXISTS objects_by_payment_link ON objects (type, json_extract(body, '$.payment_link'));
CREATE INDEX IF NOT EXISTS objects_by_charge ON objects (type, json_extract(body, '$.charge'));
CREATE INDEX IF NOT EXISTS objects_by_payment_intent ON objects (type, json_extract(body, '$.payment_intent'));
CREATE INDEX IF NOT EXISTS objects_by_token ON objects (type, json_extract(internal, '$.token'));
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    mode TEXT NOT NULL,
    type TEXT NOT NULL,
    created INTEGER NOT NULL,
    body TEXT NOT NULL,
    visible_at INTEGER  -- when the event shows in the list, if later than it was created
);
CREATE TABLE IF NOT EXISTS event_delays (seconds INTEGER NOT NULL, remaining INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS idempotency (
    mode TEXT NOT NULL,
    key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    first_used REAL NOT NULL,
    status INTEGER,
    body TEXT,
    request_id TEXT,
    PRIMARY KEY (mode, key)
);
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    at REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    template TEXT NOT NULL,
    params TEXT NOT NULL,
    idempotency_key TEXT,
    status INTEGER NOT NULL,
    mode TEXT,
    key_last4 TEXT,
    replayed INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Stored:
    """One object row: its public body and the emulator-only data kept beside it."""

    seq: int
    body: dict[str, Any]
    internal: dict[str, Any]
    mode: str = "test"


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row["value"]


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def add_key(conn: sqlite3.Connection, key: str, mode: str) -> None:
    conn.execute(
        "INSERT INTO api_keys (key, mode) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET revoked = 0",
        (key, mode),
    )


def revoke_key(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("UPDATE api_keys SET revoked = 1 WHERE key = ?", (key,)).rowcount > 0


def key_mode(conn: sqlite3.Connection, key: str) -> str | None:
    """The mode of a registered, unrevoked key; None if the key is unknown or revoked."""
    row = conn.execute("SELECT mode FROM api_keys WHERE key = ? AND revoked = 0", (key,)).fetchone()
    return None if row is None else row["mode"]


def insert_object(
    conn: sqlite3.Connection, body: dict[str, Any], *, mode: str, internal: dict[str, Any] | None = None
) -> None:
    conn.execute(
        "INSERT INTO objects (id, type, mode, body, internal) VALUES (?, ?, ?, ?, ?)",
        (body["id"], body["object"], mode, json.dumps(body), json.dumps(internal or {})),
    )


def update_object(conn: sqlite3.Connection, body: dict[str, Any], *, internal: dict[str, Any] | None = None) -> None:
    if internal is None:
        conn.execute("UPDATE objects SET body = ? WHERE id = ?", (json.dumps(body), body["id"]))
    else:
        conn.execute(
            "UPDATE objects SET body = ?, internal = ? WHERE id = ?",
            (json.dumps(body), json.dumps(internal), body["id"]),
        )


def get_object(
    conn: sqlite3.Connection, object_id: str, *, type: str | None = None, mode: str | None = None
) -> Stored | None:
    """Fetch by id; with `type`/`mode`, an object of another type or mode counts as absent."""
    row = conn.execute("SELECT * FROM objects WHERE id = ?", (object_id,)).fetchone()
    if row is None or (type is not None and row["type"] != type) or (mode is not None and row["mode"] != mode):
        return None
    return _stored(row)


def find_by_internal(conn: sqlite3.Connection, type: str, field: str, value: str) -> Stored | None:
    # A literal path, as in the `objects_by_token` index: with a bound one SQLite would scan every
    # object (paying 10,000 links by URL was quadratic).
    assert field.isidentifier(), field
    row = conn.execute(
        f"SELECT * FROM objects WHERE type = ? AND json_extract(internal, '$.{field}') = ?",
        (type, value),
    ).fetchone()
    return None if row is None else _stored(row)


# Top-level id fields that lists filter on; each has an index, so a lookup does not decode every object.
INDEXED_FIELDS = ("payment_link", "charge", "payment_intent")


def list_objects(
    conn: sqlite3.Connection, type: str, *, mode: str | None = None, equal: dict[str, str] | None = None
) -> list[Stored]:
    """All objects of a type, newest first; `equal` keeps those whose INDEXED_FIELDS have these values."""
    sql, args = "SELECT * FROM objects WHERE type = ?", [type]
    if mode is not None:
        sql, args = sql + " AND mode = ?", [*args, mode]
    for name, value in (equal or {}).items():
        if name not in INDEXED_FIELDS:
            raise ValueError(f"{name} is not an indexed field")
        sql, args = sql + f" AND json_extract(body, '$.{name}') = ?", [*args, value]
    rows = conn.execute(sql + " ORDER BY seq DESC", args).fetchall()
    return [_stored(r) for r in rows]


def _stored(row: sqlite3.Row) -> Stored:
    return Stored(row["seq"], json.loads(row["body"]), json.loads(row["internal"]), row["mode"])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a state folder from an earlier sandbox up to this schema."""
    if "visible_at" not in {r[1] for r in conn.execute("PRAGMA table_info(events)")}:
        conn.execute("ALTER TABLE events ADD COLUMN visible_at INTEGER")


def delay_events(conn: sqlite3.Connection, *, seconds: int, count: int) -> None:
    """Make the next `count` events recorded show in the list only `seconds` after they were created."""
    conn.execute("DELETE FROM event_delays")
    conn.execute("INSERT INTO event_delays (seconds, remaining) VALUES (?, ?)", (seconds, count))


def insert_event(conn: sqlite3.Connection, event: dict[str, Any], *, mode: str) -> None:
    delay = conn.execute("SELECT seconds, remaining FROM event_delays WHERE remaining > 0").fetchone()
    visible_at = None
    if delay is not None:
        visible_at = event["created"] + int(delay["seconds"])
        conn.execute("UPDATE event_delays SET remaining = remaining - 1")
    conn.execute(
        "INSERT INTO events (id, mode, type, created, body, visible_at) VALUES (?, ?, ?, ?, ?, ?)",
        (event["id"], mode, event["type"], event["created"], json.dumps(event), visible_at),
    )


def list_events(
    conn: sqlite3.Connection, *, mode: str, after_seq: int | None = None, since: int | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Events of a mode as (seq, event), newest first: all, or those recorded after `after_seq`,
    created at `since` or later (chosen in SQL, so a poll after a cursor does not decode history)."""
    return [(seq, json.loads(body)) for seq, body in _event_rows(conn, "seq, body", mode, after_seq, since)]


def event_heads(
    conn: sqlite3.Connection,
    *,
    mode: str,
    since: int,
    after_seq: int | None = None,
    before_seq: int | None = None,
    oldest_first: bool = False,
    visible_by: int | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each event's seq, id, type and created (enough to filter and page a list, so a page decodes
    its own events alone), recorded after `after_seq` or before `before_seq`. Read lazily, so a page
    stops at its own end rather than reading a whole backlog; newest first unless `oldest_first`.
    `visible_by`: leave out events that show in the list only later (delay_events)."""
    sql, args = "SELECT seq, id, type, created FROM events WHERE mode = ? AND created >= ?", [mode, since]
    if visible_by is not None:
        sql, args = sql + " AND (visible_at IS NULL OR visible_at <= ?)", [*args, visible_by]
    if after_seq is not None:
        sql, args = sql + " AND seq > ?", [*args, after_seq]
    if before_seq is not None:
        sql, args = sql + " AND seq < ?", [*args, before_seq]
    for r in conn.execute(sql + (" ORDER BY seq ASC" if oldest_first else " ORDER BY seq DESC"), args):
        yield r["seq"], {"id": r["id"], "type": r["type"], "created": r["created"]}


def events_by_id(conn: sqlite3.Connection, event_ids: list[str]) -> list[dict[str, Any]]:
    """These events, in the order of `event_ids`."""
    if not event_ids:
        return []
    marks = ", ".join("?" for _ in event_ids)
    rows = conn.execute(f"SELECT id, body FROM events WHERE id IN ({marks})", event_ids).fetchall()
    bodies = {r["id"]: r["body"] for r in rows}
    return [json.loads(bodies[event_id]) for event_id in event_ids]


def _event_rows(
    conn: sqlite3.Connection, columns: str, mode: str, after_seq: int | None, since: int | None
) -> list[sqlite3.Row]:
    sql, args = f"SELECT {columns} FROM events WHERE mode = ?", [mode]
    if after_seq is not None:
        sql, args = sql + " AND seq > ?", [*args, after_seq]
    if since is not None:
        sql, args = sql + " AND created >= ?", [*args, since]
    return conn.execute(sql + " ORDER BY seq DESC", args).fetchall()


def event_seq(conn: sqlite3.Connection, event_id: str, *, mode: str, since: int) -> int | None:
    """The recording position of an event of this mode created at `since` or later, if there is one."""
    row = conn.execute(
        "SELECT seq FROM events WHERE id = ? AND mode = ? AND created >= ?", (event_id, mode, since)
    ).fetchone()
    return None if row is None else int(row["seq"])


def get_event(conn: sqlite3.Connection, event_id: str, *, mode: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT body FROM events WHERE id = ? AND mode = ?", (event_id, mode)).fetchone()
    return None if row is None else json.loads(row["body"])


def idempotency_record(conn: sqlite3.Connection, mode: str, key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM idempotency WHERE mode = ? AND key = ?", (mode, key)).fetchone()


def claim_idempotency_key(
    conn: sqlite3.Connection, *, mode: str, key: str, endpoint: str, params: str, now: float
) -> None:
    """Mark a key as in flight (status NULL) until `finish_idempotency_key` or `release_…`."""
    conn.execute(
        "INSERT OR REPLACE INTO idempotency (mode, key, endpoint, params, first_used) VALUES (?, ?, ?, ?, ?)",
        (mode, key, endpoint, params, now),
    )


def finish_idempotency_key(
    conn: sqlite3.Connection, *, mode: str, key: str, status: int, body: bytes, request_id: str
) -> None:
    conn.execute(
        "UPDATE idempotency SET status = ?, body = ?, request_id = ? WHERE mode = ? AND key = ?",
        (status, body.decode(), request_id, mode, key),
    )


def release_idempotency_key(conn: sqlite3.Connection, *, mode: str, key: str) -> None:
    conn.execute("DELETE FROM idempotency WHERE mode = ? AND key = ?", (mode, key))


def log_request(conn: sqlite3.Connection, entry: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO requests (request_id, at, method, path, template, params, idempotency_key, status, "
        "mode, key_last4, replayed) VALUES (:request_id, :at, :method, :path, :template, :params, "
        ":idempotency_key, :status, :mode, :key_last4, :replayed)",
        {**entry, "params": json.dumps(entry["params"])},
    )


def request_log(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM requests ORDER BY seq").fetchall()
    return [
        {
            **{k: r[k] for k in r.keys() if k != "seq"},
            "params": json.loads(r["params"]),
            "replayed": bool(r["replayed"]),
        }
        for r in rows
    ]


def clear_request_log(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM requests")

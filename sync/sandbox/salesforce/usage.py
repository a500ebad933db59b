"""API request counting against the org's daily allocation, overall and per endpoint."""

from __future__ import annotations

import sqlite3

from ..db import Database

_TABLES = """
CREATE TABLE IF NOT EXISTS sf_api_calls (endpoint TEXT PRIMARY KEY, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sf_settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class ApiUsage:
    """Counts calls; `record` refuses once the allocation is used up (REQUEST_LIMIT_EXCEEDED)."""

    def __init__(self, db: Database, *, daily_limit: int) -> None:
        self.db = db
        db.executescript(_TABLES)
        with db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO sf_settings VALUES ('daily_limit', ?)", (daily_limit,))
            conn.execute("INSERT OR IGNORE INTO sf_settings VALUES ('used', 0)")

    def record(self, endpoint: str) -> tuple[bool, int, int]:
        """Count one call; returns (allowed, used, limit). A refused call is not counted."""
        with self.db.transaction() as conn:
            used, limit = self._read(conn)
            if used >= limit:
                return False, used, limit
            conn.execute("UPDATE sf_settings SET value = value + 1 WHERE name = 'used'")
            conn.execute(
                "INSERT INTO sf_api_calls VALUES (?, 1) ON CONFLICT(endpoint) DO UPDATE SET count = count + 1",
                (endpoint,),
            )
            return True, used + 1, limit

    def current(self) -> tuple[int, int]:
        with self.db.transaction() as conn:
            return self._read(conn)

    def counts(self) -> dict[str, object]:
        """{"total": n, "by_endpoint": {"GET query": n, ...}} since the last reset."""
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT endpoint, count FROM sf_api_calls ORDER BY endpoint").fetchall()
        by_endpoint = {r["endpoint"]: r["count"] for r in rows}
        return {"total": sum(by_endpoint.values()), "by_endpoint": by_endpoint}

    def reset_counts(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sf_api_calls")

    def set(self, *, daily_limit: int | None = None, used: int | None = None) -> None:
        with self.db.transaction() as conn:
            if daily_limit is not None:
                conn.execute("UPDATE sf_settings SET value = ? WHERE name = 'daily_limit'", (daily_limit,))
            if used is not None:
                conn.execute("UPDATE sf_settings SET value = ? WHERE name = 'used'", (used,))

    @staticmethod
    def _read(conn: sqlite3.Connection) -> tuple[int, int]:
        values = {r["name"]: r["value"] for r in conn.execute("SELECT name, value FROM sf_settings")}
        return int(values["used"]), int(values["daily_limit"])

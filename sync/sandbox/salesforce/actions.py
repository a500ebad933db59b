"""The emailSimple invocable action and the outbox where the emulator "delivers" its mail."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from ..db import Database
from .errors import bad_request
from .values import format_datetime

_TABLES = """
CREATE TABLE IF NOT EXISTS sf_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    to_addresses TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sender_type TEXT,
    sender_address TEXT,
    related_record_id TEXT,
    log_email_on_send INTEGER NOT NULL,
    sent_at TEXT NOT NULL,
    sent_by TEXT NOT NULL
);
"""
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SENDER_TYPES = frozenset({"CurrentUser", "DefaultWorkflowUser", "OrgWideEmailAddress"})


def create_tables(db: Database) -> None:
    db.executescript(_TABLES)


def email_simple(conn: sqlite3.Connection, body: Any, *, sent_at: Any, user_id: str) -> list[dict[str, Any]]:
    """Send each input that validates; one result per input, in order (`isSuccess`, `errors`)."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise bad_request("JSON_PARSER_ERROR", "Missing required 'inputs' parameter.")
    return [_send_one(conn, item, sent_at=sent_at, user_id=user_id) for item in body["inputs"]]


def _send_one(conn: sqlite3.Connection, item: Any, *, sent_at: Any, user_id: str) -> dict[str, Any]:
    item = item if isinstance(item, dict) else {}
    errors = []
    for name in ("emailAddresses", "emailSubject", "emailBody"):
        if not str(item.get(name) or "").strip():
            errors.append(_error("REQUIRED_FIELD_MISSING", f"Missing required input parameter: {name}"))
    addresses = [a.strip() for a in str(item.get("emailAddresses") or "").split(",") if a.strip()]
    errors += [
        _error("INVALID_EMAIL_ADDRESS", f"Email address is invalid: {a}") for a in addresses if not _EMAIL.match(a)
    ]
    sender_type = item.get("senderType")
    if sender_type is not None and sender_type not in _SENDER_TYPES:
        errors.append(_error("INVALID_API_INPUT", f"Invalid value for senderType: {sender_type}"))
    if errors:
        return {"actionName": "emailSimple", "errors": errors, "isSuccess": False, "outputValues": None}
    conn.execute(
        "INSERT INTO sf_outbox (to_addresses, subject, body, sender_type, sender_address, related_record_id, "
        "log_email_on_send, sent_at, sent_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ",".join(addresses),
            str(item["emailSubject"]),
            str(item["emailBody"]),
            sender_type,
            item.get("senderAddress"),
            item.get("relatedRecordId"),
            int(bool(item.get("logEmailOnSend"))),
            format_datetime(sent_at),
            user_id,
        ),
    )
    return {"actionName": "emailSimple", "errors": None, "isSuccess": True, "outputValues": None}


def outbox(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM sf_outbox ORDER BY seq").fetchall()
    return [
        {
            "to": r["to_addresses"].split(","),
            "subject": r["subject"],
            "body": r["body"],
            "sender_type": r["sender_type"],
            "sender_address": r["sender_address"],
            "related_record_id": r["related_record_id"],
            "log_email_on_send": bool(r["log_email_on_send"]),
            "sent_at": r["sent_at"],
            "sent_by": r["sent_by"],
        }
        for r in rows
    ]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": []}

"""The emailSimple invocable action and the outbox where the emulator "delivers" its mail.

Besides checking its inputs, the action does what a real org does around a send: it logs the email
on the related record as an EmailMessage (`logEmailOnSend`), which needs activities allowed on that
object; it counts the single-email daily limit; and it drops mail from a user whose email address
is not verified.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

from ..db import Database
from .errors import ApiError, bad_request
from .values import format_datetime

if TYPE_CHECKING:
    from .catalog import Catalog
    from .records import RecordWriter
    from .store import Store

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
    sent_by TEXT NOT NULL,
    dropped INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sf_email_settings (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO sf_email_settings VALUES ('single_email_max', 5000);
"""
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SENDER_TYPES = frozenset({"CurrentUser", "DefaultWorkflowUser", "OrgWideEmailAddress"})


def create_tables(db: Database) -> None:
    db.executescript(_TABLES)
    with db.transaction() as conn:  # a sandbox state folder from before mail could be dropped
        columns = {r[1] for r in conn.execute("PRAGMA table_info(sf_outbox)")}
        if "dropped" not in columns:
            conn.execute("ALTER TABLE sf_outbox ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0")


class EmailAction:
    """emailSimple, run as the calling user inside the call's transaction."""

    def __init__(self, *, catalog: Catalog, store: Store, writer: RecordWriter) -> None:
        self.catalog = catalog
        self.store = store
        self.writer = writer
        # InvocableActionSettings.isPartialSaveAllowed (Metadata API): whether the inputs that
        # succeeded are kept when others in the same call fail. Off, the whole call is rolled back.
        self.partial_save_allowed = False

    def send(
        self, conn: sqlite3.Connection, body: Any, *, sent_at: Any, user_id: str
    ) -> tuple[int, list[dict[str, Any]]]:
        """Send each input that validates: (HTTP status, one result per input in order).

        A call in which any input fails is answered 400, its body still the per-input results (as
        real orgs answer an invocable action call: a public report shows a 200-input call answered
        400 with most inputs done). Without partial save, the inputs that would have succeeded are
        rolled back; the emulator says so on each (ALL_OR_NONE_OPERATION_ROLLED_BACK, the code
        Salesforce gives a record rolled back with others in an all-or-none save).
        """
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise bad_request("JSON_PARSER_ERROR", "Missing required 'inputs' parameter.")
        conn.execute("SAVEPOINT email_call")
        results = [self._send_one(conn, item, sent_at=sent_at, user_id=user_id) for item in body["inputs"]]
        failed = not all(r["isSuccess"] for r in results)
        if failed and not self.partial_save_allowed:
            conn.execute("ROLLBACK TO email_call")
            results = [r if not r["isSuccess"] else _rolled_back() for r in results]
        conn.execute("RELEASE email_call")
        return (400 if failed else 200), results

    def _send_one(self, conn: sqlite3.Connection, item: Any, *, sent_at: Any, user_id: str) -> dict[str, Any]:
        item = item if isinstance(item, dict) else {}
        addresses = [a.strip() for a in str(item.get("emailAddresses") or "").split(",") if a.strip()]
        errors = _input_errors(item, addresses)
        logged = bool(item.get("logEmailOnSend"))
        related = str(item.get("relatedRecordId") or "") or None
        if not errors and logged:
            errors = self._limit_errors(conn, len(addresses), sent_at=sent_at)
        if not errors and logged and related is not None:
            errors = self._activity_errors(related)
        if errors:
            return {"actionName": "emailSimple", "errors": errors, "isSuccess": False, "outputValues": None}
        # Mail from an unverified user address is not sent, and the sender may be told nothing:
        # "In some cases, users get no message and can believe that the email was sent when it was
        # dropped" (help.salesforce.com, "Requirements to Send Email from Salesforce":
        # xcloud.security_email_verification_requirements.htm). The emulator takes that worst case.
        sender_type = item.get("senderType") or "CurrentUser"
        dropped = sender_type == "CurrentUser" and not self._verified(conn, user_id)
        if logged and related is not None and not dropped:
            try:
                self._log(conn, item, related, addresses, sent_at=sent_at, user_id=user_id)
            except ApiError as err:  # a rule or trigger on EmailMessage fails the send with it
                errors = _errors_of(err)
                return {"actionName": "emailSimple", "errors": errors, "isSuccess": False, "outputValues": None}
        conn.execute(
            "INSERT INTO sf_outbox (to_addresses, subject, body, sender_type, sender_address, related_record_id, "
            "log_email_on_send, sent_at, sent_by, dropped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ",".join(addresses),
                str(item["emailSubject"]),
                str(item["emailBody"]),
                item.get("senderType"),
                item.get("senderAddress"),
                related,
                int(logged),
                format_datetime(sent_at),
                user_id,
                int(dropped),
            ),
        )
        return {"actionName": "emailSimple", "errors": None, "isSuccess": True, "outputValues": None}

    def _limit_errors(self, conn: sqlite3.Connection, recipients: int, *, sent_at: Any) -> list[dict[str, Any]]:
        """With logEmailOnSend the single-email daily limit applies (the emailSimple reference,
        "Email Sending Limits"); past it Salesforce refuses the send with SINGLE_EMAIL_LIMIT_EXCEEDED."""
        if single_email_remaining(conn, day=format_datetime(sent_at)[:10]) >= recipients:
            return []
        return [_error("SINGLE_EMAIL_LIMIT_EXCEEDED", "Email limit exceeded")]

    def _activity_errors(self, related: str) -> list[dict[str, Any]]:
        """An email is logged as an activity of its related record, so the record's object must allow
        activities. The emulator answers as Salesforce does an activity on such a record ("Related To
        ID: id value of incorrect type", FIELD_INTEGRITY_EXCEPTION); what emailSimple itself answers
        is not documented, and refusing the send is the strict choice (nothing sent unlogged)."""
        sobject = self.catalog.sobject_for_prefix(related[:3])
        if sobject is not None and self.catalog.activities_enabled(sobject):
            return []
        return [_error("FIELD_INTEGRITY_EXCEPTION", f"Related To ID: id value of incorrect type: {related}")]

    def _verified(self, conn: sqlite3.Connection, user_id: str) -> bool:
        row_id = verification_row(conn, self.store, self.catalog, user_id)
        row = self.store.get(conn, row_id) if row_id else None
        return row is None or bool(row.values.get("HasUserVerifiedEmailAddress"))

    def _log(
        self, conn: sqlite3.Connection, item: dict[str, Any], related: str, addresses: list[str], *, sent_at: Any,
        user_id: str,
    ) -> None:  # fmt: skip
        message = self.catalog.sobject("EmailMessage")
        if message is None:  # an org schema without Enhanced Email: nothing to log the email as
            return
        values = {
            "RelatedToId": related,
            "Subject": str(item["emailSubject"]),
            "TextBody": str(item["emailBody"]),
            "ToAddress": "; ".join(addresses),
            "Status": "3",  # Sent
            "MessageDate": format_datetime(sent_at),
        }
        self.writer.create(conn, message, values, actor=user_id, admin=True)


def verification_row(conn: sqlite3.Connection, store: Store, catalog: Catalog, user_id: str) -> str | None:
    """The id of the user's TwoFactorMethodsInfo row, if it has one."""
    methods = catalog.sobject("TwoFactorMethodsInfo")
    return store.find_text(conn, methods, "UserId", user_id, exclude_id=None) if methods else None


def single_email_remaining(conn: sqlite3.Connection, *, day: str) -> int:
    """The single emails left on `day` (YYYY-MM-DD, GMT): the limit counts a day's sends."""
    sql = "SELECT to_addresses FROM sf_outbox WHERE log_email_on_send = 1 AND substr(sent_at, 1, 10) = ?"
    used = sum(len(r[0].split(",")) for r in conn.execute(sql, (day,)))
    return max(0, single_email_max(conn) - used)


def single_email_max(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM sf_email_settings WHERE name = 'single_email_max'").fetchone()[0])


def set_single_email_max(conn: sqlite3.Connection, value: int) -> None:
    conn.execute("UPDATE sf_email_settings SET value = ? WHERE name = 'single_email_max'", (int(value),))


def _input_errors(item: dict[str, Any], addresses: list[str]) -> list[dict[str, Any]]:
    errors = []
    for name in ("emailAddresses", "emailSubject", "emailBody"):
        if not str(item.get(name) or "").strip():
            errors.append(_error("REQUIRED_FIELD_MISSING", f"Missing required input parameter: {name}"))
    errors += [
        _error("INVALID_EMAIL_ADDRESS", f"Email address is invalid: {a}") for a in addresses if not _EMAIL.match(a)
    ]
    sender_type = item.get("senderType")
    if sender_type is not None and sender_type not in _SENDER_TYPES:
        errors.append(_error("INVALID_API_INPUT", f"Invalid value for senderType: {sender_type}"))
    return errors


def _rolled_back() -> dict[str, Any]:
    error = _error(
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all records were valid and the "
        "request was using AllOrNone header",
    )  # fmt: skip
    return {"actionName": "emailSimple", "errors": [error], "isSuccess": False, "outputValues": None}


def _errors_of(err: ApiError) -> list[dict[str, Any]]:
    return [_error(e["errorCode"], e["message"]) for e in err.body()]


def outbox(conn: sqlite3.Connection, *, dropped: bool = False) -> list[dict[str, Any]]:
    """The mail delivered, oldest first (`dropped`: also what Salesforce dropped, marked so)."""
    sql = "SELECT * FROM sf_outbox" + ("" if dropped else " WHERE dropped = 0") + " ORDER BY seq"
    rows = conn.execute(sql).fetchall()
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
            "dropped": bool(r["dropped"]),
        }
        for r in rows
    ]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": []}

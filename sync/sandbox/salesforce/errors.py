"""Salesforce REST error responses as an exception the handlers raise."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: HTTP status plus Salesforce's `[{"message", "errorCode", "fields"}]` body."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        error: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            error["fields"] = self.fields
        return [error]

    def save_error(self) -> dict[str, Any]:
        """The same error as a SaveResult entry, which names the code `statusCode`."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}


def bad_request(code: str, message: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, code, message, fields)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


# Transient failures; the org answers these itself and the fault layer (sandbox/faults) injects them.


def invalid_session() -> ApiError:
    """401 for a missing, expired or revoked token; simple-salesforce re-logs in on this code."""
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def request_limit_exceeded() -> ApiError:
    """403 once the org's rolling 24-hour API allocation is used up."""
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def unable_to_lock_row(record_id: str) -> ApiError:
    """400 when a record lock is not granted within 10 s (KA 000229525, reference/salesforce.md)."""
    message = f"unable to obtain exclusive access to this record or 1 records: {record_id}"
    return ApiError(400, "UNABLE_TO_LOCK_ROW", message)


def server_unavailable() -> ApiError:
    # 503 with SERVER_UNAVAILABLE "Server too busy", as clients log it (restforce/restforce#156, #570).
    # During maintenance a CDN may answer with an HTML page instead.
    return ApiError(503, "SERVER_UNAVAILABLE", "Server too busy")

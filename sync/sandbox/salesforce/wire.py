"""One REST call inside the emulator, so composite subrequests can reuse the top-level handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request
from .jsonwire import loads

_NO_BODY = object()


@dataclass
class Call:
    """A data-API call after auth; `resource` is the path after /services/data/vNN.N/ without end slashes."""

    method: str
    version: str
    resource: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased keys
    user_id: str
    raw_body: bytes = b""
    parsed_body: Any = _NO_BODY

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON with Decimal numbers; JSON_PARSER_ERROR if it does not parse."""
        if self.parsed_body is not _NO_BODY:
            return self.parsed_body
        try:
            return loads(self.raw_body or b"")
        except json.JSONDecodeError as exc:
            char = exc.doc[exc.pos] if exc.pos < len(exc.doc) else "<EOF>"
            raise bad_request(
                "JSON_PARSER_ERROR",
                f"Unexpected character ('{char}' (code {ord(char) if len(char) == 1 else -1})): "
                "expected a valid value (number, String, array, object, 'true', 'false' or 'null') "
                f"at [line:{exc.lineno}, column:{exc.colno}]",
            ) from None
        except UnicodeDecodeError:
            raise bad_request("JSON_PARSER_ERROR", "Invalid UTF-8 in the request body") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise bad_request(
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of SObject from START_ARRAY value [ "
                "or request may be missing a required field",
            )
        return body


@dataclass
class Result:
    """A handler's answer: status, a JSON-able payload (None for an empty body), headers."""

    status: int = 200
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, err: ApiError) -> Result:
        return cls(err.status, err.body())

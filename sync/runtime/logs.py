"""structlog, configured once: JSON when not a terminal, readable console otherwise.

A last processor masks anything shaped like a Stripe key, a bearer token or a JWT in every string
it is given, in case a secret ever slips into an error text that gets logged.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from enum import StrEnum
from typing import Any

import structlog


class LogFormat(StrEnum):
    AUTO = "auto"  # JSON when stdout is not a terminal, readable console otherwise
    JSON = "json"
    CONSOLE = "console"


# Stripe does not promise its keys are alphanumeric after the prefix: `-`, `_` and `.` occur, so a
# key runs to its last letter or digit (a sentence's full stop stays). Not after a lowercase letter
# (`desk_test_...` is no key), but after `_`, a digit or `%3D` (form-encoded `key=`) it is.
_KEY_BODY = r"[A-Za-z0-9_.-]*[A-Za-z0-9]"
_SECRET_PATTERNS = (
    re.compile(rf"(?<![a-z])(?:sk|rk|pk)_(?:test|live)_{_KEY_BODY}"),  # secret, restricted, publishable
    re.compile(rf"(?<![a-z])whsec_{_KEY_BODY}"),  # a webhook signing secret
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._!~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),  # a JWT
    re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]{20,}"),  # a Salesforce session id
)


def mask_secrets(text: str) -> str:
    """Replace every secret-shaped run in `text` with a fixed mask."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    return {key: _redact_value(value) for key, value in event.items()}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def configure_logging(*, fmt: LogFormat = LogFormat.AUTO, level: str = "info") -> None:
    """Set structlog up for the process; call once, from the composition root."""
    as_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not sys.stdout.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),  # sys.stdout as it is at each call
        cache_logger_on_first_use=False,
    )


log = structlog.get_logger("sync")

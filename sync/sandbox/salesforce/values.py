"""Field values between JSON, Python and storage, validated and formatted the way Salesforce does."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .errors import ApiError, bad_request
from .ids import to_18
from .schema import DECIMAL_TYPES, FieldSchema

_DEFAULT_LENGTH = {
    "string": 255, "textarea": 255, "email": 80, "phone": 40, "url": 255,
    "picklist": 255, "encryptedstring": 175, "id": 18, "reference": 18,
}  # fmt: skip
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$")


def max_length(fs: FieldSchema) -> int:
    return fs.length or _DEFAULT_LENGTH.get(fs.type, 255)


def label(fs: FieldSchema) -> str:
    return fs.label or fs.name


def format_datetime(value: datetime) -> str:
    """`2026-11-26T15:03:09.000+0000`: UTC with milliseconds, as Salesforce returns datetimes."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def truncate_ms(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def parse_datetime(text: str) -> datetime | None:
    """Parse the datetime forms Salesforce accepts; a missing zone means UTC."""
    match = _DATETIME.match(text)
    if not match:
        return None
    day, clock, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    zone = zone or "Z"
    if zone != "Z" and ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}{fraction}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None
    return truncate_ms(parsed.astimezone(UTC))


def parse_date(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _json_token(raw: Any) -> tuple[str, str]:
    """Name the JSON token Jackson saw, for JSON_PARSER_ERROR messages."""
    if isinstance(raw, bool):
        return ("VALUE_TRUE" if raw else "VALUE_FALSE"), str(raw).lower()
    if isinstance(raw, int):
        return "VALUE_NUMBER_INT", str(raw)
    if isinstance(raw, Decimal):
        return "VALUE_NUMBER_FLOAT", str(raw)
    if isinstance(raw, dict):
        return "START_OBJECT", "{"
    if isinstance(raw, list):
        return "START_ARRAY", "["
    return "VALUE_STRING", str(raw)


def _parser_error(type_name: str, raw: Any) -> ApiError:
    token, text = _json_token(raw)
    return bad_request(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {type_name} from {token} value {text} "
        "or request may be missing a required field",
    )


def coerce(fs: FieldSchema, raw: Any) -> Any:
    """Turn a JSON value into the field's Python value, or raise the ApiError Salesforce would.

    Strings and numbers become str, currency/double/percent Decimal (rounded to the field's scale),
    int int, boolean bool, date date, datetime an aware UTC datetime. An empty string is null.
    """
    if raw is None:
        return None
    kind = fs.type
    if kind in DECIMAL_TYPES or kind == "int":
        return _coerce_number(fs, raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _parser_error("boolean", raw)
    if kind == "date":
        parsed_date = parse_date(raw) if isinstance(raw, str) else None
        if parsed_date is None:
            raise _parser_error("date", raw)
        return parsed_date
    if kind == "datetime":
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _parser_error("datetime", raw)
        return parsed
    return _coerce_text(fs, raw)


def _coerce_number(fs: FieldSchema, raw: Any) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, (int, Decimal, str)):
        raise _parser_error("int" if fs.type == "int" else fs.type, raw)
    if isinstance(raw, str) and raw.strip() == "":
        return None
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise _parser_error("int" if fs.type == "int" else fs.type, raw) from None
    if not number.is_finite():
        raise _parser_error(fs.type, raw)
    if fs.type == "int":
        if number != number.to_integral_value():
            raise _parser_error("int", raw)
        return int(number)
    scale = fs.scale if fs.scale is not None else (2 if fs.type == "currency" else 0)
    precision = fs.precision if fs.precision is not None else 18
    rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if abs(rounded) >= Decimal(10) ** (precision - scale):
        raise bad_request(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{label(fs)}: value outside of valid range on numeric field: {raw}",
            [fs.name],
        )
    return rounded


def _coerce_text(fs: FieldSchema, raw: Any) -> str | None:
    if isinstance(raw, (dict, list)):
        raise _parser_error("string", raw)
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if text == "":
        return None  # Salesforce stores an empty string as null
    if fs.type in ("reference", "id"):
        return text  # checked against the org by the store
    if len(text) > max_length(fs):
        raise bad_request(
            "STRING_TOO_LONG",
            f"{label(fs)}: data value too large: {text} (max length={max_length(fs)})",
            [fs.name],
        )
    if fs.type == "email" and not _EMAIL.match(text):
        raise bad_request("INVALID_EMAIL_ADDRESS", f"{label(fs)}: invalid email address: {text}", [fs.name])
    if fs.type == "picklist" and fs.restricted_picklist and text not in fs.picklist_values:
        raise bad_request(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{label(fs)}: bad value for restricted picklist field: {text}",
            [fs.name],
        )
    return text


def normalize_id(text: str) -> str | None:
    return to_18(text)


def to_storage(fs: FieldSchema, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def from_storage(fs: FieldSchema, raw: Any) -> Any:
    if raw is None:
        return None
    if fs.type in DECIMAL_TYPES:
        return Decimal(raw)
    if fs.type == "datetime":
        return parse_datetime(raw)
    if fs.type == "date":
        return date.fromisoformat(raw)
    return raw


def to_json(fs: FieldSchema, value: Any) -> Any:
    """The field's value as it appears in a REST response (Decimals stay exact for the encoder)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value

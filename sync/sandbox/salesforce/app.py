"""The org emulator: Salesforce's REST wire format over the sandbox HTTP server, plus a control API."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import formatdate
from typing import Any

from ..clock import SandboxClock
from ..db import Database
from ..httpserver import Request, Response
from . import actions
from .catalog import Catalog
from .composite_api import CompositeApi
from .control import handle_control
from .data_api import DataApi, endpoint_name
from .errors import ApiError, invalid_session, request_limit_exceeded
from .jsonwire import dumps
from .oauth import ADMIN_USER_ID, Accounts, OAuthError
from .query_api import QueryApi
from .records import RecordWriter
from .schema import OrgSchema, SObjectSchema
from .sobject_api import SObjectApi
from .soql import quote_string
from .store import Store
from .usage import ApiUsage
from .validation_rules import ValidationRule
from .values import truncate_ms
from .wire import Call, Result

DEFAULT_VERSIONS = tuple(f"{n}.0" for n in range(55, 67))
_DATA_PATH = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")
_SEASONS = ("Spring", "Summer", "Winter")
_JSON = "application/json;charset=UTF-8"


# "In each REST API call, the maximum combined length of the URI and headers is 16,384 bytes. A request
# exceeding this limit returns a 431 Request Header Fields Too Large error. If the URI itself exceeds
# the limit, the request returns a 414 URI Too Long error" (Salesforce Help 000386264, "Maximum number
# of rows returned by SOQL queries over the REST API", which points to the REST API Developer Guide's
# "Request Size Limits"; Stack Exchange question 195449 saw both statuses from an org). The
# refusal comes from the web tier, before the API, in its own plain body ("Bad Message 431 reason:
# Request Header Fields Too Large", as Stitch's Salesforce troubleshooting page quotes it), and
# counts no API call.
MAX_URI_AND_HEADERS = 16_384
_TOO_LONG = {414: "URI Too Long", 431: "Request Header Fields Too Large"}


def _too_long(request: Request) -> Response | None:
    uri = len(request.path.encode()) + (len(request.raw_query.encode()) + 1 if request.raw_query else 0)
    headers = sum(len(f"{name}: {value}\r\n".encode()) for name, value in request.headers.items())
    status = 414 if uri > MAX_URI_AND_HEADERS else 431 if uri + headers > MAX_URI_AND_HEADERS else None
    if status is None:
        return None
    body = f"<h1>Bad Message {status}</h1><pre>reason: {_TOO_LONG[status]}</pre>".encode()
    return Response(status=status, body=body, headers={"Content-Type": "text/html;charset=iso-8859-1"})


def release_label(version: str) -> str:
    """55.0 -> "Summer '22": three releases a year, Winter named for the following year."""
    index = int(float(version)) - 55 + 1  # 55.0 is Summer '22, the second release of 2022
    year, season = divmod(index, 3)
    return f"{_SEASONS[season]} '{22 + year + (1 if season == 2 else 0):02d}"


class SalesforceEmulator:
    """One org: records in SQLite, OAuth apps and sessions, API usage, an email outbox.

    Set `base_url` to the server's URL after starting it; it becomes instance_url and the login audience.
    """

    def __init__(
        self,
        schema: OrgSchema,
        *,
        clock: SandboxClock,
        db_path: str = ":memory:",
        api_versions: tuple[str, ...] = DEFAULT_VERSIONS,
        daily_api_limit: int = 100_000,
        token_ttl_seconds: int = 7200,
        batch_size: int = 2000,
        subquery_batch_size: int = 499,
    ) -> None:
        self.clock = clock
        self.api_versions = tuple(api_versions)
        self.base_url = "https://127.0.0.1"
        self.db = Database(db_path)
        self.catalog = Catalog(schema)
        self.store = Store(self.db, self.catalog)
        self.accounts = Accounts(self.db, clock=clock, token_ttl_seconds=token_ttl_seconds)
        self.usage = ApiUsage(self.db, daily_limit=daily_api_limit)
        actions.create_tables(self.db)
        self.writer = RecordWriter(catalog=self.catalog, store=self.store, clock=clock, is_user=self.accounts.is_user)
        self.queries = QueryApi(
            db=self.db, catalog=self.catalog, store=self.store, batch_size=batch_size,
            subquery_batch_size=subquery_batch_size,
        )  # fmt: skip
        self.sobjects = SObjectApi(catalog=self.catalog, store=self.store, writer=self.writer, queries=self.queries)
        composite = CompositeApi(
            catalog=self.catalog, writer=self.writer, sobjects=self.sobjects, versions=self.api_versions
        )
        self.emails = actions.EmailAction(catalog=self.catalog, store=self.store, writer=self.writer)
        emails = self.emails
        self.data = DataApi(sobjects=self.sobjects, queries=self.queries, composite=composite, emails=emails)

    @property
    def url(self) -> str:
        return self.base_url

    @url.setter
    def url(self, value: str) -> None:
        self.base_url = value.rstrip("/")

    # -- HTTP -------------------------------------------------------------------------------------

    def app(self, request: Request) -> Response:
        """Answer one HTTP request (the SandboxServer calls this from its worker threads)."""
        response = self._answer(request)
        if response is not None:  # Date from the org's clock, as LastModifiedDate is
            response.headers.setdefault("Date", formatdate(self.clock.time(), usegmt=True))
        return response

    def _answer(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/__sandbox/"):
            return handle_control(self, request)
        too_long = _too_long(request)
        if too_long is not None:
            return too_long
        if path.rstrip("/") == "/services/oauth2/token":
            return self._token(request)
        if path.rstrip("/") == "/services/data" and request.method == "GET":
            versions = [
                {"label": release_label(v), "url": f"/services/data/v{v}", "version": v} for v in self.api_versions
            ]
            return _json(200, versions)
        match = _DATA_PATH.match(path)
        if match is None:
            return _json(404, ApiError(404, "NOT_FOUND", "The requested resource does not exist").body())
        return self._data(request, match.group(1), (match.group(2) or "").strip("/"))

    def _token(self, request: Request) -> Response:
        if request.method != "POST":
            return _json(400, {"error": "invalid_request", "error_description": "must use HTTP POST"})
        try:
            answer = self.accounts.token(
                body=request.body, authorization=request.header("Authorization"), base_url=self.base_url
            )
        except OAuthError as err:
            return _json(400, {"error": err.error, "error_description": err.description})
        return _json(200, answer)

    def _data(self, request: Request, version: str, resource: str) -> Response:
        session = self.accounts.session(request.header("Authorization"))
        if session is None:
            return _json(401, invalid_session().body(), {"WWW-Authenticate": "Token"})
        if version not in self.api_versions:
            return _json(404, ApiError(404, "NOT_FOUND", "The requested resource does not exist").body())
        allowed, used, limit = self.usage.record(endpoint_name(request.method, resource))
        limit_info = {"Sforce-Limit-Info": f"api-usage={used}/{limit}"}
        if not allowed:
            return _json(403, request_limit_exceeded().body(), limit_info)
        call = Call(
            method=request.method, version=version, resource=resource, query=request.query,
            headers=request.headers, user_id=session.user_id, raw_body=request.body,
        )  # fmt: skip
        with self.db.transaction() as conn:
            result = self.data.dispatch(conn, call, truncate_ms(self.clock.now()))
        return _encode(result, limit_info)

    # -- control (also served over HTTP under /__sandbox/) ----------------------------------------

    def register_client_credentials_app(self, *, consumer_key: str, consumer_secret: str, username: str) -> str:
        return self._with_verification(
            self.accounts.register_client_credentials_app(
                consumer_key=consumer_key, consumer_secret=consumer_secret, username=username
            )
        )

    def register_jwt_app(self, *, consumer_key: str, certificate_pem: str, username: str) -> str:
        user_id = self.accounts.register_jwt_app(
            consumer_key=consumer_key, certificate_pem=certificate_pem, username=username
        )
        return self._with_verification(user_id)

    def _with_verification(self, user_id: str) -> str:
        """Give a new API user its TwoFactorMethodsInfo row: email verified, as the README has the admin do
        (an org schema without that object has every user verified)."""
        methods = self.catalog.sobject("TwoFactorMethodsInfo")
        with self.db.transaction() as conn:
            if methods is not None and actions.verification_row(conn, self.store, self.catalog, user_id) is None:
                self.writer.create(conn, methods, {"UserId": user_id}, actor=ADMIN_USER_ID, admin=True)
        return user_id

    def set_email_verified(self, username: str, verified: bool) -> None:
        """Mark the user's email address verified or not (Setup → Users; the user clicks the link)."""
        with self.db.transaction() as conn:
            user_id = self.accounts.user_id(conn, username)
            row = actions.verification_row(conn, self.store, self.catalog, user_id)
            if row is None:
                raise KeyError(f"no API user {username}")
            self.writer.update(
                conn, self._sobject("TwoFactorMethodsInfo"), row, {"HasUserVerifiedEmailAddress": verified},
                actor=ADMIN_USER_ID, admin=True,
            )  # fmt: skip

    def set_partial_save(self, allowed: bool) -> None:
        """The org's InvocableActionSettings.isPartialSaveAllowed (a Metadata API setting)."""
        with self.db.transaction():
            self.emails.partial_save_allowed = allowed

    def set_activities(self, sobject: str, *, enabled: bool) -> None:
        """Turn an object's "Allow Activities" on or off, as an admin does in its Object Manager page."""
        name = self._sobject(sobject).name
        with self.db.transaction():
            (self.catalog.activities_off.discard if enabled else self.catalog.activities_off.add)(name)

    def add_validation_rule(self, rule: ValidationRule) -> None:
        """Add a validation rule, as an org's admin does: saves that break it are refused from then on."""
        with self.db.transaction():  # under the store's lock: a rule is never half seen by a save
            self.writer.validation_rules.append(rule)

    def set_feed_tracking(self, sobject: str, *, enabled: bool) -> None:
        """Turn an object's feed tracking on or off, as an admin does in Setup (Feed Tracking)."""
        name = self._sobject(sobject).name
        with self.db.transaction():
            (self.catalog.feeds_off.discard if enabled else self.catalog.feeds_off.add)(name)

    def set_view_encrypted_data(self, granted: bool) -> None:
        """Grant or take away the API user's View Encrypted Data permission."""
        with self.db.transaction():
            self.catalog.view_encrypted_data = granted

    def clear_validation_rules(self) -> None:
        with self.db.transaction():
            self.writer.validation_rules.clear()

    def create_record(self, sobject: str, fields: dict[str, Any]) -> str:
        """Create a record as an admin in the UI would: no FLS, but types, required and unique apply."""
        with self.db.transaction() as conn:
            return self.writer.create(conn, self._sobject(sobject), fields, actor=ADMIN_USER_ID, admin=True).id

    def update_record(
        self, sobject: str, record_id: str, fields: dict[str, Any], *, transaction_seconds: float = 0
    ) -> None:
        """Save as an admin would. `transaction_seconds`: how long the save's transaction ran before
        it committed now (automation in a busy org), so its stamp is that much older than its commit."""
        began = self.clock.now() - timedelta(seconds=transaction_seconds) if transaction_seconds else None
        with self.db.transaction() as conn:
            self.writer.update(
                conn, self._sobject(sobject), record_id, fields, actor=ADMIN_USER_ID, admin=True, began_at=began
            )

    def delete_record(self, sobject: str, record_id: str) -> None:
        with self.db.transaction() as conn:
            self.writer.delete(conn, self._sobject(sobject), record_id, actor=ADMIN_USER_ID)

    def get_record(self, sobject: str, record_id: str) -> dict[str, Any]:
        """Every field of a record (deleted ones too), as the REST API would format them."""
        schema = self._sobject(sobject)
        names = ", ".join(f.name for f in self.catalog.fields(schema, admin=True))
        with self.db.transaction() as conn:
            return self.queries.admin_query(
                conn, f"SELECT {names} FROM {schema.name} WHERE Id = {quote_string(record_id)}",
                self.clock.now(), version=self.api_versions[-1], include_deleted=True,
            )["records"][0]  # fmt: skip

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """Run SOQL as the admin and return all rows in one result."""
        with self.db.transaction() as conn:
            return self.queries.admin_query(
                conn, soql, self.clock.now(), version=self.api_versions[-1], include_deleted=include_deleted
            )

    def outbox(self, *, dropped: bool = False) -> list[dict[str, Any]]:
        """The mail delivered (`dropped`: also the mail Salesforce dropped, marked so)."""
        with self.db.transaction() as conn:
            return actions.outbox(conn, dropped=dropped)

    def api_calls(self) -> dict[str, Any]:
        """{"total", "by_endpoint"} since the last reset; the daily usage is in `limits`."""
        return self.usage.counts()

    def reset_api_calls(self) -> None:
        self.usage.reset_counts()

    def expire_all_tokens(self) -> None:
        self.accounts.expire_all_tokens()

    def issued_tokens(self) -> list[str]:
        """Every access token the org issued, including those since expired or revoked."""
        return self.accounts.issued_tokens()

    def revoke_session(self, authorization: str | None) -> None:
        """End the one session named by an `Authorization` header (an injected INVALID_SESSION_ID)."""
        self.accounts.revoke(authorization)

    def set_field_access(
        self, sobject: str, field: str, *, readable: bool | None = None, createable: bool | None = None,
        updateable: bool | None = None,
    ) -> None:  # fmt: skip
        """Change the integration user's field-level security on one field."""
        changes = {"readable": readable, "createable": createable, "updateable": updateable}
        self.catalog.set_access(self._sobject(sobject), field, **{k: v for k, v in changes.items() if v is not None})

    def set_api_limit(
        self, *, daily_limit: int | None = None, used: int | None = None, single_email_max: int | None = None
    ) -> None:
        self.usage.set(daily_limit=daily_limit, used=used)
        if single_email_max is not None:  # 5,000 a day in production orgs, 50 in Developer and trial ones
            with self.db.transaction() as conn:
                actions.set_single_email_max(conn, single_email_max)

    def limits(self) -> dict[str, int]:
        used, limit = self.usage.current()
        return {"used": used, "daily_limit": limit}

    def _sobject(self, name: str) -> SObjectSchema:
        found = self.catalog.sobject(name)
        if found is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return found

    def close(self) -> None:
        self.db.close()


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status=status, body=dumps(payload).encode(), headers={"Content-Type": _JSON, **(headers or {})})


def _encode(result: Result, extra: dict[str, str]) -> Response:
    headers = {**extra, **result.headers}
    if result.payload is None or result.status in (204, 304):
        return Response(status=result.status, body=b"", headers=headers)
    return _json(result.status, result.payload, headers)

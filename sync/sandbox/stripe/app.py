"""The Stripe emulator: routing, authentication, idempotency and the request log around the handlers.

Every `/v1/...` request, even one refused for its key, is logged with the key's last four
characters only. `/__sandbox/...` is the control API (JSON, no Stripe auth) and the hosted
payment-link page; `control.py` serves it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..clock import SandboxClock
from ..db import Database
from ..httpserver import Request, Response
from . import account_object, api_versions, charge_limits, control, errors, handlers, ids, payment_handlers, store
from .actions import Actions
from .forms import FormError, decode_form

# The version stripe-python 16.1.0 pins; also this account's default version (events carry it).
DEFAULT_API_VERSION = "2026-10-28.endive"
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600  # keys "can be removed ... after they're at least 24 hours old"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    handler: Callable[[handlers.Call], dict[str, Any]]


def _route(method: str, template: str, handler: Callable[[handlers.Call], dict[str, Any]]) -> Route:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")
    return Route(method, pattern, template, handler)


class StripeEmulator(Actions):
    """A stateful stand-in for `api.stripe.com` that stripe-python talks to unchanged.

    Set `base_url` to the server's URL once it runs; payment-link URLs point at
    `{base_url}/__sandbox/pay/{token}` (the request's Host is used until then).
    """

    def __init__(
        self,
        *,
        clock: SandboxClock,
        db_path: str = ":memory:",
        api_version: str | None = None,
        default_currency: str | None = None,
        display_name: str = "crm-stripe-sync sandbox",
    ) -> None:
        """`api_version`: the account's default API version, in which its events are rendered
        (DEFAULT_API_VERSION, or what the state folder keeps); `default_currency`: the currency it
        settles (is paid out) in, "usd" unless kept. Both can change later (`set_account`)."""
        self.clock = clock
        self._permissions: dict[str, dict[str, str]] = {}  # restricted key -> resource -> level
        self.db = Database(db_path)
        self.db.executescript(store.SCHEMA)
        with self.db.transaction() as conn:
            store.migrate(conn)
        self.base_url: str | None = None
        # Test hook: called after an idempotency key is claimed and before the handler runs,
        # outside any transaction, so a test can hold one request in flight.
        self.on_execute: Callable[[Request], None] | None = None
        # Server errors that strike after a request began executing, saved under its key (add_saved_failure).
        self._saved_failures: list[SavedFailure] = []
        self._failures_lock = threading.Lock()
        with self.db.transaction() as conn:
            account_id = store.get_meta(conn, "account_id")
            if account_id is None:
                account_id = ids.new_id("acct")
                store.set_meta(conn, "account_id", account_id)
                store.set_meta(conn, "account_created", str(int(clock.time())))
            created = int(store.get_meta(conn, "account_created") or 0)
            kept_version = store.get_meta(conn, "api_version")
            kept_currency = store.get_meta(conn, "default_currency")
        self.account_id = account_id
        self._created = created
        self._display_name = display_name
        self.api_version = DEFAULT_API_VERSION
        self.default_currency = "usd"
        self.set_account(
            api_version=api_version or kept_version or DEFAULT_API_VERSION,
            default_currency=default_currency or kept_currency or "usd",
        )
        self._routes = [
            _route("GET", "/v1/account", lambda call: handlers.get_account(call, self._account)),
            _route("POST", "/v1/payment_links", handlers.create_payment_link),
            _route("GET", "/v1/payment_links", handlers.list_payment_links),
            _route("GET", "/v1/payment_links/{id}", handlers.retrieve_payment_link),
            _route("POST", "/v1/payment_links/{id}", handlers.update_payment_link),
            _route("GET", "/v1/payment_links/{id}/line_items", handlers.list_payment_link_line_items),
            _route("GET", "/v1/prices/{id}", handlers.retrieve_price),
            _route("GET", "/v1/products/{id}", handlers.retrieve_product),
            _route("GET", "/v1/events", handlers.list_events),
            _route("GET", "/v1/events/{id}", handlers.retrieve_event),
            _route("GET", "/v1/checkout/sessions", payment_handlers.list_checkout_sessions),
            _route("GET", "/v1/checkout/sessions/{id}", payment_handlers.retrieve_checkout_session),
            _route("POST", "/v1/checkout/sessions/{id}/expire", payment_handlers.expire_checkout_session),
            _route("GET", "/v1/payment_intents", payment_handlers.list_payment_intents),
            _route("GET", "/v1/payment_intents/{id}", payment_handlers.retrieve_payment_intent),
            _route("GET", "/v1/charges", payment_handlers.list_charges),
            _route("GET", "/v1/charges/{id}", payment_handlers.retrieve_charge),
            _route("POST", "/v1/refunds", payment_handlers.create_refund),
            _route("GET", "/v1/refunds", payment_handlers.list_refunds),
            _route("GET", "/v1/refunds/{id}", payment_handlers.retrieve_refund),
            _route("POST", "/v1/refunds/{id}", payment_handlers.update_refund),
            _route("GET", "/v1/disputes", payment_handlers.list_disputes),
            _route("GET", "/v1/disputes/{id}", payment_handlers.retrieve_dispute),
        ]

    # --- control API (Python) ------------------------------------------------------------------

    def set_account(self, *, api_version: str | None = None, default_currency: str | None = None) -> None:
        """Change the account as in the Dashboard: its default API version (Workbench: events
        recorded from now on are rendered in it) or its default currency, which it settles in
        (Stripe's minimum charge is checked after converting to it: charge_limits.py).

        Raises:
            ValueError: a version Stripe does not know, or a currency without a minimum charge.
        """
        if api_version is not None:
            try:
                api_versions.check(api_version)
            except errors.StripeError as exc:
                raise ValueError(exc.message) from None
        if default_currency is not None and default_currency.lower() not in charge_limits.MINIMUM_CHARGE:
            raise ValueError(f"{default_currency} is not a settlement currency with a minimum charge")
        with self.db.transaction() as conn:
            if api_version is not None:
                self.api_version = api_version
                store.set_meta(conn, "api_version", api_version)
            if default_currency is not None:
                self.default_currency = default_currency.lower()
                store.set_meta(conn, "default_currency", self.default_currency)
        self._account = account_object.account(
            account_id=self.account_id,
            created=self._created,
            display_name=self._display_name,
            country="US",
            currency=self.default_currency,
        )

    def account_settings(self) -> dict[str, str]:
        return {"api_version": self.api_version, "default_currency": self.default_currency}

    def add_api_key(self, key: str, *, permissions: dict[str, str] | None = None) -> str:
        """Register a secret or restricted key; its prefix decides the mode, which is returned.

        `permissions` (restricted keys only), as set in the Dashboard: resource ("payment_links",
        "checkout_sessions", "refunds", "events", "accounts_kyc_basic" for `GET /v1/account`, ...) ->
        "none" | "read" | "write"; a resource not
        named is "none". Write implies read. Kept in memory only, unlike the keys themselves.
        """
        mode = ids.mode_of_key(key)
        if mode is None:
            raise ValueError("API keys must start with sk_test_, rk_test_, sk_live_ or rk_live_")
        if permissions is not None:
            if not key.startswith("rk_"):
                raise ValueError("only restricted (rk_) keys have permissions")
            if set(permissions.values()) - {"none", "read", "write"}:
                raise ValueError("a permission is none, read or write")
            self._permissions[key] = dict(permissions)
        with self.db.transaction() as conn:
            store.add_key(conn, key, mode)
        return mode

    def _check_permission(self, key: str, method: str, template: str) -> None:
        """Refuse a restricted key a call its permissions do not allow (docs.stripe.com/keys/restricted-api-keys:
        GET needs read, POST and DELETE need write)."""
        granted = self._permissions.get(key)
        if granted is None:
            return
        parts = [p for p in template.split("/")[2:] if p and not p.startswith("{")]
        resource = "checkout_sessions" if parts[:1] == ["checkout"] else parts[0]
        if resource == "account":
            # Stripe names this permission for a restricted key reading its own account: "Having the
            # 'rak_accounts_kyc_basic_read' permission would allow this request to continue." (a 403
            # body quoted in a public test of a Stripe key probe).
            resource = "accounts_kyc_basic"
        needed = "read" if method == "GET" else "write"
        level = granted.get(resource, "none")
        if level == "write" or level == needed:
            return
        singular = resource[:-1] if resource.endswith("s") else resource
        masked = key[:8] + "*" * max(len(key) - 14, 4) + key[-6:]  # as in the quoted messages: last 6 shown
        raise errors.missing_permission(masked, self.account_id, f"rak_{singular}_{needed}")

    def revoke_api_key(self, key: str) -> bool:
        """Make a key unusable (later requests get 401); False if it was never registered."""
        with self.db.transaction() as conn:
            return store.revoke_key(conn, key)

    def objects(self, type: str, *, mode: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of one type (e.g. "payment_link"), newest first."""
        with self.db.transaction() as conn:
            return [s.body for s in store.list_objects(conn, type, mode=mode)]

    def get_object(self, object_id: str) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            stored = store.get_object(conn, object_id)
        return None if stored is None else stored.body

    def events(self, *, mode: str = "test") -> list[dict[str, Any]]:
        """Recorded events of a mode, newest first."""
        with self.db.transaction() as conn:
            return [event for _, event in store.list_events(conn, mode=mode)]

    def request_log(self) -> list[dict[str, Any]]:
        """Every API request so far, oldest first (method, path, template, params, status, ...)."""
        with self.db.transaction() as conn:
            return store.request_log(conn)

    def clear_request_log(self) -> None:
        with self.db.transaction() as conn:
            store.clear_request_log(conn)

    def request_counts(self) -> dict[tuple[str, str], int]:
        """Logged requests counted by (method, path template), e.g. ("POST", "/v1/payment_links")."""
        counts: dict[tuple[str, str], int] = {}
        for entry in self.request_log():
            key = (entry["method"], entry["template"])
            counts[key] = counts.get(key, 0) + 1
        return counts

    def payment_link_by_token(self, token: str) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            stored = store.find_by_internal(conn, "payment_link", "token", token)
        return None if stored is None else {**stored.body, "line_items": stored.internal["line_items"]}

    # --- HTTP ----------------------------------------------------------------------------------

    def app(self, request: Request) -> Response:
        """Answer one HTTP request (the `SandboxServer` app)."""
        if request.path.startswith("/__sandbox/"):
            return control.handle(self, request)
        return self._api(request)

    def _api(self, request: Request) -> Response:
        request_id = ids.new_id("req")
        now = self.clock.time()
        asked_version = request.header("Stripe-Version")
        version = asked_version if asked_version in api_versions.KNOWN else self.api_version
        route, path_args = self._match(request)
        idempotency_key = request.header("Idempotency-Key") if request.method == "POST" else None
        entry: dict[str, Any] = {
            "request_id": request_id,
            "at": now,
            "method": request.method,
            "path": request.path,
            "template": route.template if route else request.path,
            "params": {},
            "idempotency_key": idempotency_key,
            "mode": None,
            "key_last4": None,
            "replayed": False,
        }
        headers = {"Request-Id": request_id, "Stripe-Version": version, "Cache-Control": "no-cache, no-store"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        mode: str | None = None
        params: dict[str, Any] = {}
        form_error: FormError | None = None
        try:  # decoded first so that even a request refused for its key is logged with its params
            params = decode_form(request.raw_query)
            if request.method == "POST":
                params.update(decode_form(request.body))
        except FormError as exc:
            form_error = exc
        entry["params"] = params
        try:
            key = api_key_of(request)
            if key is None:
                raise errors.no_api_key()
            entry["key_last4"] = ids.last4(key)
            with self.db.transaction() as conn:
                mode = store.key_mode(conn, key)
            if mode is None:
                raise errors.invalid_api_key(ids.mask_key(key))
            entry["mode"] = mode
            if asked_version is not None:
                api_versions.check(asked_version)
            if form_error is not None:
                raise errors.invalid(str(form_error), param=form_error.param)
            if route is None:
                raise errors.unrecognized_url(request.method, request.path)
            self._check_permission(key, request.method, route.template)
            status, body, extra = self._run(request, route, path_args, params, mode, request_id, idempotency_key, now)
            entry["replayed"] = "Idempotent-Replayed" in extra
            headers.update(extra)
        except errors.StripeError as exc:
            status = exc.status
            log_url = None if mode is None else request_log_url(mode, request_id, now)
            body = json.dumps(exc.body(request_log_url=log_url), indent=2).encode()
            headers.update(exc.headers)
        entry["status"] = status
        with self.db.transaction() as conn:
            store.log_request(conn, entry)
        return Response(status=status, body=body, headers={"Content-Type": "application/json", **headers})

    def _match(self, request: Request) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method == request.method and (found := route.pattern.match(request.path)):
                return route, found.groupdict()
        return None, {}

    def _run(
        self,
        request: Request,
        route: Route,
        path_args: dict[str, str],
        params: dict[str, Any],
        mode: str,
        request_id: str,
        idempotency_key: str | None,
        now: float,
    ) -> tuple[int, bytes, dict[str, str]]:
        """Run a handler under Stripe's idempotency rules; returns (status, body, extra headers)."""
        endpoint = f"{request.method} {route.template.replace('{id}', path_args.get('id', ''))}"
        fingerprint = json.dumps(params, sort_keys=True)
        if idempotency_key is not None:
            replay = self._claim(mode, idempotency_key, endpoint, fingerprint, now)
            if replay is not None:
                return replay
        if self.on_execute is not None:
            self.on_execute(request)
        failure = self._saved_failure_for(request)
        try:
            if failure is not None and not failure.after_work:
                raise failure.error()
            with self.db.transaction() as conn:
                call = handlers.Call(
                    conn=conn,
                    mode=mode,
                    params=params,
                    path_args=path_args,
                    now=int(now),
                    request_id=request_id,
                    idempotency_key=idempotency_key,
                    account_id=self.account_id,
                    account_api_version=self.api_version,
                    link_url=self._link_url(request),
                    base_url=self.base_for(request),
                    settlement_currency=self.default_currency,
                )
                status, body = 200, json.dumps(route.handler(call), indent=2).encode()
            if failure is not None:  # the work is done and kept; the answer is a 500, saved as such
                raise failure.error()
        except errors.StripeError as exc:
            if idempotency_key is not None:
                with self.db.transaction() as conn:
                    if exc.after_execution_began:
                        log_url = request_log_url(mode, request_id, now)
                        saved = json.dumps(exc.body(request_log_url=log_url), indent=2).encode()
                        store.finish_idempotency_key(
                            conn,
                            mode=mode,
                            key=idempotency_key,
                            status=exc.status,
                            body=saved,
                            request_id=request_id,
                        )
                    else:  # validation failed: nothing is saved, so a retry with the same key runs again
                        store.release_idempotency_key(conn, mode=mode, key=idempotency_key)
            raise
        if idempotency_key is not None:
            with self.db.transaction() as conn:
                store.finish_idempotency_key(
                    conn, mode=mode, key=idempotency_key, status=status, body=body, request_id=request_id
                )
        return status, body, {}

    def _claim(
        self, mode: str, key: str, endpoint: str, fingerprint: str, now: float
    ) -> tuple[int, bytes, dict[str, str]] | None:
        """Claim `key` for this request, or return the saved answer to replay; raises on conflicts."""
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            # Wording not confirmed against the live API; the 255 limit is documented.
            raise errors.invalid(
                f"Invalid Idempotency-Key: must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters",
                param="Idempotency-Key",
            )
        with self.db.transaction() as conn:
            record = store.idempotency_record(conn, mode, key)
            if record is not None and now - record["first_used"] >= IDEMPOTENCY_WINDOW_SECONDS:
                record = None  # pruned: the key makes a new request
            if record is None:
                store.claim_idempotency_key(conn, mode=mode, key=key, endpoint=endpoint, params=fingerprint, now=now)
                return None
            if record["endpoint"] != endpoint:
                raise errors.idempotency_other_endpoint(key, record["endpoint"], endpoint)
            if record["params"] != fingerprint:
                raise errors.idempotency_mismatch(key)
            if record["status"] is None:
                raise errors.idempotency_in_flight(key)
            headers = {"Idempotent-Replayed": "true", "Original-Request": record["request_id"]}
            if record["status"] >= 500:  # replayed for 24 hours: a retry under this key never succeeds
                headers["Stripe-Should-Retry"] = "false"
            return record["status"], record["body"].encode(), headers

    def delay_events(self, seconds: int, *, count: int = 1_000_000) -> None:
        """The next `count` events show in the event list only `seconds` after they were created, at
        their place in it (behind events recorded after them), so a list walked by cursor past that
        place never reaches them. Stripe promises neither order nor promptness for events ("Stripe
        doesn't guarantee the delivery of events in the order that they're generated",
        docs.stripe.com/webhooks); the list's own lag is not documented, so the delay is a parameter."""
        with self.db.transaction() as conn:
            store.delay_events(conn, seconds=seconds, count=count)

    def add_saved_failure(self, path: str, *, method: str = "POST", times: int = 1, after_work: bool = False) -> None:
        """Fail the next `times` requests to `path` (a regular expression) with a 500 once they began
        executing, which Stripe saves under the request's idempotency key and replays for 24 hours
        ("results are only saved if an API endpoint started executing ... including 500 errors",
        docs.stripe.com/api/idempotent_requests). `after_work`: the object was made all the same."""
        with self._failures_lock:
            self._saved_failures.append(SavedFailure(re.compile(path), method.upper(), times, after_work))

    def _saved_failure_for(self, request: Request) -> SavedFailure | None:
        with self._failures_lock:
            for failure in self._saved_failures:
                if failure.times > 0 and failure.method == request.method and failure.path.search(request.path):
                    failure.times -= 1
                    return failure
        return None

    def _link_url(self, request: Request) -> Callable[[str], str]:
        base = self.base_for(request)
        return lambda token: f"{base.rstrip('/')}/__sandbox/pay/{token}"

    def base_for(self, request: Request | None) -> str:
        """The emulator's own URL: `base_url` once set, else the request's Host."""
        if self.base_url:
            return self.base_url
        host = request.header("Host") if request is not None else None
        return f"http://{host or '127.0.0.1'}"


@dataclass
class SavedFailure:
    """A 500 after execution began (see StripeEmulator.add_saved_failure)."""

    path: re.Pattern[str]
    method: str
    times: int
    after_work: bool

    def error(self) -> errors.StripeError:
        return dataclasses.replace(errors.api_error(should_retry=False), after_execution_began=True)


def api_key_of(request: Request) -> str | None:
    """The key from `Authorization: Bearer <key>` or Basic auth with the key as user (curl -u)."""
    header = (request.header("Authorization") or "").strip()
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None


def request_log_url(mode: str, request_id: str, now: float) -> str:
    section = "test/" if mode == "test" else ""
    return f"https://dashboard.stripe.com/{section}logs/{request_id}?t={int(now)}"

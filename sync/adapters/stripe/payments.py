"""The payments gateway over Stripe's API, through stripe-python's StripeClient.

The only module that imports stripe. The worker's own retry layer (sync.runtime.retry) is the only one:
the client is built with max_network_retries=0 so retries are not stacked, and every write carries
a deterministic idempotency key, so a retry at any level can never create a second link.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import requests
import stripe
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from stripe import _util as stripe_util

from sync.adapters.stripe import payment_state as outcomes
from sync.domain.actions import LinkSpec
from sync.domain.errors import (
    AmountTooSmall,
    IdempotencyConflict,
    PermanentError,
    RetryableError,
    StripeKeyRejected,
)
from sync.domain.models import (
    ActiveLinkStep,
    CreatedLink,
    EventBatch,
    StripeAccount,
    StripeEventRef,
    StripePaymentState,
    StripeRefund,
)
from sync.domain.refunds import REFUND_ID_KEY, RefundSpec
from sync.runtime.logs import log, mask_secrets
from sync.runtime.throttle import TokenBucket


def _silence_sdk_logging() -> None:
    """Keep stripe-python from logging requests and responses, whatever STRIPE_LOG says.

    Its `_util.log_info`/`log_debug` (stripe 16.1, stripe/_util.py) print to stderr when
    `_console_log_level()` is "info" or "debug": `stripe.log` if it is one of those, else
    `_util.STRIPE_LOG`, which is `os.environ.get("STRIPE_LOG")` read once at import; so clearing
    `stripe.log` alone is not enough. Each call also goes to `logging.getLogger("stripe")` at
    debug/info. Those lines carry URLs with object ids and, at debug, whole request and response
    bodies (customer emails, link URLs), which STYLE.md keeps out of the logs: the worker's own
    events say what happened.
    """
    stripe.log = None
    stripe_util.STRIPE_LOG = None
    logging.getLogger("stripe").setLevel(logging.WARNING)


_silence_sdk_logging()

INACTIVE_MESSAGE = "This payment link is no longer active. Please contact us if you still need to pay."
# Scanning for a Payment's links is a rare repair; bound it so it can never run away.
# The one Stripe API version the worker speaks, sent on every request (the shapes it reads, such as
# PaymentIntent.latest_charge and refund.* events, are this version's). It is the version
# stripe-python 16.1 is generated for; pyproject pins stripe to 16.x, and a test checks they agree.
STRIPE_API_VERSION = "2026-10-28.endive"
_MAX_LINKS_SCANNED = 1000
T = TypeVar("T")
SAVED_FAILURE_KEYS = 3  # keys tried for one link or refund after failures Stripe saved under them
LINK_REVISION_KEY = "crm_link_revision"  # on the link's metadata, beside the Payment's id
# How long every caller waits after a 429 that names no Retry-After (Stripe's usually does not).
RATE_LIMITED_PAUSE = 1.0


def link_params(spec: LinkSpec) -> dict[str, Any]:
    """The POST /v1/payment_links body for one single-use link with an inline price."""
    intent: dict[str, Any] = {"metadata": dict(spec.metadata), "description": spec.payment_description}
    if spec.statement_descriptor_suffix:
        intent["statement_descriptor_suffix"] = spec.statement_descriptor_suffix
    params: dict[str, Any] = {
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": spec.currency,
                    "unit_amount": spec.amount_minor,
                    "product_data": {"name": spec.product_name},
                },
            }
        ],
        # One completed payment deactivates the link (docs.stripe.com/payment-links/customize).
        "restrictions": {"completed_sessions": {"limit": 1}},
        # Stripe copies link metadata to Checkout Sessions only; the PaymentIntent needs its own.
        "metadata": dict(spec.metadata),
        "payment_intent_data": intent,
        # Cards settle at once; delayed methods would complete with payment_status=unpaid.
        "payment_method_types": ["card"],
        "inactive_message": INACTIVE_MESSAGE,
    }
    if spec.after_payment_message:
        params["after_completion"] = {
            "type": "hosted_confirmation",
            "hosted_confirmation": {"custom_message": spec.after_payment_message[:500]},
        }
    return params


def account_of(account: dict[str, Any]) -> StripeAccount:
    """The account's id and the prefix Stripe puts before a statement descriptor suffix.

    "Concatenated with the prefix (shortened descriptor) or statement descriptor that's set on the
    account" (OpenAPI spec, payment_intent.statement_descriptor_suffix); a statement descriptor used
    as the prefix is cut to 10 characters (docs.stripe.com/get-started/account/statement-descriptors).
    """
    settings = account.get("settings") or {}
    prefix = (settings.get("card_payments") or {}).get("statement_descriptor_prefix")
    if not prefix:
        prefix = ((settings.get("payments") or {}).get("statement_descriptor") or "")[:10] or None
    return StripeAccount(id=account["id"], descriptor_prefix=prefix)


def events_params(
    *, ending_before: str | None = None, starting_after: str | None = None, created_gte: int | None = None
) -> dict[str, Any]:
    """GET /v1/events: the types that matter, after a cursor or since a time."""
    params: dict[str, Any] = {"types": list(outcomes.EVENT_TYPES), "limit": outcomes.PAGE_SIZE}
    if ending_before is not None:
        params["ending_before"] = ending_before
    if starting_after is not None:
        params["starting_after"] = starting_after
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    return params


def sessions_params(link_id: str) -> dict[str, Any]:
    """GET /v1/checkout/sessions: a link's sessions with the PaymentIntent and its charge in one call."""
    return {"payment_link": link_id, "limit": 100, "expand": ["data.payment_intent.latest_charge"]}


def open_sessions_params(link_id: str) -> dict[str, Any]:
    """GET /v1/checkout/sessions: a link's sessions a customer could still complete."""
    return {"payment_link": link_id, "status": "open", "limit": 100}


def refund_params(spec: RefundSpec) -> dict[str, Any]:
    """The POST /v1/refunds body for one refund the CRM asked for."""
    params: dict[str, Any] = {"reason": spec.reason, "metadata": dict(spec.metadata)}
    if spec.charge_id:
        params["charge"] = spec.charge_id
    else:
        params["payment_intent"] = spec.payment_intent_id
    if spec.amount_minor is not None:
        params["amount"] = spec.amount_minor
    return params


def by_charge_params(charge_id: str) -> dict[str, Any]:
    """GET /v1/refunds and /v1/disputes of one charge."""
    return {"charge": charge_id, "limit": 100}


class _ThrottledHttp(stripe.RequestsClient):
    """Take a token from the shared bucket before every HTTP request (each page of a list too), and
    pause every caller when Stripe answers 429 anyway."""

    def __init__(self, *, bucket: TokenBucket | None, timeout: float, pool: int) -> None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 1))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        super().__init__(session=session, timeout=timeout)
        self._bucket = bucket

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:  # type: ignore[override]
        if self._bucket is not None:
            self._bucket.acquire()
        content, status, response_headers = super().request(method, url, headers, post_data)
        if status == 429 and self._bucket is not None:
            self._bucket.pause(_seconds(response_headers.get("Retry-After")) or RATE_LIMITED_PAUSE)
        return content, status, response_headers


class StripePayments:
    """PaymentsGateway for one Stripe key."""

    def __init__(
        self,
        *,
        key: SecretStr,
        api_base: str,
        timeout: float,
        bucket: TokenBucket | None = None,
        pool: int = 1,
        keys_made: KeysMade | None = None,
    ) -> None:
        http = _ThrottledHttp(bucket=bucket, timeout=timeout, pool=pool)
        self._keys_made = keys_made or KeysMade()
        self._client = stripe.StripeClient(
            key.get_secret_value(),
            base_addresses={"api": api_base.rstrip("/")},
            http_client=http,
            max_network_retries=0,
            stripe_version=STRIPE_API_VERSION,
        )

    def verify_key(self) -> StripeAccount:
        """Prove the key works with a call that needs the permission the worker needs most, then read
        the account it belongs to (a restricted key needs read access to it, too)."""
        _call(lambda: self._client.v1.payment_links.list(params={"limit": 1}))
        return account_of(_call(lambda: self._client.v1.accounts.retrieve_current()).to_dict())

    def create_payment_link(self, spec: LinkSpec) -> CreatedLink:
        """Create the link under the spec's idempotency key, so a retry never makes a second one.

        Stripe saves a 500 under the key once the request began executing and replays it for 24
        hours, whether or not the link was made. After such a failure the link this request would
        have made is looked for (an active link naming this Payment and revision) and taken if
        there; if not, the next key in a fixed sequence is used (`:2`, `:3`): the same sequence
        after a crash finds the same link, so there is never a second live one.
        """

        def create(key: str) -> CreatedLink:
            link = self._client.v1.payment_links.create(
                params=link_params(spec),  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )
            if _replayed(link.last_response):
                # Ours only if this process had Stripe's first answer: after a try whose answer was
                # lost, the link may as well be another worker's, who is emailing it (busy chaos).
                elsewhere = not self._keys_made.made(key)
            else:
                self._keys_made.add(key)
                elsewhere = False
            return CreatedLink(id=link.id, url=link.url, active=link.active, made_elsewhere=elsewhere)

        def made() -> CreatedLink | None:
            found = self._live_link_for(spec)  # made by this request or another's: not known
            return found.model_copy(update={"made_elsewhere": True}) if found else None

        return _past_saved_failures(spec.idempotency_key, create, made, what="payment_link")

    def _live_link_for(self, spec: LinkSpec) -> CreatedLink | None:
        """The active link made for this spec's Payment and revision, if any (read by metadata)."""
        wanted = {k: spec.metadata.get(k) for k in (outcomes.PAYMENT_ID_KEY, LINK_REVISION_KEY)}
        found = self._scan_links(lambda meta: all(meta.get(k) == v for k, v in wanted.items()))
        return found[0] if found else None

    def link(self, link_id: str) -> CreatedLink:
        """The payment link as Stripe holds it now: its URL, whether it is live, and whose it is."""
        params = {"expand": ["line_items"]}  # line_items is includable only (docs.stripe.com/api/payment-link/object)
        link = _call(lambda: self._client.v1.payment_links.retrieve(link_id, params=params)).to_dict()  # type: ignore[arg-type]
        return outcomes.read_link(link)

    def deactivate_link(self, link_id: str) -> None:
        """Deactivate the link, then expire its open Checkout Sessions, so no page of it can still be paid.

        A deactivated link opens no new session; a session a customer already opened is closed by
        expiring it ("customers loading the Checkout Session see a message saying the Checkout
        Session is expired": docs.stripe.com/api/checkout/sessions/expire).
        """

        def retire() -> None:
            self._client.v1.payment_links.update(
                link_id, params={"active": False, "inactive_message": INACTIVE_MESSAGE}
            )
            listed = self._client.v1.checkout.sessions.list(params=open_sessions_params(link_id))  # type: ignore[arg-type]
            for session in listed.auto_paging_iter():
                self._client.v1.checkout.sessions.expire(session.id)

        _call(retire)

    def note_emailed(self, link_id: str, recipient_mark: str) -> None:
        """Keep on the link that it was emailed to this recipient."""
        self._note_on_link(link_id, outcomes.EMAILED_TO_KEY, recipient_mark)

    def note_deleted_paid_said(self, link_id: str, charge_id: str) -> None:
        """Keep on the link that staff were told of this charge on a deleted Payment."""
        self._note_on_link(link_id, outcomes.DELETED_PAID_SAID_KEY, charge_id)

    def _note_on_link(self, link_id: str, key: str, value: str) -> None:
        params = {"metadata": {key: value}}  # Stripe merges metadata keys: the others stay
        _call(lambda: self._client.v1.payment_links.update(link_id, params=params))  # type: ignore[arg-type]

    def links_for_payment(self, payment_id: str) -> list[CreatedLink]:
        """Active links whose metadata names this Payment (Stripe cannot filter links by metadata)."""
        return self._scan_links(lambda meta: meta.get(outcomes.PAYMENT_ID_KEY) == payment_id)

    def _scan_links(self, wanted: Callable[[dict[str, Any]], bool]) -> list[CreatedLink]:
        """The active links whose metadata `wanted` accepts, newest first."""

        def scan() -> list[CreatedLink]:
            # Later pages are fetched while iterating, so the whole scan runs inside _call.
            page = self._client.v1.payment_links.list(params={"active": True, "limit": 100})
            found: list[CreatedLink] = []
            for scanned, link in enumerate(page.auto_paging_iter()):
                if scanned >= _MAX_LINKS_SCANNED:
                    break
                data = link.to_dict()
                if wanted(data.get("metadata") or {}):
                    owner = outcomes.link_owner(data)
                    found.append(CreatedLink(id=link.id, url=link.url, active=link.active, payment_id=owner))
            return found

        return _call(scan)

    def own_link(self, payment_id: str, *, session_id: str | None, intent_id: str | None) -> CreatedLink | None:
        """The Payment's own link, for a record whose link id names another's: found only through
        Stripe objects that name this Payment (None when none does).

        In turn: the link of the record's Checkout Session, of the record's PaymentIntent's sessions,
        or the one active link naming it. Either id may itself be an edit, so each session, and the
        link it leads to, must carry this Payment's id in its metadata.
        """
        for session in self._sessions_claimed(session_id, intent_id):
            link_id = outcomes.session_link(session, payment_id)
            if link_id:
                link = self.link(link_id)
                if link.payment_id == payment_id:
                    return link
        active = self.links_for_payment(payment_id)
        return self.link(active[0].id) if len(active) == 1 else None

    def _sessions_claimed(self, session_id: str | None, intent_id: str | None) -> Iterator[dict[str, Any]]:
        """The Checkout Sessions a record's ids lead to; an id this account does not know leads to none."""
        if session_id:
            try:
                found = _call(lambda: self._client.v1.checkout.sessions.retrieve(session_id))
            except PermanentError:
                found = None
            if found is not None:
                yield found.to_dict()
        if intent_id:
            params = {"payment_intent": intent_id, "limit": 10}
            try:
                listed = _call(lambda: self._client.v1.checkout.sessions.list(params=params))  # type: ignore[arg-type]
            except PermanentError:
                return
            yield from (session.to_dict() for session in listed.data)

    def active_links(self, after: str | None, *, most: int) -> ActiveLinkStep:
        """The worker's own active links (those whose metadata names a Payment) among at most `most`
        scanned, newest first, after the link `after` (from the newest without it).

        One step of a walk the caller resumes at `resume_after`, so no sweep pages every link of a
        busy account. A resume point Stripe no longer knows starts the walk again from the newest.
        """

        def scan(start: str | None) -> ActiveLinkStep:
            params: dict[str, Any] = {"active": True, "limit": min(100, most)}
            if start is not None:
                params["starting_after"] = start
            owned: list[tuple[str, CreatedLink]] = []
            # Later pages are fetched while iterating; it stops at `most` before fetching one more.
            for scanned, link in enumerate(self._client.v1.payment_links.list(params=params).auto_paging_iter(), 1):
                owner = outcomes.link_owner(link.to_dict())
                if owner:
                    owned.append((owner, CreatedLink(id=link.id, url=link.url, active=True, payment_id=owner)))
                if scanned >= most:
                    return ActiveLinkStep(owned=tuple(owned), resume_after=link.id)
            return ActiveLinkStep(owned=tuple(owned), resume_after=None)

        def step() -> ActiveLinkStep:
            try:
                return scan(after)
            except stripe.InvalidRequestError as exc:
                unknown = exc.code == "resource_missing" or getattr(exc, "param", None) == "starting_after"
                if after is None or not unknown:
                    raise
                return scan(None)

        return _call(step)

    # --- outcomes --------------------------------------------------------------------------------
    def events_after(self, cursor: str, *, max_events: int) -> EventBatch:
        """Events of interest after `cursor`, oldest first, at most `max_events`.

        A cursor Stripe no longer knows (past the 30-day retention, or never valid) gives an empty
        batch with `cursor_lost` set: the caller walks the window newest first (`events_before`) and
        sweeps, rather than this listing the whole window before handing any of it on.
        """
        try:
            return _call(lambda: outcomes.oldest_first_batch(self._events_newer_than(cursor), max_events=max_events))
        except _CursorUnknown:
            return EventBatch(events=(), newest_id=None, cursor_lost=True)

    def events_before(self, older_than: str | None, *, since: datetime, max_events: int) -> EventBatch:
        """Events of interest created since `since`, newest first, older than `older_than` (from the
        newest without one). An `older_than` gone past retention meanwhile ends the window."""
        try:
            return _call(
                lambda: outcomes.newest_first_batch(self._events_older_than(older_than, since), max_events=max_events)
            )
        except _CursorUnknown:
            return EventBatch(events=(), newest_id=None)

    def _events_older_than(self, cursor: str | None, since: datetime) -> Iterator[StripeEventRef]:
        params = events_params(created_gte=int(since.timestamp()), starting_after=cursor)
        try:
            page = self._client.v1.events.list(params=params)  # type: ignore[arg-type]
        except stripe.InvalidRequestError as exc:
            if cursor and (exc.code == "resource_missing" or getattr(exc, "param", None) == "starting_after"):
                raise _CursorUnknown from None
            raise
        # Without ending_before the SDK walks `starting_after`, towards older pages, a page at a time.
        for event in page.auto_paging_iter():
            yield outcomes.event_ref(event.to_dict())

    def _events_newer_than(self, cursor: str) -> Iterator[StripeEventRef]:
        try:
            page = self._client.v1.events.list(params=events_params(ending_before=cursor))  # type: ignore[arg-type]
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing" or getattr(exc, "param", None) == "ending_before":
                raise _CursorUnknown from None
            raise
        # With ending_before the SDK walks towards newer pages and yields oldest first.
        for event in page.auto_paging_iter():
            yield outcomes.event_ref(event.to_dict())

    def payment_state(self, link_id: str, *, with_refunds: bool) -> StripePaymentState:
        """What Stripe holds for one link now: its sessions, the paid charge, refunds and disputes."""

        def read() -> StripePaymentState:
            listed = self._client.v1.checkout.sessions.list(params=sessions_params(link_id))  # type: ignore[arg-type]
            sessions = [s.to_dict() for s in listed.auto_paging_iter()]
            charge = outcomes.paid_charge(sessions)
            refunds = None
            disputes: list[dict[str, Any]] = []
            if charge is not None:
                if with_refunds or charge.get("amount_refunded"):
                    found = self._client.v1.refunds.list(params=by_charge_params(charge["id"]))
                    refunds = [r.to_dict() for r in found.auto_paging_iter()]
                if charge.get("disputed"):
                    found = self._client.v1.disputes.list(params=by_charge_params(charge["id"]))
                    disputes = [d.to_dict() for d in found.auto_paging_iter()]
            return outcomes.payment_state(link_id, sessions, refunds=refunds, disputes=disputes)

        return _call(read)

    def payment_id_of_intent(self, payment_intent_id: str) -> str | None:
        """The CRM Payment id a PaymentIntent carries in its metadata; None for foreign payments."""
        intent = _call(lambda: self._client.v1.payment_intents.retrieve(payment_intent_id))
        metadata = intent.metadata.to_dict() if intent.metadata else {}
        return metadata.get(outcomes.PAYMENT_ID_KEY) or None

    # --- refunds the CRM asks for ----------------------------------------------------------------
    def create_refund(self, spec: RefundSpec) -> StripeRefund:
        """Create the refund under the spec's idempotency key; after a failure Stripe saved under it,
        take the refund made for this Refund record if there is one, else go on under the next key
        of the same fixed sequence as links (never a second refund)."""

        def create(key: str) -> StripeRefund:
            refund = self._client.v1.refunds.create(
                params=refund_params(spec),  # type: ignore[arg-type]
                options={"idempotency_key": key},
            )
            return outcomes.refund(refund.to_dict())

        made = functools.partial(self._refund_made_for, spec)
        return _past_saved_failures(spec.idempotency_key, create, made, what="refund")

    def _refund_made_for(self, spec: RefundSpec) -> StripeRefund | None:
        """The refund already made for this spec's Refund record (by metadata), if any."""
        record_id = spec.metadata.get(REFUND_ID_KEY)
        by = {"charge": spec.charge_id} if spec.charge_id else {"payment_intent": spec.payment_intent_id}

        def find() -> StripeRefund | None:
            listed = self._client.v1.refunds.list(params={**by, "limit": 100})  # type: ignore[arg-type]
            for refund in listed.auto_paging_iter():
                data = refund.to_dict()
                if record_id and (data.get("metadata") or {}).get(REFUND_ID_KEY) == record_id:
                    return outcomes.refund(data)
            return None

        return _call(find)


class _CursorUnknown(Exception):
    """Stripe does not know the saved events cursor."""


def _call(fn: Any) -> Any:
    try:
        return fn()
    except stripe.StripeError as exc:
        raise _translate(exc) from None


def _translate(exc: stripe.StripeError) -> Exception:
    """Map a Stripe error to what the worker should do about it. Never echo the key."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code") or exc.code or ""
    message = mask_secrets(str(error.get("message") or exc.user_message or type(exc).__name__))[:500]
    status = exc.http_status
    # Stripe support finds a request by its Request-Id; every error the worker logs or writes keeps it.
    rid = f" [Stripe Request-Id {exc.request_id}]" if _REQUEST_ID.fullmatch(exc.request_id or "") else ""
    if isinstance(exc, stripe.AuthenticationError):
        return StripeKeyRejected(f"Stripe rejected the API key{rid}")
    if isinstance(exc, stripe.PermissionError):
        # Stripe's sentence names the key, the account and the permission; the permission is what counts.
        wanted = _PERMISSION.search(message)
        said = f"Stripe asks for the {wanted.group(1)} permission" if wanted else message[:200]
        return StripeKeyRejected(f"{said}{rid}", missing_permission=True)
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyConflict(f"{message}{rid}")
    if isinstance(exc, (stripe.RateLimitError, stripe.APIConnectionError)):
        return RetryableError(f"Stripe: {code or type(exc).__name__}{rid}", retry_after=_retry_after(exc))
    if status is not None and (status >= 500 or status in (409, 429)):
        return RetryableError(
            f"Stripe HTTP {status}: {code or message}{rid}", retry_after=_retry_after(exc), retry_now=_may_retry(exc)
        )
    if status is None:
        return RetryableError(f"Stripe: {type(exc).__name__}{rid}")
    if code == "amount_too_small":  # docs.stripe.com/error-codes/amount-too-small
        return AmountTooSmall(f"{message} ({code}){rid}")
    return PermanentError(f"{message}" + (f" ({code})" if code else "") + rid)


_REQUEST_ID = re.compile(r"req_[A-Za-z0-9]{1,64}")
_PERMISSION = re.compile(r"Having the '(rak_[a-z_]+)' permission")


def _past_saved_failures(key: str, create: Callable[[str], T], made: Callable[[], T | None], *, what: str) -> T:
    """`create(key)`; after a failure Stripe saved under the key, the object that request may have
    made (`made()`), else `create` under the next key of a fixed sequence (`key:2`, `key:3`)."""
    for attempt in range(1, SAVED_FAILURE_KEYS + 1):
        attempt_key = key if attempt == 1 else f"{key}:{attempt}"
        try:
            return create(attempt_key)
        except stripe.StripeError as exc:
            if not _saved_failure(exc):
                raise _translate(exc) from None
            log.warning(f"{what}.saved_failure", idempotency_key=attempt_key, request_id=exc.request_id)
        found = made()
        if found is not None:
            return found
    # Replayed for 24 hours: retrying now would replay them again; the next cycle looks afresh.
    raise RetryableError(f"Stripe saved a failure under each of {SAVED_FAILURE_KEYS} keys for this {what}",
                         retry_now=False)  # fmt: skip


class KeysMade:
    """The link idempotency keys under which this process had Stripe's first answer (the link was
    made by its request), the latest `keep` of them.

    A replay under such a key is its own link (its write-back failed, say); a replay under any other
    is a link it cannot call its own, even after a try of its own whose answer was lost: that try
    may have come second. Kept across key rotations (bootstrap).
    """

    def __init__(self, keep: int = 50_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        """Keep that this process's request under `key` made its link."""
        with self._lock:
            self._keys[key] = None
            self._keys.move_to_end(key)
            if len(self._keys) > self._keep:
                self._keys.popitem(last=False)

    def made(self, key: str) -> bool:
        """Whether this process's request under `key` made its link (among the latest kept)."""
        with self._lock:
            return key in self._keys


def _replayed(response: Any) -> bool:
    """Stripe marks an answer it replays under an idempotency key with `Idempotent-Replayed: true`
    (docs.stripe.com/error-low-level#sending-idempotency-keys)."""
    headers = getattr(response, "headers", None) or {}
    return any(k.lower() == "idempotent-replayed" and str(v).lower() == "true" for k, v in headers.items())


def _may_retry(exc: stripe.StripeError) -> bool:
    """Stripe-Should-Retry: false says a retry would fail the same way (docs.stripe.com/error-low-level,
    "Retrying requests"); without the header the status decides."""
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    return headers.get("stripe-should-retry", "").lower() != "false"


def _saved_failure(exc: stripe.StripeError) -> bool:
    """A server error Stripe saved under the idempotency key: replayed for 24 hours, whatever was made."""
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    replayed = headers.get("idempotent-replayed", "").lower() == "true"
    return (exc.http_status or 0) >= 500 and (replayed or not _may_retry(exc))


def _retry_after(exc: stripe.StripeError) -> float | None:
    headers = exc.headers or {}
    return _seconds(headers.get("Retry-After") or headers.get("retry-after"))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None

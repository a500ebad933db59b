"""The CRM gateway over Salesforce's REST API, through simple-salesforce.

The only module that imports simple_salesforce. It owns session expiry (re-login once and re-send
with the same headers: simple-salesforce's own refresh drops them) and translates every error into
the worker's classes. Reads are batched into one composite call; writes into sObject Collections,
Composite Graph and one emailSimple call per batch.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime as http_date
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

import requests
import simple_salesforce
from requests.adapters import HTTPAdapter
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from sync.adapters.salesforce import queries as soql
from sync.adapters.salesforce.auth import AccessToken, fetch_token
from sync.adapters.salesforce.records import SERVED_AT, RecordCodec, get_path, unreadable_problem
from sync.config.mapping import Mapping
from sync.config.settings import Settings
from sync.domain.actions import CreatePayment
from sync.domain.changes import PaymentChange
from sync.domain.errors import ConfigError, PermanentError, RetryableError
from sync.domain.faults import RecordFault
from sync.domain.models import CrmSnapshot, Payment, PaymentStatus, ProjectRequest, RefundStatus, StripeSetup
from sync.domain.stripe_results import PAID_FAMILY, OutcomeWrite
from sync.ports import (
    ChatterPost,
    DeletedPayment,
    LoggedEmail,
    OutboundEmail,
    PaymentUpdate,
    RefundUpdate,
    WriteResult,
)
from sync.runtime.api_budget import ApiBudget
from sync.runtime.logs import log, mask_secrets

T = TypeVar("T")

COLLECTION_LIMIT = 200  # sObject Collections: at most 200 records a call
GRAPH_LIMIT = 75  # Composite Graph: at most 75 graphs a call
GRAPH_NODES_LIMIT = 500  # ... and 500 nodes in all
INTAKE_NODES = 2  # a request's graph nodes: its Payment created, its Project marked done
EMAIL_INPUTS_LIMIT = 100
# Composite: 25 subrequests a call, of which at most 5 queries (developer.salesforce.com/docs/atlas.
# en-us.api_rest.meta/api_rest/resources_composite_composite.htm, "Composite Request Body").
COMPOSITE_QUERIES_LIMIT = 5
EMAIL_QUOTA_TTL_SECONDS = 60.0  # how long the single emails left today, once read, are trusted
# An id list goes in a GET query's URL, 28 bytes an id once encoded: 200 keep the longest (Payment
# fields, or PaymentIntent ids) near 7,500 bytes, within the 16,384 bytes of URI and headers an org
# accepts (414 or 431 past them; Salesforce Help 000386264) and far below SOQL's 100,000 characters.
IDS_PER_QUERY = 200
_RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"})
_Outcome = tuple[int, "OutcomeWrite", tuple["ChatterPost", ...]]  # (index in the call's input, write, posts)


@dataclass(frozen=True)
class CallTimeouts:
    """How long to wait for the org's answer, by the work a call asks of it.

    A read is quick, but each record saved runs through the org's validation rules, triggers and
    Flows, which in an org with years of automation take far longer than a read, so a write's
    timeout grows with the records in it. An answer that never came is not a refusal: graphs are
    conditional (If-Unmodified-Since), so one sent again after it was in fact done rolls back
    harmlessly; emails are checked in the org's email log before any is sent again.
    """

    # A read (a query page, a describe, a single-record PATCH) waits SALESFORCE_TIMEOUT_SECONDS, the
    # transport's default (_SalesforceTransport); the writes below wait longer.
    collection: float  # up to 200 records in one sObject Collections call
    per_graph_node: float  # each node of a Composite Graph call (up to 500 a call)
    email: float  # an emailSimple call of up to 100 emails, each logged as an activity

    @classmethod
    def scaled_from(cls, read_seconds: float) -> CallTimeouts:
        return cls(collection=read_seconds * 3, per_graph_node=0.25, email=read_seconds * 3)

    def graph(self, nodes: int) -> float:
        return self.collection + self.per_graph_node * nodes


class _SalesforceTransport(HTTPAdapter):
    """Give every request a timeout and the configured CA bundle.

    simple-salesforce's sObject methods take no timeout and requests passes timeout=None
    explicitly, so a default must be filled in here. `Session.verify` loses to a
    REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE environment variable (psf/requests#3829), so an explicit
    SALESFORCE_CA_BUNDLE is applied at the transport, where it always wins.
    """

    def __init__(self, *, timeout: float, ca_bundle: str | None) -> None:
        super().__init__(pool_maxsize=8)
        self._timeout = timeout
        self._ca_bundle = ca_bundle

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        if self._ca_bundle is not None:
            kwargs["verify"] = self._ca_bundle
        return super().send(request, **kwargs)


def build_http_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    ca_bundle = str(settings.salesforce_ca_bundle) if settings.salesforce_ca_bundle else None
    transport = _SalesforceTransport(timeout=settings.salesforce_timeout_seconds, ca_bundle=ca_bundle)
    session.mount("https://", transport)
    session.mount("http://", transport)
    return session


class SalesforceCrm:
    """CrmGateway for one org."""

    def __init__(
        self,
        *,
        settings: Settings,
        mapping: Mapping,
        http: requests.Session | None = None,
        on_server_time: Callable[[datetime], None] | None = None,
        budget: ApiBudget | None = None,
    ) -> None:
        self._settings = settings
        self._m = mapping
        self._codec = RecordCodec(mapping)
        self._http = http or build_http_session(settings)
        self._timeouts = CallTimeouts.scaled_from(settings.salesforce_timeout_seconds)
        # The single emails left today, as last read from the org's limits (see _emails_allowed).
        self._email_quota: int | None = None
        self._email_quota_read_at: float | None = None
        self._token: AccessToken | None = None
        self._post_refusal_said = False  # a refused staff post is logged as a warning once a process
        self._sf: simple_salesforce.Salesforce | None = None
        # The org's clock when it served this thread's last answer (its Date header): the worker's
        # CRM cycle and its Stripe events loop call the org from threads of their own.
        self._local = threading.local()
        self._on_server_time = on_server_time
        self.budget = budget or ApiBudget(settings.salesforce_api_share)
        self._http.hooks["response"].append(self._note_server_time)
        # Payments read but not decodable, by id, until the runner takes them (see take_unreadable).
        self._unreadable: dict[str, RecordFault] = {}

    @property
    def _served_at(self) -> datetime | None:
        return getattr(self._local, "served_at", None)

    @_served_at.setter
    def _served_at(self, value: datetime | None) -> None:
        self._local.served_at = value

    def _note_server_time(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.budget.observe(response.headers.get("Sforce-Limit-Info"))
        date = response.headers.get("Date")
        try:
            self._served_at = parsedate_to_datetime(date) if date else None
        except (TypeError, ValueError):
            self._served_at = None
        if self._served_at is not None and self._on_server_time is not None:
            self._on_server_time(self._served_at)
        return response

    # --- session ---------------------------------------------------------------------------------
    def connect(self) -> None:
        """Log in now, so that bad credentials stop the worker at start-up (ConfigError)."""
        self._login()

    def _login(self) -> simple_salesforce.Salesforce:
        self._token = fetch_token(self._settings, self._http)
        self._sf = simple_salesforce.Salesforce(
            instance_url=self._token.instance_url,
            session_id=self._token.value,
            session=self._http,
            version=self._settings.salesforce_api_version,
            parse_float=Decimal,
            object_pairs_hook=dict,
        )
        log.info("salesforce.logged_in", instance_url=self._token.instance_url)
        return self._sf

    def _login_again(self) -> simple_salesforce.Salesforce:
        """Log in again mid-run. Refused once the worker has started well (clock skew on a JWT, a
        token revoked, an app edited in Setup), it is a passing fault, retried with backoff and
        logged, not a configuration error that would stop the process; at start-up, it still is."""
        try:
            return self._login()
        except ConfigError as exc:
            log.warning("salesforce.relogin_refused", error=str(exc))
            raise RetryableError(f"{exc} (logging in again mid-run; retried)") from None

    def _call(self, fn: Callable[[simple_salesforce.Salesforce], T], *, resend: bool = True) -> T:
        """Run one API call; on an expired session log in again once and re-send it unchanged
        (`resend` False: log in again, but leave the call to the caller, who checks first)."""
        sf = self._sf or self._login()
        try:
            return fn(sf)
        except SalesforceExpiredSession as exc:
            log.info("salesforce.session_expired")
            if not resend:
                self._login_again()
                raise RetryableError("Salesforce session expired during the call") from exc
        except Exception as exc:
            raise _translate(exc) from exc
        sf = self._login_again()
        try:
            return fn(sf)
        except Exception as exc:
            raise _translate(exc) from exc

    @property
    def _data_path(self) -> str:
        return f"/services/data/v{self._settings.salesforce_api_version}/"

    # --- reads -----------------------------------------------------------------------------------
    def read_snapshot(
        self, *, reminders_due_by: datetime | None = None, changed_after: tuple[datetime, str] | None = None
    ) -> CrmSnapshot:
        """Read in one composite call: the Setup, flagged Projects, Requested Payments, Payments with a
        staff action waiting and Payments with a refund asked for.

        `reminders_due_by`: include Payments whose reminder is due by then (None: reminders are off).
        `changed_after`: (LastModifiedDate, Id) after which awaiting Payments are read again to see
        an edited amount or description; None reads them all from the start.
        """
        limit = self._settings.batch_size
        awaiting = [self._codec.status_word(s) for s in (PaymentStatus.LINK_SENT, PaymentStatus.PAYMENT_FAILED)]
        window = None
        if changed_after is not None:
            window = (self._codec.wire_value(changed_after[0]), changed_after[1])
        queries = {
            "setups": soql.active_setups(self._m),
            "projects": soql.flagged_projects(self._m, limit=limit, signing_stage=self._settings.deposit_on_stage),
            "payments": soql.payments_in_status(
                self._m, status=self._codec.status_word(PaymentStatus.REQUESTED), limit=limit
            ),
            "actions": soql.payments_needing_action(
                self._m,
                awaiting=awaiting,
                canceled=self._codec.status_word(PaymentStatus.CANCELED),
                paid=[self._codec.status_word(s) for s in sorted(PAID_FAMILY, key=lambda s: s.value)],
                reminders_due_by=self._codec.wire_value(reminders_due_by) if reminders_due_by else None,
                changed_after=window,
                others_than=self._token.user_id if self._token is not None else None,
                limit=limit,
            ),
            "refunds": soql.payments_with_refund_requests(
                self._m, requested=self._codec.refund_status_word(RefundStatus.REQUESTED), limit=limit
            ),
        }
        results = self._composite_queries(queries)
        actions = results["actions"]
        return CrmSnapshot(
            setups=tuple(self._codec.setup(r) for r in results["setups"]),
            project_requests=tuple(self._project_request(r) for r in results["projects"]),
            requested_payments=self._payments(results["payments"]),
            action_payments=self._payments(actions),
            refund_payments=self._payments(results["refunds"]),
            read_at=self._served_at,
            # Where the awaiting window stopped, counting rows that could not be decoded.
            action_rows=len(actions),
            action_last=(self._codec.last_modified(actions[-1]), actions[-1]["Id"]) if actions else None,
        )

    def read_requested_payments(self) -> tuple[Payment, ...]:
        status = self._codec.status_word(PaymentStatus.REQUESTED)
        query = soql.payments_in_status(self._m, status=status, limit=self._settings.batch_size)
        return self._payments(self.query_all(query))

    def read_payments(self, payment_ids: list[str]) -> tuple[Payment, ...]:
        """The Payments with these ids (with their Refunds); ids that no longer exist are left out."""
        found: list[Payment] = []
        payment_ids = [i for i in payment_ids if soql.is_record_id(i)]
        for start in range(0, len(payment_ids), IDS_PER_QUERY):
            query = soql.payments_by_id(self._m, payment_ids[start : start + IDS_PER_QUERY])
            found.extend(self._payments(self.query_all(query)))
        return tuple(found)

    def deleted_payments(self, payment_ids: list[str]) -> tuple[DeletedPayment, ...]:
        """Of these ids, the Payments in the org's recycle bin. queryAll, as the query resource leaves
        deleted records out (developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/
        resources_queryall.htm); simple-salesforce sends it for `include_deleted=True`."""
        p = self._m.payment.fields
        found: list[DeletedPayment] = []
        payment_ids = [i for i in payment_ids if soql.is_record_id(i)]
        for start in range(0, len(payment_ids), IDS_PER_QUERY):
            query = soql.deleted_payments_by_id(self._m, payment_ids[start : start + IDS_PER_QUERY])
            page = self._call(lambda sf, q=query: sf.query(q, include_deleted=True))
            for rec in page.get("records", []):
                found.append(
                    DeletedPayment(
                        id=rec["Id"], project_id=rec.get(p.project), payment_link_id=rec.get(p.payment_link_id)
                    )
                )
        return tuple(found)

    def post(self, posts: list[ChatterPost]) -> list[WriteResult]:
        """Create FeedItems with allOrNone false (composite/sobjects POST), 200 a call."""
        results: list[WriteResult] = []
        for start in range(0, len(posts), COLLECTION_LIMIT):
            chunk = posts[start : start + COLLECTION_LIMIT]
            records = [{"attributes": {"type": "FeedItem"}, "ParentId": x.project_id, "Body": x.body} for x in chunk]
            body = {"allOrNone": False, "records": records}
            response = self._call(
                lambda sf, b=body: sf.restful(
                    "composite/sobjects", method="POST", json=b, timeout=self._timeouts.collection
                )
            )
            for post, saved in zip(chunk, response, strict=True):
                results.append(_save_result(saved.get("id") or post.project_id, saved))
        return results

    def payment_ids_for_intents(self, intent_ids: list[str]) -> dict[str, str]:
        """PaymentIntent id -> Payment id, for the intents already recorded on a Payment."""
        field = self._m.payment.fields.payment_intent_id
        found: dict[str, str] = {}
        for start in range(0, len(intent_ids), IDS_PER_QUERY):
            query = soql.payment_ids_by_intent(self._m, intent_ids[start : start + IDS_PER_QUERY])
            for rec in self.query_all(query):
                found[str(get_path(rec, field))] = rec["Id"]
        return found

    def iter_payments_to_reconcile(self, statuses: list[PaymentStatus]) -> Iterator[Payment]:
        """Payments with a link in these statuses, then those with a Refund still pending, page by page."""
        words = [self._codec.status_word(s) for s in statuses]
        seen: set[str] = set()
        for rec in self.query_all(soql.payments_to_reconcile(self._m, statuses=words)):
            seen.add(rec["Id"])
            payment = self._payment(rec)
            if payment is not None:
                yield payment
        pending = [self._codec.refund_status_word(RefundStatus.PENDING)]
        payment_field = self._m.refund.fields.payment
        more = {str(get_path(r, payment_field)) for r in self.query_all(soql.payments_with_refunds_in(
            self._m, refund_statuses=pending))} - seen  # fmt: skip
        yield from self.read_payments(sorted(more))

    def _payments(self, records: Iterable[dict[str, Any]]) -> tuple[Payment, ...]:
        return tuple(p for p in map(self._payment, records) if p is not None)

    def _payment(self, rec: dict[str, Any]) -> Payment | None:
        """The Payment, or None when a field cannot be decoded: it is kept aside for take_unreadable."""
        try:
            payment = self._codec.payment(rec)
        except Exception as exc:  # one record's value never stops the others (invariant 6)
            self._set_aside(rec, exc)
            return None
        self._unreadable.pop(payment.id, None)
        return payment

    def _set_aside(self, rec: dict[str, Any], exc: Exception) -> None:
        problem = unreadable_problem(exc)
        fault = RecordFault(
            record_id=rec["Id"], sobject="payment", problem=problem, sync_error=self._codec.sync_error_of(rec)
        )
        self._unreadable[fault.record_id] = fault
        log.warning("payment.unreadable", payment_id=fault.record_id, error_type=type(exc).__name__)

    def _project_request(self, rec: dict[str, Any]) -> ProjectRequest:
        """The flagged Project; one a field of which cannot be decoded comes with the sentence saying which."""
        try:
            return self._codec.project_request(rec)
        except Exception as exc:  # one record's value never stops the others (invariant 6)
            log.warning("project.unreadable", project_id=rec["Id"], error_type=type(exc).__name__)
            return self._codec.unreadable_project(rec, unreadable_problem(exc))

    def take_unreadable(self) -> list[RecordFault]:
        """The Payments read since the last call whose fields could not be decoded, each once."""
        faults, self._unreadable = list(self._unreadable.values()), {}
        return faults

    def read_active_setups(self) -> tuple[StripeSetup, ...]:
        return tuple(self._codec.setup(r) for r in self.query_all(soql.active_setups(self._m)))

    def query_all(self, query: str) -> Iterator[dict[str, Any]]:
        page = self._call(lambda sf: sf.query(query))
        yield from self._pages(page)

    def _pages(self, page: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            served_at = self._served_at
            for record in page.get("records", []):
                record[SERVED_AT] = served_at
                self._complete_children(record)
                yield record
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            next_url = page["nextRecordsUrl"]
            page = self._call(lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True))

    def _complete_children(self, record: dict[str, Any]) -> None:
        """Follow each subquery's own paging, before the parents page on.

        An org pages a parent's child rows apart from the parents (499 a batch in practice), and
        paging the parents on releases the child cursors of the batch before: "A queryMore() call on
        a parent object invalidates all child cursors in the previous result set" (SOAP API Developer
        Guide, QueryLocator; REST's nextRecordsUrl is the same cursor). So the children are read as
        each parent is reached, never after the parents' last page.
        """
        for children in list(record.values()):
            if isinstance(children, dict) and "records" in children and not children.get("done", True):
                children["records"] = list(self._pages(children))
                children["done"] = True

    def _composite_queries(self, queries: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
        """Run the queries in composite calls of at most five (the most a composite call may hold)."""
        items = list(queries.items())
        results: dict[str, list[dict[str, Any]]] = {}
        for start in range(0, len(items), COMPOSITE_QUERIES_LIMIT):
            results.update(self._composite_call(dict(items[start : start + COMPOSITE_QUERIES_LIMIT])))
        return results

    def _composite_call(self, queries: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {"method": "GET", "url": f"{self._data_path}query/?q={url_quote(q)}", "referenceId": ref}
                for ref, q in queries.items()
            ],
        }
        response = self._call(lambda sf: sf.restful("composite", method="POST", json=body))
        results: dict[str, list[dict[str, Any]]] = {}
        for sub in response["compositeResponse"]:
            ref, status, sub_body = sub["referenceId"], sub["httpStatusCode"], sub["body"]
            if status >= 300:
                raise _classify_body(status, sub_body, what=f"query {ref}")
            results[ref] = list(self._pages(sub_body))
        return results

    def describe(self, sobject: str) -> dict[str, Any] | None:
        """The object's describe, or None when the object does not exist for the worker's user."""
        try:
            return self._call(lambda sf: sf.restful(f"sobjects/{sobject}/describe/"))
        except PermanentError as exc:
            if "NOT_FOUND" in str(exc):
                return None
            raise

    def sender_verified(self) -> bool | None:
        """Whether the worker's user has verified its email address; None when the org does not say.

        Salesforce sends no email from an unverified user address, and may not tell the sender
        (help.salesforce.com, "Requirements to Send Email from Salesforce"); admins read
        TwoFactorMethodsInfo.HasUserVerifiedEmailAddress to see who is verified ("Manage User Email
        Address Verification": xcloud.security_email_verification_manage.htm).
        """
        user_id = self._token.user_id if self._token is not None else None
        if user_id is None or not soql.is_record_id(user_id):
            return None
        try:
            rows = list(self.query_all(soql.email_verification_of(user_id)))
        except PermanentError:  # the object is not visible to the user (it needs Manage Users)
            return None
        return bool(rows[0].get("HasUserVerifiedEmailAddress")) if rows else None

    def single_emails_left(self) -> tuple[int, int] | None:
        """(left today, daily maximum) of the single-email limit that logged emails count against."""
        found = self._call(lambda sf: sf.restful("limits/")).get("SingleEmail")
        if not isinstance(found, dict):
            return None
        return int(found.get("Remaining", 0)), int(found.get("Max", 0))

    # --- writes ----------------------------------------------------------------------------------
    def create_payments(self, actions: list[CreatePayment]) -> list[WriteResult]:
        """Create each Payment and mark its Project done, both or neither, in as few calls as the
        limits allow (500 graph nodes a call: 250 requests).

        Beyond 75 requests a call, several requests share a graph, and a graph is all-or-nothing:
        when one request in it is refused, the others were rolled back with it and are sent again
        at once, one request a graph, so one bad request never holds up the rest.
        """
        results: dict[int, WriteResult] = {}
        again = self._intake_calls(actions, list(range(len(actions))), shared=True, results=results)
        self._intake_calls(actions, again, shared=False, results=results)
        return [results[i] for i in range(len(actions))]

    def _intake_calls(
        self, actions: list[CreatePayment], indexes: list[int], *, shared: bool, results: dict[int, WriteResult]
    ) -> list[int]:
        """Send these requests; record each result, and return those rolled back by a neighbour."""
        innocent: list[int] = []
        per_call = GRAPH_NODES_LIMIT // INTAKE_NODES if shared else GRAPH_LIMIT
        for start in range(0, len(indexes), per_call):
            chunk = indexes[start : start + per_call]
            groups = [chunk[g::GRAPH_LIMIT] for g in range(min(GRAPH_LIMIT, len(chunk)))]
            graphs = [
                {"graphId": f"g{g}", "compositeRequest": [n for i in group for n in self._intake_nodes(i, actions[i])]}
                for g, group in enumerate(groups)
            ]
            by_id = self._send_graphs(graphs)
            for g, group in enumerate(groups):
                for i, (result, rolled_back) in zip(group, _intake_results(by_id.get(f"g{g}"), group), strict=True):
                    if rolled_back and shared:
                        innocent.append(i)
                    else:
                        results[i] = result
        return innocent

    def _send_graphs(self, graphs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Composite Graph calls; each graph's answer by its graphId.

        Past 14 failed graphs the org processes no more of the call and answers the rest
        PROCESSING_HALTED: those were never tried, and are sent again at once in a call of their own
        (each round settles at least 15), so failing records never starve the ones behind them.
        """
        answers: dict[str, dict[str, Any]] = {}
        while graphs:
            timeout = self._timeouts.graph(sum(len(g["compositeRequest"]) for g in graphs))
            body = {"graphs": graphs}
            response = self._call(
                lambda sf, b=body, t=timeout: sf.restful("composite/graph", method="POST", json=b, timeout=t)
            )
            got = {g["graphId"]: g for g in response["graphs"]}
            answers.update(got)
            halted = [g for g in graphs if _never_tried(got.get(g["graphId"]))]
            graphs = halted if len(halted) < len(graphs) else []  # a call that settled nothing is not repeated
        return answers

    def _intake_nodes(self, index: int, action: CreatePayment) -> list[dict[str, Any]]:
        d = action.draft
        draft = PaymentChange(
            project=d.project_id,
            request_key=d.request_key,
            type=d.type,
            amount=d.amount,
            currency=d.currency,
            description=d.description,
            customer_email=d.customer_email,
            status=d.status,
            sync_error=d.sync_error,
            link_revision=0,
        )
        payment = {k: v for k, v in self._codec.payment_values(draft).items() if v is not None}
        clear = self._project_done(signing_deposit=action.signing_deposit)
        # If staff changed the Project after we read it, Salesforce answers 412 and the whole graph
        # rolls back: the next cycle reads the new request instead of clearing it unseen. Graph nodes
        # are composite subrequests, which carry httpHeaders (developer.salesforce.com/docs/atlas.
        # en-us.api_rest.meta/api_rest/resources_composite_graph.htm, requests_composite.htm).
        unmodified_since = http_date(action.project_last_modified.astimezone(UTC), usegmt=True)
        return [
            {
                "method": "POST",
                "url": f"{self._data_path}sobjects/{self._m.payment.object}/",
                "referenceId": f"payment{index}",
                "body": payment,
            },
            {
                "method": "PATCH",
                "url": f"{self._data_path}sobjects/{self._m.project.object}/{action.project_id}",
                "referenceId": f"project{index}",
                "body": clear,
                "httpHeaders": {"If-Unmodified-Since": unmodified_since},
            },
        ]

    def _project_done(self, *, signing_deposit: bool) -> dict[str, Any]:
        """The Project values that mark a request as taken: the request cleared, or the signing box ticked."""
        pf = self._m.project.fields
        said = {pf.request_error: None} if pf.request_error else {}  # a reason from an earlier request is stale
        if signing_deposit:
            assert pf.signing_deposit_requested is not None  # the deposit rule is only read when mapped
            return {pf.signing_deposit_requested: True, **said}
        return {
            pf.request_payment: False,
            pf.requested_amount: None,
            pf.request_type: None,
            pf.request_description: None,
            **said,
        }

    def clear_request_flag(self, project_id: str, *, unmodified_since: datetime, signing_deposit: bool = False) -> None:
        """Mark a Project whose request already has its Payment (found by its intake key) as taken.

        Conditional, like intake: a Project changed since it was read (a new request) is left alone.
        """
        pf = self._m.project.fields
        body = {pf.request_payment: False} if not signing_deposit else self._project_done(signing_deposit=True)
        self._patch_project(project_id, body, unmodified_since=unmodified_since)

    def refuse_request(
        self, project_id: str, reason: str, *, unmodified_since: datetime, signing_deposit: bool = False
    ) -> bool:
        """Say on the Project why its request cannot be taken, and clear it (staff tick it again once fixed).

        Conditional, like intake: a Project changed since it was read is left for the next cycle.
        False when the mapping has no field for the reason (the request is left as it is).
        """
        pf = self._m.project.fields
        if not pf.request_error:
            return False
        done = self._project_done(signing_deposit=signing_deposit)
        self._patch_project(project_id, {**done, pf.request_error: reason}, unmodified_since=unmodified_since)
        return True

    def _patch_project(self, project_id: str, body: dict[str, Any], *, unmodified_since: datetime) -> None:
        headers = {"If-Unmodified-Since": http_date(unmodified_since.astimezone(UTC), usegmt=True)}
        path = f"sobjects/{self._m.project.object}/{project_id}"
        self._call(lambda sf: sf.restful(path, method="PATCH", json=body, headers=headers))

    def update_payments(self, updates: list[PaymentUpdate]) -> list[WriteResult]:
        """Set absolute values on Payments, 200 a call; one bad record does not fail the others."""
        rows = [(u.payment_id, self._codec.payment_values(u.change)) for u in updates]
        return self._update_records(self._m.payment.object, rows)

    def _update_records(self, sobject: str, rows: list[tuple[str, dict[str, Any]]]) -> list[WriteResult]:
        """PATCH composite/sobjects with allOrNone false: (record id, API values) rows, 200 a call."""
        results: list[WriteResult] = []
        for start in range(0, len(rows), COLLECTION_LIMIT):
            chunk = rows[start : start + COLLECTION_LIMIT]
            records = [{"attributes": {"type": sobject}, "id": record_id, **values} for record_id, values in chunk]
            body = {"allOrNone": False, "records": records}
            response = self._call(
                lambda sf, b=body: sf.restful(
                    "composite/sobjects", method="PATCH", json=b, timeout=self._timeouts.collection
                )
            )
            for (record_id, _), saved in zip(chunk, response, strict=True):
                results.append(_save_result(record_id, saved))
        return results

    def send_emails(self, emails: list[OutboundEmail]) -> list[WriteResult]:
        """Send through the org's emailSimple action, logged on the related record's activity.

        A call whose answer was lost after it may have reached the org (a reset, a read timeout) is
        not sent again: the org's email log says which of its emails went out, and the others come
        back deferred, for the next cycle to decide (an email is never sent twice blind). Emails an
        org rolled back because another one in the call failed are sent again at once without it.
        """
        allowed = self._emails_allowed(len(emails))
        results: list[WriteResult] = []
        for start in range(0, allowed, EMAIL_INPUTS_LIMIT):
            chunk = emails[start : min(start + EMAIL_INPUTS_LIMIT, allowed)]
            sent = self._send_chunk(chunk)
            rolled_back = [n for n, r in enumerate(sent) if r.error == _ROLLED_BACK]
            if rolled_back and len(rolled_back) < len(chunk):  # the others failed on their own
                again = self._send_chunk([chunk[n] for n in rolled_back])
                for n, result in zip(rolled_back, again, strict=True):
                    sent[n] = result
            results.extend(dataclasses.replace(r, deferred=True) if r.error == _ROLLED_BACK else r for r in sent)
            if self._email_quota is not None:
                self._email_quota -= sum(1 for r in sent if r.error is None)
        if allowed < len(emails):
            log.warning("email.daily_limit_reached", sent=allowed, waiting=len(emails) - allowed)
        results.extend(WriteResult(record_id=e.related_record_id, error=_LIMIT_REACHED) for e in emails[allowed:])
        return results

    def _emails_allowed(self, wanted: int) -> int:
        """How many of `wanted` emails the org's single-email daily limit lets out now, read at most
        once a minute: the rest wait, rather than be sent into a refusal (and, without partial save,
        roll back the emails beside them)."""
        now = time.monotonic()
        if self._email_quota_read_at is None or now - self._email_quota_read_at > EMAIL_QUOTA_TTL_SECONDS:
            try:
                left = self.single_emails_left()
            except (RetryableError, PermanentError) as exc:  # unknown: the org still refuses past it
                log.info("email.limit_unread", error=str(exc))
                return wanted
            self._email_quota = left[0] if left is not None else None
            self._email_quota_read_at = now
        return wanted if self._email_quota is None else max(0, min(wanted, self._email_quota))

    def _send_chunk(self, chunk: list[OutboundEmail]) -> list[WriteResult]:
        inputs = [
            {
                "emailAddresses": e.to,
                "emailSubject": e.subject,
                "emailBody": e.body,
                "senderType": "CurrentUser",
                "relatedRecordId": e.related_record_id,
                "logEmailOnSend": True,
            }
            for e in chunk
        ]
        began = self._served_at  # the org's clock before the call (its last answer's Date)
        try:
            response = self._call(lambda sf: self._email_call(sf, inputs), resend=False)
        except RetryableError as exc:
            # Not sent again blind: a refusal may come after the org did the work (a 503 or a lock
            # error from a proxy or a timed-out node, an expired session), as a lost answer may.
            # Only a connection never made is sure to have sent nothing.
            if exc.__cause__ is not None and _never_connected(exc.__cause__):
                raise
            return self._settle_unknown_send(chunk, began)
        results = []
        for email, outcome in zip(chunk, response, strict=True):
            errors = outcome.get("errors") if not outcome.get("isSuccess") else None
            rolled_back = bool(errors) and all(
                isinstance(e, dict) and e.get("statusCode") == "ALL_OR_NONE_OPERATION_ROLLED_BACK" for e in errors
            )
            error = None if not errors and outcome.get("isSuccess") else _errors_text(errors)
            results.append(WriteResult(record_id=email.related_record_id, error=_ROLLED_BACK if rolled_back else error))
        return results

    def _email_call(self, sf: simple_salesforce.Salesforce, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One emailSimple call; its per-input results, also when some failed.

        An invocable action call in which some inputs fail is answered HTTP 400 with the same
        per-input result list as a 200; whether the org kept the others depends on its
        InvocableActionSettings.isPartialSaveAllowed (Metadata API), and the results say which.
        """
        try:
            answer = sf.restful(
                "actions/standard/emailSimple", method="POST", json={"inputs": inputs}, timeout=self._timeouts.email
            )
        except SalesforceMalformedRequest as exc:
            results = _per_input_results(exc.content, len(inputs))
            if results is None:
                raise
            return results
        return answer if isinstance(answer, list) else []

    def _settle_unknown_send(self, chunk: list[OutboundEmail], began: datetime | None) -> list[WriteResult]:
        """The results of a send whose answer was lost, read from the org's email log."""
        log.warning("email.outcome_unknown", emails=len(chunk))
        since = began - timedelta(seconds=2) if began is not None else None  # Date has whole seconds
        try:
            logged = self._logged_emails([e.related_record_id for e in chunk], since=since)
        except (RetryableError, PermanentError) as exc:
            log.warning("email.log_unreadable", error=str(exc))
            logged = ()
        results = []
        for email in chunk:
            if any(x.related_record_id == email.related_record_id and x.is_of(email) for x in logged):
                results.append(WriteResult(record_id=email.related_record_id))
            else:
                results.append(WriteResult(record_id=email.related_record_id, error=_SEND_UNKNOWN, deferred=True))
        return results

    def logged_emails(self, record_ids: list[str]) -> tuple[LoggedEmail, ...]:
        return self._logged_emails(record_ids, since=None)

    def _logged_emails(self, record_ids: list[str], *, since: datetime | None) -> tuple[LoggedEmail, ...]:
        found: list[LoggedEmail] = []
        ids = [i for i in record_ids if soql.is_record_id(i)]
        for start in range(0, len(ids), IDS_PER_QUERY):
            for rec in self.query_all(soql.emails_logged_on(ids[start : start + IDS_PER_QUERY], since=since)):
                found.append(
                    LoggedEmail(
                        related_record_id=str(rec.get("RelatedToId") or ""),
                        to=str(rec.get("ToAddress") or ""),
                        body=str(rec.get("TextBody") or ""),
                    )
                )
        return tuple(found)

    def apply_outcomes(self, items: list[tuple[OutcomeWrite, tuple[ChatterPost, ...]]]) -> list[WriteResult]:
        """Write each Payment's outcome, its Refund records and staff posts together (one graph each).

        The Payment is written only if unchanged since it was read (If-Unmodified-Since): a
        concurrent writer makes the graph roll back and the next poll reads afresh, so a status
        change and its Chatter post happen once, together, or not at all. A post the org refuses
        for good (feed tracking off on the Project, Chatter off) never holds the outcome back: that
        graph is sent again without its posts, and the refusal logged (once a process).
        """
        results: dict[int, WriteResult] = {}
        ready = []
        for n, (write, posts) in enumerate(items):
            if _guard_is_blind(write):
                results[n] = WriteResult(record_id=write.payment_id, error=_SAME_SECOND, deferred=True)
            else:
                ready.append((n, write, posts))
        unposted = self._outcome_graphs(ready, results)
        if unposted:
            self._outcome_graphs([(n, write, ()) for n, write, _ in unposted], results)
        return [results[n] for n in range(len(items))]

    def _outcome_graphs(self, ready: list[_Outcome], results: dict[int, WriteResult]) -> list[_Outcome]:
        """Send the graphs and record each result; return those refused only for their posts."""
        unposted: list[_Outcome] = []
        for chunk in _outcome_calls(ready):
            graphs = [self._outcome_graph(i, write, posts) for i, (_, write, posts) in enumerate(chunk)]
            by_id = self._send_graphs(graphs)
            for i, item in enumerate(chunk):
                n, write, _ = item
                graph = by_id.get(f"g{i}")
                refused = _posts_refused(graph)
                if refused is not None:
                    unposted.append(item)
                    self._say_post_refused(write.payment_id, refused)
                    continue
                results[n] = dataclasses.replace(_graph_result(graph), record_id=write.payment_id)
        return unposted

    def _say_post_refused(self, payment_id: str, error: str) -> None:
        event = "staff_post.refused"
        if self._post_refusal_said:
            log.info(event, payment_id=payment_id, error=error)
            return
        self._post_refusal_said = True
        log.warning(event, payment_id=payment_id, error=error, fix=POST_REFUSED_FIX)

    def _outcome_graph(self, index: int, write: OutcomeWrite, posts: tuple[ChatterPost, ...]) -> dict[str, Any]:
        base = f"{self._data_path}sobjects/"
        unmodified_since = http_date(write.payment_last_modified.astimezone(UTC), usegmt=True)
        nodes: list[dict[str, Any]] = [
            {
                "method": "PATCH",
                "url": f"{base}{self._m.payment.object}/{write.payment_id}",
                "referenceId": "payment",
                "body": self._codec.payment_values(write.change),
                "httpHeaders": {"If-Unmodified-Since": unmodified_since},
            }
        ]
        refund_object = self._m.refund.object
        external_id = self._m.refund.fields.stripe_refund_id
        for n, refund in enumerate(write.refunds):
            values = self._codec.refund_values(refund.change)
            if refund.record_id is not None:
                url = f"{base}{refund_object}/{refund.record_id}"
            else:  # upsert by the Stripe refund id, so a refund is recorded once however often it is seen
                values.pop(external_id, None)  # the key is in the URL; Salesforce refuses it twice
                url = f"{base}{refund_object}/{external_id}/{url_quote(refund.stripe_refund_id, safe='')}"
            nodes.append({"method": "PATCH", "url": url, "referenceId": f"refund{n}", "body": values})
        for n, post in enumerate(posts):
            nodes.append(
                {
                    "method": "POST",
                    "url": f"{base}FeedItem/",
                    "referenceId": f"post{n}",
                    "body": {"ParentId": post.project_id, "Body": post.body},
                }
            )
        return {"graphId": f"g{index}", "compositeRequest": nodes}

    def update_refunds(self, updates: list[RefundUpdate]) -> list[WriteResult]:
        """Set absolute values on Refund records, 200 a call; one bad record does not fail the others."""
        rows = [(u.refund_id, self._codec.refund_values(u.change)) for u in updates]
        return self._update_records(self._m.refund.object, rows)

    def save_events_cursor(self, setup_id: str, cursor: str) -> None:
        body = {self._m.setup.fields.events_cursor: cursor}
        self._call(lambda sf: sf.restful(f"sobjects/{self._m.setup.object}/{setup_id}", method="PATCH", json=body))

    def update_setup(
        self,
        setup_id: str,
        *,
        status: str,
        error: str | None,
        verified_at: datetime | None,
        account_id: str | None = None,
    ) -> None:
        f = self._m.setup.fields
        body: dict[str, Any] = {
            f.connection_status: status,
            f.last_error: mask_secrets(error) if error else None,
        }
        if verified_at is not None:
            body[f.last_verified_at] = self._codec.wire_value(verified_at)
        if account_id is not None:
            body[f.stripe_account_id] = account_id
            body[f.confirm_account_change] = False
        self._call(lambda sf: sf.restful(f"sobjects/{self._m.setup.object}/{setup_id}", method="PATCH", json=body))


_SAME_SECOND = "the record changed in the second it was read; it is written next cycle"
_LIMIT_REACHED = "SINGLE_EMAIL_LIMIT_EXCEEDED: the org's single emails for today are used up; sent once it resets"
_ROLLED_BACK = "rolled back with another email of the same call that failed; sent again next cycle"
_SEND_UNKNOWN = "the org's answer to the send was lost, and its email log does not show it yet; decided next cycle"
POST_REFUSED_FIX = (
    "the org refused a staff post on the Project: turn on Feed Tracking for the Project object (Setup > "
    "Feed Tracking) and Chatter; `python -m sync check` says which. Outcomes are written without the post."
)


def _never_tried(graph: dict[str, Any] | None) -> bool:
    """A graph the org halted before processing it (every node PROCESSING_HALTED)."""
    if graph is None or graph.get("isSuccessful"):
        return False
    subs = graph["graphResponse"]["compositeResponse"]
    return bool(subs) and all("PROCESSING_HALTED" in _error_codes(s["body"]) for s in subs)


def _posts_refused(graph: dict[str, Any] | None) -> str | None:
    """The error of a graph refused only for its staff posts, for a reason no retry mends; else None."""
    if graph is None or graph.get("isSuccessful"):
        return None
    subs = graph["graphResponse"]["compositeResponse"]
    failing = [s for s in subs if s["httpStatusCode"] >= 300 and "PROCESSING_HALTED" not in _error_codes(s["body"])]
    if not failing or not all(s["referenceId"].startswith("post") for s in failing):
        return None
    codes = set().union(*(_error_codes(s["body"]) for s in failing))
    if codes & _RETRYABLE_CODES:
        return None
    return "; ".join(_errors_text(s["body"]) for s in failing)


def _outcome_calls(ready: list[_Outcome]) -> Iterator[list[_Outcome]]:
    """Outcome graphs packed into calls of at most GRAPH_LIMIT graphs and GRAPH_NODES_LIMIT nodes.

    A Payment's graph has a node for it, one per Refund record and one per post, so 75 Payments
    with many Dashboard refunds pass 500 nodes: Salesforce would refuse the whole call (LIMIT_EXCEEDED).
    """
    call: list[_Outcome] = []
    nodes = 0
    for item in ready:
        _, write, posts = item
        size = 1 + len(write.refunds) + len(posts)
        if call and (len(call) == GRAPH_LIMIT or nodes + size > GRAPH_NODES_LIMIT):
            yield call
            call, nodes = [], 0
        call.append(item)
        nodes += size
    if call:
        yield call


def _guard_is_blind(write: OutcomeWrite) -> bool:
    """Whether If-Unmodified-Since could miss a concurrent write to this Payment.

    Salesforce compares it with LastModifiedDate to the second, so a write made in the same second
    as the change we read would pass unseen, and two workers would both record the outcome (and both
    tell staff). Once the org has served the record a second after its last change, any later write
    has a later second and is caught. Without the org's Date header, the guard is all there is.
    """
    if write.payment_read_at is None:
        return False
    return int(write.payment_last_modified.timestamp()) >= int(write.payment_read_at.timestamp())


def _per_input_results(content: Any, count: int) -> list[dict[str, Any]] | None:
    """An invocable action's per-input results from an error answer's body, if that is what it holds."""
    if isinstance(content, (bytes, str)):
        try:
            content = json.loads(content)
        except ValueError:
            return None
    if (
        isinstance(content, list)
        and len(content) == count
        and all(isinstance(r, dict) and "isSuccess" in r for r in content)
    ):
        return content
    return None


def _errors_text(errors: Any) -> str:
    if not errors:
        return "unknown error"
    parts = []
    for err in errors if isinstance(errors, list) else [errors]:
        if isinstance(err, dict):
            code = err.get("statusCode") or err.get("errorCode") or ""
            parts.append(f"{code}: {err.get('message', '')}".strip(": "))
        else:
            parts.append(str(err))
    return mask_secrets("; ".join(parts))[:1000]


def _error_codes(errors: Any) -> set[str]:
    if not isinstance(errors, list):
        return set()
    return {str(e.get("statusCode") or e.get("errorCode")) for e in errors if isinstance(e, dict)}


def _save_result(record_id: str, saved: dict[str, Any]) -> WriteResult:
    if saved.get("success"):
        return WriteResult(record_id=saved.get("id") or record_id)
    codes = _error_codes(saved.get("errors"))
    if codes & _RETRYABLE_CODES:
        return WriteResult(record_id=record_id, error=_errors_text(saved.get("errors")), deferred=True)
    return WriteResult(record_id=record_id, error=_errors_text(saved.get("errors")))


def _intake_results(graph: dict[str, Any] | None, indexes: list[int]) -> list[tuple[WriteResult, bool]]:
    """Each request's result in a graph, and whether it was only rolled back with another's failure."""
    if graph is None or len(indexes) == 1:
        return [(_graph_result(graph, payment_ref=f"payment{i}"), False) for i in indexes]
    subs = graph["graphResponse"]["compositeResponse"]
    if graph.get("isSuccessful"):
        return [(_graph_result(graph, payment_ref=f"payment{i}"), False) for i in indexes]
    out = []
    for i in indexes:
        own = [s for s in subs if s["referenceId"] in (f"payment{i}", f"project{i}")]
        culprit = [s for s in own if s["httpStatusCode"] >= 300 and "PROCESSING_HALTED" not in _error_codes(s["body"])]
        if culprit:
            out.append((_graph_result({"graphResponse": {"compositeResponse": own}}, payment_ref=f"payment{i}"), False))
        else:
            out.append((WriteResult(record_id=None, error="rolled back with another request", deferred=True), True))
    return out


def _graph_result(graph: dict[str, Any] | None, *, payment_ref: str = "payment") -> WriteResult:
    if graph is None:
        return WriteResult(record_id=None, error="graph missing from the response", deferred=True)
    subs = graph["graphResponse"]["compositeResponse"]
    if graph.get("isSuccessful"):
        payment = next(s for s in subs if s["referenceId"] == payment_ref)
        body = payment.get("body")
        return WriteResult(record_id=body.get("id") if isinstance(body, dict) else None)
    failing = [s for s in subs if s["httpStatusCode"] >= 300 and "PROCESSING_HALTED" not in _error_codes(s["body"])]
    bodies = [s["body"] for s in failing] or [subs[0]["body"]]
    codes = set().union(*(_error_codes(b) for b in bodies))
    text = "; ".join(_errors_text(b) for b in bodies)
    if "DUPLICATE_VALUE" in codes:
        return WriteResult(record_id=None, error=text, duplicate=True)
    halted = not failing  # the org stopped processing the call (more than 14 graphs failed): not ours
    if (
        halted
        or codes & (_RETRYABLE_CODES | {"PRECONDITION_FAILED"})
        or any(s["httpStatusCode"] == 412 for s in failing)
    ):
        return WriteResult(record_id=None, error=text, deferred=True)
    return WriteResult(record_id=None, error=text)


def _classify_body(status: int, body: Any, *, what: str) -> Exception:
    codes = _error_codes(body)
    text = f"Salesforce {what}: HTTP {status} {_errors_text(body)}"
    if status >= 500 or status in (401, 412) or codes & _RETRYABLE_CODES:
        return RetryableError(text, retry_after=60.0 if "REQUEST_LIMIT_EXCEEDED" in codes else None)
    return PermanentError(text)


def _never_connected(exc: BaseException) -> bool:
    """A request that failed before a connection to the org was made (so nothing was done there)."""
    return isinstance(exc, requests.RequestException) and not _may_have_arrived(exc)


def _may_have_arrived(exc: BaseException | None) -> bool:
    """Whether a request that failed in transport may have reached the org and been done there.

    Only a connection never made is sure not to have arrived (requests wraps urllib3's connect
    errors in a MaxRetryError whose `reason` is the connect error); a reset or a timeout on a
    connection already made may come after the org did the work.
    """
    if not isinstance(exc, requests.RequestException) or isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0] if exc.args else None, "reason", None)
        return not isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return isinstance(exc, (requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _translate(exc: Exception) -> Exception:
    """Map a simple-salesforce or requests error to RetryableError or PermanentError."""
    if isinstance(exc, (RetryableError, PermanentError)):
        return exc
    if isinstance(exc, requests.RequestException):
        return RetryableError(f"Salesforce unreachable: {type(exc).__name__}")
    if isinstance(exc, SalesforceExpiredSession):
        return RetryableError("Salesforce session expired again right after logging in")
    if isinstance(exc, SalesforceError):
        content = exc.content
        if isinstance(content, (bytes, str)):
            try:
                content = json.loads(content)
            except ValueError:
                content = [{"errorCode": "", "message": str(content)[:200]}]
        if isinstance(exc, SalesforceResourceNotFound):
            return PermanentError(f"Salesforce {exc.resource_name}: NOT_FOUND {_errors_text(content)}")
        if isinstance(exc, (SalesforceRefusedRequest, SalesforceMalformedRequest, SalesforceGeneralError)):
            return _classify_body(exc.status, content, what=str(exc.resource_name))
        return _classify_body(exc.status, content, what=str(exc.resource_name))
    return exc

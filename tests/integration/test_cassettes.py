"""vcrpy cassettes pin each adapter's exact requests: replayed with no server, recorded only on purpose.

Replay (the default, and CI): `record_mode="none"` and no server runs. The adapters talk to the
cassette alone, at https://salesforce.example and http://stripe.example. A request that matches no
recorded one (method, path, query, body, Stripe idempotency key; never host or port) raises
CannotOverwriteExistingCassetteException, and every recorded interaction must be played, so a change
in an adapter's wire format fails here until the cassettes are re-recorded on purpose.

Recording: `RECORD_CASSETTES=1 pytest tests/integration/test_cassettes.py` records against a fresh
Sandbox. With CASSETTE_SALESFORCE_LOGIN_URL, CASSETTE_SALESFORCE_CLIENT_ID,
CASSETTE_SALESFORCE_CLIENT_SECRET and CASSETTE_STRIPE_KEY also set, it records against those real
test accounts instead. Credentials, tokens, keys, session ids and cookies are replaced with fixed
placeholders and hosts are normalised before anything is written; `test_no_cassette_holds_a_secret`
scans the files afterwards, in every run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests
import vcr
import yaml
from pydantic import SecretStr
from vcr.cassette import Cassette
from vcr.errors import CannotOverwriteExistingCassetteException
from vcr.request import Request as VcrRequest

from sync.adapters.salesforce.gateway import SalesforceCrm, build_http_session
from sync.adapters.stripe.payments import StripePayments
from sync.config.mapping import load_mapping
from sync.config.settings import Settings
from sync.domain.actions import LinkSpec
from sync.domain.changes import PaymentChange, RefundChange
from sync.domain.models import PaymentStatus, RefundSource, RefundStatus
from sync.domain.requests import Policy, plan_intake
from sync.domain.stripe_results import OutcomeWrite, RefundWrite
from sync.ports import ChatterPost, OutboundEmail, PaymentUpdate, RefundUpdate
from sync.sandbox.environment import DEFAULT_MAPPING, DEFAULT_TEMPLATES, Sandbox
from tests.integration.conftest import settings_for

CASSETTES = Path(__file__).parent / "cassettes"
SALESFORCE_CASSETTE = CASSETTES / "salesforce_crm.yaml"
STRIPE_CASSETTE = CASSETTES / "stripe_payments.yaml"
SALESFORCE_ORIGIN = "https://salesforce.example"
STRIPE_ORIGIN = "http://stripe.example"

REDACTED = "REDACTED"
ACCESS_TOKEN_PLACEHOLDER = "REDACTED_ACCESS_TOKEN"
STRIPE_KEY_PLACEHOLDER = "REDACTED_STRIPE_KEY"
GENERATED_IDEMPOTENCY_KEY = "GENERATED_BY_STRIPE_PYTHON"

RECORDING = os.environ.get("RECORD_CASSETTES") == "1"
REAL_ACCOUNT_VARIABLES = (
    "CASSETTE_SALESFORCE_LOGIN_URL",
    "CASSETTE_SALESFORCE_CLIENT_ID",
    "CASSETTE_SALESFORCE_CLIENT_SECRET",
    "CASSETTE_STRIPE_KEY",
)
REAL_ACCOUNTS = all(os.environ.get(name) for name in REAL_ACCOUNT_VARIABLES)

# Fixed inputs of the scenarios: with the replayed answers they make every request body the same in
# each run. (Times are passed in; nothing reads a clock.)
AT = datetime(2026, 11, 26, 15, 3, 9, tzinfo=UTC)
LINK_ID = "plink_1CassetteFixedLinkId00"
LINK_URL = "https://buy.stripe.com/test_cassette"
SPEC = LinkSpec(
    idempotency_key="crm-stripe-sync:payment-link:a02CASSETTE000001AA:r0",
    amount_minor=2_000_000,
    currency="usd",
    product_name="Deposit on signing",
    payment_description="Kitchen remodel: Deposit on signing",
    metadata={
        "crm_payment_id": "a02CASSETTE000001AA",
        "crm_project_id": "a01CASSETTE000001AA",
        "crm_link_revision": "0",
    },
    statement_descriptor_suffix="KITCHEN",
    after_payment_message="Thank you! We will be in touch.",
)


# --- scrubbing -------------------------------------------------------------------------------------

_SECRET_KEY_FIELD = load_mapping(DEFAULT_MAPPING).setup.fields.secret_key
_REDACTED_JSON_KEYS = re.compile(
    r'"(access_token|refresh_token|id_token|signature|[A-Za-z0-9_]*' + re.escape(_SECRET_KEY_FIELD) + r')"'
    r'(\s*:\s*)"(?:[^"\\]|\\.)*"'
)
_TEXT_SCRUBS = (
    (re.compile(r"\b[sr]k_(?:test|live)_[A-Za-z0-9]+"), STRIPE_KEY_PLACEHOLDER),
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+"), "REDACTED_SESSION_ID"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "REDACTED_JWT"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._!~+/=-]+"), rf"\1 {REDACTED}"),
    (re.compile(r"\b(client_id|client_secret|assertion|password|refresh_token)=[^&\s\"']+"), rf"\1={REDACTED}"),
)
_FORM_SECRETS = frozenset({"client_id", "client_secret", "assertion", "password", "refresh_token", "code"})
# X-Stripe-Client-User-Agent carries the recording host's uname; the telemetry header, timings.
_DROPPED_REQUEST_HEADERS = frozenset({"cookie", "x-stripe-client-user-agent", "x-stripe-client-telemetry"})
_DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie"})
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_LOOPBACK_ORIGIN = re.compile(r"https?://(?:127\.0\.0\.1|localhost):\d+")
_INSTANCE_URL = re.compile(r'"instance_url"\s*:\s*"([^"]+)"')


def scrub_text(text: str) -> str:
    text = _REDACTED_JSON_KEYS.sub(_json_placeholder, text)
    for pattern, replacement in _TEXT_SCRUBS:
        text = pattern.sub(replacement, text)
    return text


def _json_placeholder(match: re.Match[str]) -> str:
    key = match.group(1)
    if key == "access_token":
        value = ACCESS_TOKEN_PLACEHOLDER  # the replayed login hands this to simple-salesforce as the session
    elif key.endswith(_SECRET_KEY_FIELD):
        value = STRIPE_KEY_PLACEHOLDER  # the Stripe Setup record's key, read by read_snapshot
    else:
        value = REDACTED
    return f'"{key}"{match.group(2)}"{value}"'


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Scrubber:
    """vcr's before_record_request/response for one service; vcr applies the request side when matching too."""

    placeholder_origin: str
    live_origins: set[str] = field(default_factory=set)

    def request(self, request: VcrRequest) -> VcrRequest:
        parts = urlsplit(request.uri)
        placeholder = urlsplit(self.placeholder_origin)
        request.uri = urlunsplit((placeholder.scheme, placeholder.netloc, parts.path, parts.query, ""))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED_REQUEST_HEADERS}
        for name in list(headers):
            if name.lower() == "authorization":
                headers[name] = REDACTED
            elif name.lower() == "idempotency-key" and _UUID.match(str(headers[name])):
                headers[name] = GENERATED_IDEMPOTENCY_KEY  # stripe-python adds a random one to every POST
        request.headers = headers
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        if body:
            if _is_form(request):
                pairs = parse_qsl(body, keep_blank_values=True)
                if any(name in _FORM_SECRETS for name, _ in pairs):
                    body = urlencode([(n, REDACTED if n in _FORM_SECRETS else v) for n, v in pairs])
            request.body = scrub_text(body)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        raw = response["body"]["string"]
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        for instance_url in _INSTANCE_URL.findall(text):
            self.live_origins.add(_origin(instance_url))
        text = self.normalise_origins(scrub_text(text))
        response["body"]["string"] = text.encode("utf-8")
        headers = {
            name: [self.normalise_origins(scrub_text(str(v))) for v in values]
            for name, values in response["headers"].items()
            if name.lower() not in _DROPPED_RESPONSE_HEADERS
        }
        for name in headers:
            if name.lower() == "content-length":  # the body may have shrunk; a replay must not read past it
                headers[name] = [str(len(response["body"]["string"]))]
        response["headers"] = headers
        return response

    def normalise_origins(self, text: str) -> str:
        for origin in sorted(self.live_origins, key=len, reverse=True):
            text = text.replace(origin, self.placeholder_origin)
        return _LOOPBACK_ORIGIN.sub(self.placeholder_origin, text)


# --- matching (never on host or port: sandbox ports are random) -------------------------------------


def _is_form(request: VcrRequest) -> bool:
    return "application/x-www-form-urlencoded" in str(request.headers.get("Content-Type", "")).lower()


def _parsed_body(request: VcrRequest) -> Any:
    body = request.body
    if body is None or body == b"":
        return None
    text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
    if _is_form(request):
        return sorted(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        return text


def scheme_less_path(r1: VcrRequest, r2: VcrRequest) -> None:
    assert r1.path == r2.path, f"{r1.path} != {r2.path}"


def parsed_query(r1: VcrRequest, r2: VcrRequest) -> None:
    q1, q2 = (sorted(parse_qsl(urlsplit(r.uri).query, keep_blank_values=True)) for r in (r1, r2))
    assert q1 == q2, f"{q1} != {q2}"


def parsed_body(r1: VcrRequest, r2: VcrRequest) -> None:
    b1, b2 = _parsed_body(r1), _parsed_body(r2)
    assert b1 == b2, f"bodies differ:\n{b1}\n{b2}"


def idempotency_key(r1: VcrRequest, r2: VcrRequest) -> None:
    k1, k2 = r1.headers.get("Idempotency-Key"), r2.headers.get("Idempotency-Key")
    assert k1 == k2, f"Idempotency-Key {k1} != {k2}"


def cassette_vcr(scrubber: Scrubber, path: Path) -> vcr.VCR:
    """A VCR that replays `path` only, or (RECORD_CASSETTES=1) records it afresh."""
    if RECORDING:
        path.unlink(missing_ok=True)
    recorder = vcr.VCR(
        record_mode="all" if RECORDING else "none",
        match_on=("method", "scheme_less_path", "parsed_query", "parsed_body", "idempotency_key"),
        before_record_request=scrubber.request,
        before_record_response=scrubber.response,
        decode_compressed_response=True,
        record_on_exception=False,  # a failed scenario leaves the old cassette alone
    )
    for matcher in (scheme_less_path, parsed_query, parsed_body, idempotency_key):
        recorder.register_matcher(matcher.__name__, matcher)
    return recorder


def assert_every_interaction_was_replayed(cassette: Cassette, count: int) -> None:
    """Exactly `count` interactions, each one requested (only while replaying: recording plays none)."""
    assert len(cassette) == count
    if not RECORDING:
        unplayed = [f"{r.method} {r.path}" for i, r in enumerate(cassette.requests) if cassette.play_counts[i] == 0]
        assert unplayed == [], "recorded requests the adapter no longer made"


@contextmanager
def unmatched_request_surfaced() -> Iterator[None]:
    """Re-raise vcr's "no recorded interaction matches" when an adapter has wrapped it (e.g. stripe-python)."""
    try:
        yield
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, CannotOverwriteExistingCassetteException):
            cause = cause.__cause__ or cause.__context__
        if cause is not None and cause is not exc:
            raise cause from exc
        raise


def recorded_json(cassette: Cassette, method: str, path: str, *, nth: int | None = None) -> Any:
    """The recorded answer to the one request with this method and path (or to the `nth` of several)."""
    answers = [
        response
        for request, response in zip(cassette.requests, cassette.responses, strict=True)
        if request.method == method and request.path == path
    ]
    if nth is None:
        [answer] = answers
    else:
        answer = answers[nth]
    return json.loads(answer["body"]["string"])


# --- where the scenario runs --------------------------------------------------------------------------


@dataclass
class Target:
    salesforce: Settings
    stripe_key: SecretStr
    stripe_api_base: str
    salesforce_origins: set[str]
    stripe_origins: set[str]
    secrets: Callable[[], list[str]] = list  # literals that must never reach a cassette (recording only)


@pytest.fixture
def target(start_sandbox: Callable[..., Sandbox]) -> Target:
    if not RECORDING:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            salesforce_login_url=SALESFORCE_ORIGIN,  # type: ignore[arg-type]
            salesforce_client_id=SecretStr("replay-client-id"),
            salesforce_client_secret=SecretStr("replay-client-secret"),
            crm_mapping_file=DEFAULT_MAPPING,
            email_template_file=DEFAULT_TEMPLATES,
        )
        return Target(settings, SecretStr("replay-stripe-key"), STRIPE_ORIGIN, set(), set())
    if REAL_ACCOUNTS:
        # The real org must already hold what the scenario reads, since the adapters cannot create it:
        # an active Stripe Setup record and a Project with Request Payment ticked, a customer email
        # and a contract amount (a Deposit request). Re-recording the Stripe cassette within 24 hours
        # with a changed SPEC gets an idempotency conflict: wait, or change SPEC's key too.
        env = os.environ
        login_url = env["CASSETTE_SALESFORCE_LOGIN_URL"]
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            salesforce_login_url=login_url,  # type: ignore[arg-type]
            salesforce_client_id=SecretStr(env["CASSETTE_SALESFORCE_CLIENT_ID"]),
            salesforce_client_secret=SecretStr(env["CASSETTE_SALESFORCE_CLIENT_SECRET"]),
            crm_mapping_file=DEFAULT_MAPPING,
            email_template_file=DEFAULT_TEMPLATES,
        )
        real = [env[name] for name in REAL_ACCOUNT_VARIABLES[1:]]
        return Target(
            settings,
            SecretStr(env["CASSETTE_STRIPE_KEY"]),
            "https://api.stripe.com",
            {_origin(login_url)},
            {"https://api.stripe.com"},
            secrets=lambda: real,
        )
    # The sandbox's control API seeds the data only here; the scenario itself goes through the adapters.
    sandbox = start_sandbox()
    sandbox.add_setup()
    project = sandbox.add_project(
        "Kitchen remodel", customer_email="pat@example.com", contract_amount=Decimal("40000.00")
    )
    sandbox.request_payment(project, type="deposit", description="Deposit on signing")

    def sandbox_secrets() -> list[str]:
        c = sandbox.credentials
        with sandbox.salesforce.db.transaction() as conn:
            tokens = [row["token"] for row in conn.execute("SELECT token FROM sf_tokens")]
        return [c.client_id, c.client_secret, c.stripe_test_key, c.stripe_live_key, *tokens]

    return Target(
        settings_for(sandbox),
        SecretStr(sandbox.credentials.stripe_test_key),
        sandbox.stripe_url,
        {sandbox.salesforce_url},
        {sandbox.stripe_url},
        secrets=sandbox_secrets,
    )


@pytest.fixture
def salesforce_http(target: Target) -> Iterator[requests.Session]:
    http = build_http_session(target.salesforce)
    yield http
    http.close()


def assert_no_literal_secret(path: Path, target: Target) -> None:
    text = path.read_text()
    for secret in target.secrets():
        assert secret not in text, f"a credential reached {path.name}"


# --- the scenarios ----------------------------------------------------------------------------------


def test_salesforce_crm_requests_match_the_cassette(target: Target, salesforce_http: requests.Session):
    crm = SalesforceCrm(settings=target.salesforce, mapping=load_mapping(DEFAULT_MAPPING), http=salesforce_http)
    scrubber = Scrubber(SALESFORCE_ORIGIN, set(target.salesforce_origins))

    cassette_use = cassette_vcr(scrubber, SALESFORCE_CASSETTE).use_cassette(str(SALESFORCE_CASSETTE))
    with cassette_use as cassette, unmatched_request_surfaced():
        crm.connect()
        snapshot = crm.read_snapshot()
        setup, request = snapshot.setups[0], snapshot.project_requests[0]
        [created] = crm.create_payments([plan_intake(request, policy=Policy())])
        assert created.record_id is not None, created.error
        [updated] = crm.update_payments(
            [
                PaymentUpdate(
                    created.record_id,
                    PaymentChange(link_url=LINK_URL, payment_link_id=LINK_ID, sync_error=None, last_synced_at=AT),
                )
            ]
        )
        [emailed] = crm.send_emails(
            [
                OutboundEmail(
                    to=request.customer_email or "",
                    subject="Your deposit for Kitchen remodel",
                    body=f"Pay here: {LINK_URL}",
                    related_record_id=created.record_id,
                )
            ]
        )
        crm.update_setup(setup.id, status="Connected", error=None, verified_at=AT)
        [payment] = crm.read_payments([created.record_id])
        assert crm.payment_ids_for_intents(["pi_1CassetteIntent"]) == {}
        paid = OutcomeWrite(
            payment_id=payment.id,
            payment_last_modified=payment.last_modified,
            change=PaymentChange(
                status=PaymentStatus.PARTIALLY_REFUNDED,
                amount_paid=Decimal("20000.00"),
                paid_at=AT,
                amount_refunded=Decimal("500.00"),
                receipt_url=LINK_URL,
                last_synced_at=AT,
            ),
            refunds=(
                RefundWrite(
                    "re_1CassetteRefund",
                    None,
                    RefundChange(
                        status=RefundStatus.SUCCEEDED,
                        payment=payment.id,
                        amount=Decimal("500.00"),
                        source=RefundSource.STRIPE_DASHBOARD,
                        stripe_refund_id="re_1CassetteRefund",
                    ),
                ),
            ),
        )
        post = ChatterPost(project_id=request.project_id, body="Deposit of $20,000.00 received from Pat.")
        [outcome] = crm.apply_outcomes([(paid, (post,))])
        crm.save_events_cursor(setup.id, "evt_1CassetteCursor")
        [refunded] = crm.read_payments([created.record_id])
        [refund_written] = crm.update_refunds(
            [
                RefundUpdate(
                    refunded.refunds[0].id, RefundChange(status=RefundStatus.FAILED, failure_reason="Card expired.")
                )
            ]
        )

    assert_every_interaction_was_replayed(cassette, 13)  # the email send reads the limit first
    assert refund_written.error is None, refund_written.error
    assert outcome.error is None, outcome.error
    data = f"/services/data/v{target.salesforce.salesforce_api_version}"
    reads = {
        r["referenceId"]: r["body"] for r in recorded_json(cassette, "POST", f"{data}/composite")["compositeResponse"]
    }
    assert setup.id == reads["setups"]["records"][0]["Id"]
    assert request.project_id == reads["projects"]["records"][0]["Id"]
    [graph] = recorded_json(cassette, "POST", f"{data}/composite/graph", nth=0)["graphs"]
    assert created.record_id == graph["graphResponse"]["compositeResponse"][0]["body"]["id"]
    assert updated.error is None and updated.record_id == created.record_id
    assert emailed.error is None
    [outcome_graph] = recorded_json(cassette, "POST", f"{data}/composite/graph", nth=1)["graphs"]
    assert outcome_graph["isSuccessful"] is True
    assert [n["referenceId"] for n in outcome_graph["graphResponse"]["compositeResponse"]] == [
        "payment",
        "refund0",
        "post0",
    ]
    if RECORDING:
        assert_no_literal_secret(SALESFORCE_CASSETTE, target)


def test_stripe_payments_requests_match_the_cassette(target: Target):
    stripe = StripePayments(key=target.stripe_key, api_base=target.stripe_api_base, timeout=20)
    scrubber = Scrubber(STRIPE_ORIGIN, set(target.stripe_origins))

    cassette_use = cassette_vcr(scrubber, STRIPE_CASSETTE).use_cassette(str(STRIPE_CASSETTE))
    with cassette_use as cassette, unmatched_request_surfaced():
        account = stripe.verify_key()
        link = stripe.create_payment_link(SPEC)
        stripe.deactivate_link(link.id)
        batch = stripe.events_before(None, since=AT, max_events=100)
        state = stripe.payment_state(link.id, with_refunds=True)

    assert_every_interaction_was_replayed(cassette, 7)
    assert not batch.cursor_lost and not state.paid
    assert account.id == recorded_json(cassette, "GET", "/v1/account")["id"]
    recorded = recorded_json(cassette, "POST", "/v1/payment_links")
    assert (link.id, scrubber.normalise_origins(link.url), link.active) == (recorded["id"], recorded["url"], True)
    assert recorded_json(cassette, "POST", f"/v1/payment_links/{link.id}")["active"] is False
    if RECORDING:
        assert_no_literal_secret(STRIPE_CASSETTE, target)


# --- the secret scan ----------------------------------------------------------------------------------

SECRET_SHAPES = {
    "Stripe secret or restricted key": re.compile(r"\b[sr]k_(?:test|live)_[A-Za-z0-9]{4,}"),
    "bearer token": re.compile(r"(?i)\bbearer\s+(?!REDACTED\b)[A-Za-z0-9._!~+/=-]{4,}"),
    "basic credentials": re.compile(r"(?i)\bbasic\s+(?!REDACTED\b)[A-Za-z0-9+/=]{8,}"),
    "access token": re.compile(
        r"""access_token\\?["']?\s*[:=]\s*\\?["']?(?!REDACTED_ACCESS_TOKEN\b)[^\s"'\\,}&]{4,}"""
    ),
    "client secret": re.compile(r"""client_secret\\?["']?\s*[:=]\s*\\?["']?(?!REDACTED\b)[^\s"'\\,}&]+"""),
    "consumer-secret-shaped hex": re.compile(r"\b[0-9A-Fa-f]{40,}\b"),
    "Salesforce session id": re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
}


def secret_hits(text: str) -> list[str]:
    return [name for name, shape in SECRET_SHAPES.items() if shape.search(text)]


def cassette_texts(path: Path) -> Iterator[str]:
    """The file as stored, then every header value and body as vcr will read them back (decoded)."""
    yield path.read_text()
    for interaction in yaml.safe_load(path.read_text())["interactions"]:
        for part in (interaction["request"], interaction["response"]):
            for values in part.get("headers", {}).values():
                yield from (str(v) for v in (values if isinstance(values, list) else [values]))
            body = part.get("body")
            body = body.get("string") if isinstance(body, dict) else body
            if body:
                yield body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)


def test_both_cassettes_are_in_the_repository():
    assert sorted(p.name for p in CASSETTES.glob("*.yaml")) == ["salesforce_crm.yaml", "stripe_payments.yaml"]


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_no_cassette_holds_a_secret(path: Path):
    hits = {name for text in cassette_texts(path) for name in secret_hits(text)}

    assert hits == set(), f"{path.name} holds something shaped like: {', '.join(sorted(hits))}"


LEAKS = {
    "Stripe secret or restricted key": "key: rk_live_51Habc",
    "bearer token": "Authorization: Bearer 00Dxx!AQEAQ",
    "basic credentials": "Authorization: Basic M01WRzk6c2VjcmV0",
    "access token": '{"access_token": "00Dabc"}',
    "client secret": "grant_type=client_credentials&client_secret=abc",
    "consumer-secret-shaped hex": "8C2F3A1B0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E",
    "Salesforce session id": "sid=00D5e000000XyZa!ARcAQAbCdEf",
    "JWT": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIzTVZHOSJ9.c2ln",
}


@pytest.mark.parametrize(("shape", "leak"), LEAKS.items(), ids=list(LEAKS))
def test_secret_scan_flags_each_secret_shape(shape: str, leak: str):
    assert shape in secret_hits(leak)


# A bare secret is scrubbed where it is sent (the Basic header, the OAuth form), not wherever it appears.
SCRUBBED_LEAKS = {shape: leak for shape, leak in LEAKS.items() if shape != "consumer-secret-shaped hex"}


@pytest.mark.parametrize(("shape", "leak"), SCRUBBED_LEAKS.items(), ids=list(SCRUBBED_LEAKS))
def test_scrubbing_removes_each_secret_shape(shape: str, leak: str):
    assert shape not in secret_hits(scrub_text(leak))


def test_scrubbed_placeholders_are_not_flagged():
    placeholders = (
        f'Authorization: Bearer {REDACTED} {{"access_token": "{ACCESS_TOKEN_PLACEHOLDER}"}} '
        f"client_id={REDACTED}&client_secret={REDACTED} {STRIPE_KEY_PLACEHOLDER}"
    )
    assert secret_hits(placeholders) == []


def test_oauth_form_and_authorization_header_are_scrubbed_before_matching_and_saving():
    request = VcrRequest(
        "POST",
        "https://127.0.0.1:50123/services/oauth2/token",
        "grant_type=client_credentials&client_id=3MVG9abc&client_secret=s3cr3t",
        {"Authorization": "Basic M01WRzk6c2VjcmV0", "Content-Type": "application/x-www-form-urlencoded"},
    )

    scrubbed = Scrubber(SALESFORCE_ORIGIN).request(request)

    assert scrubbed.uri == f"{SALESFORCE_ORIGIN}/services/oauth2/token"
    assert scrubbed.headers["Authorization"] == REDACTED
    assert dict(parse_qsl(scrubbed.body.decode())) == {
        "grant_type": "client_credentials",
        "client_id": REDACTED,
        "client_secret": REDACTED,
    }


def test_token_answer_is_scrubbed_and_its_instance_url_normalised():
    scrubber = Scrubber(SALESFORCE_ORIGIN, {"https://acme.my.salesforce.com"})
    body = {
        "access_token": "00D5e000000XyZa!ARcAQ.secret-session",
        "signature": "c2lnbmF0dXJl",
        "instance_url": "https://acme--uat.sandbox.my.salesforce.com",
        "id": "https://acme--uat.sandbox.my.salesforce.com/id/00D5e000000XyZaEAK/0055e000001AbCdAAK",
        "token_type": "Bearer",
    }
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Set-Cookie": ["BrowserId=abc; Path=/"], "Content-Type": ["application/json"]},
        "body": {"string": json.dumps(body).encode()},
    }

    scrubbed = scrubber.response(response)

    answer = json.loads(scrubbed["body"]["string"])
    assert answer["access_token"] == ACCESS_TOKEN_PLACEHOLDER and answer["signature"] == REDACTED
    assert answer["instance_url"] == SALESFORCE_ORIGIN
    assert answer["id"].startswith(f"{SALESFORCE_ORIGIN}/id/")
    assert "Set-Cookie" not in scrubbed["headers"]

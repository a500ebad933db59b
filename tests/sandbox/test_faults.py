"""Seeded faults, outages, latency and Stripe's rate limit, as the real clients see them on the wire."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import stripe

from sync.sandbox.environment import Sandbox

VERSION = "64.0"
LINK_PARAMS: Any = {
    "line_items": [
        {"quantity": 1, "price_data": {"currency": "usd", "unit_amount": 5000, "product_data": {"name": "Deposit"}}}
    ],
    "restrictions": {"completed_sessions": {"limit": 1}},
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(fault_seed=1) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _no_faults_left(sandbox: Sandbox) -> Iterator[None]:
    yield
    for faults in (sandbox.salesforce_faults, sandbox.stripe_faults):
        faults.clear()
        faults.reset_counts()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


class Org:
    """Plain requests against the org emulator with a fresh client-credentials session."""

    def __init__(self, sandbox: Sandbox, http: requests.Session) -> None:
        self.sandbox = sandbox
        self.http = http
        self.verify = str(sandbox.tls.ca_bundle)  # per call: Session.verify loses to REQUESTS_CA_BUNDLE
        self.token = self.login()

    def login(self) -> str:
        c = self.sandbox.credentials
        answer = self.http.post(
            f"{self.sandbox.salesforce_url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(c.client_id, c.client_secret),
            timeout=5,
            verify=self.verify,
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def call(self, method: str, resource: str, *, timeout: float = 5, **kwargs: Any) -> requests.Response:
        url = f"{self.sandbox.salesforce_url}/services/data/v{VERSION}/{resource}"
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.request(method, url, headers=headers, timeout=timeout, verify=self.verify, **kwargs)

    def control(self, method: str, base: str, path: str, **kwargs: Any) -> requests.Response:
        """A `/__sandbox` call to either emulator (the org's needs its CA)."""
        return self.http.request(method, f"{base}/__sandbox{path}", timeout=5, verify=self.verify, **kwargs)

    def query(self) -> requests.Response:
        return self.call("GET", "query", params={"q": "SELECT Id FROM Contact LIMIT 1"})


@pytest.fixture
def org(sandbox: Sandbox, http: requests.Session) -> Org:
    return Org(sandbox, http)


@pytest.fixture
def client(sandbox: Sandbox, http: requests.Session) -> stripe.StripeClient:
    return stripe_client(sandbox, http)


def stripe_client(sandbox: Sandbox, http: requests.Session, *, key: str | None = None, **options: Any) -> Any:
    options.setdefault("max_network_retries", 0)
    return stripe.StripeClient(
        key or sandbox.credentials.stripe_test_key,
        base_addresses={"api": sandbox.stripe_url},
        http_client=stripe.RequestsClient(session=http, timeout=options.pop("timeout", 5)),
        **options,
    )


def stripe_get(sandbox: Sandbox, http: requests.Session, path: str, *, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {key or sandbox.credentials.stripe_test_key}"}
    return http.get(f"{sandbox.stripe_url}{path}", headers=headers, timeout=5)


# --- Salesforce: each kind as the org sends it ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        ("invalid_session", 401, "INVALID_SESSION_ID", "Session expired or invalid"),
        ("request_limit_exceeded", 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        ("unavailable", 503, "SERVER_UNAVAILABLE", "Server too busy"),
    ],
)
def test_salesforce_error_kinds_answer_in_the_orgs_error_format(
    sandbox: Sandbox, org: Org, kind, status, code, message
):
    sandbox.faults("salesforce").add_rule(kind, limit=1)
    answer = org.query()
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert answer.json() == [{"message": message, "errorCode": code}]
    assert sandbox.faults("salesforce").counts()["injected"] == {kind: 1}


def test_a_lock_error_names_the_record_and_leaves_it_unchanged(sandbox: Sandbox, org: Org):
    contact = sandbox.add_contact(email="before@example.com")
    sandbox.faults("salesforce").add_rule("unable_to_lock_row", path="/sobjects/Contact/", method="PATCH", limit=1)
    answer = org.call("PATCH", f"sobjects/Contact/{contact}", json={"Email": "after@example.com"})
    assert answer.status_code == 400
    message = f"unable to obtain exclusive access to this record or 1 records: {contact}"
    assert answer.json() == [{"message": message, "errorCode": "UNABLE_TO_LOCK_ROW"}]
    assert sandbox.salesforce.get_record("Contact", contact)["Email"] == "before@example.com"
    assert org.call("PATCH", f"sobjects/Contact/{contact}", json={"Email": "after@example.com"}).status_code == 204


def test_an_injected_expired_session_needs_a_new_login(sandbox: Sandbox, org: Org):
    sandbox.faults("salesforce").add_rule("invalid_session", limit=1)
    assert org.query().status_code == 401
    assert org.query().status_code == 401  # the org itself now refuses the old token
    assert org.query().headers["WWW-Authenticate"] == "Token"
    org.token = org.login()
    assert org.query().status_code == 200


def test_a_reset_after_a_write_applies_it_and_loses_the_answer(sandbox: Sandbox, org: Org):
    contact = sandbox.add_contact(email="before@example.com")
    sandbox.faults("salesforce").add_rule("reset", phase="after", method="PATCH", limit=1)
    with pytest.raises(requests.ConnectionError):
        org.call("PATCH", f"sobjects/Contact/{contact}", json={"Email": "after@example.com"})
    assert sandbox.salesforce.get_record("Contact", contact)["Email"] == "after@example.com"


def test_a_timeout_holds_the_org_connection_past_the_clients_timeout(sandbox: Sandbox, org: Org):
    sandbox.faults("salesforce").add_rule("timeout", phase="before", hold_seconds=1.0, limit=1)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        org.call("GET", "query", params={"q": "SELECT Id FROM Contact"}, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert org.query().status_code == 200  # other requests were never held up


def test_login_and_control_api_are_exempt_unless_a_rule_names_them(sandbox: Sandbox, org: Org):
    faults = sandbox.faults("salesforce")
    faults.add_rule("unavailable")
    assert org.query().status_code == 503
    org.login()  # the token endpoint still answers
    clock = org.control("GET", sandbox.salesforce_url, "/clock")
    assert clock.status_code == 200
    faults.configure(rules=[])
    faults.add_rule("unavailable", path="/services/oauth2/token")
    with pytest.raises(requests.HTTPError) as refused:
        org.login()
    assert refused.value.response.status_code == 503
    assert org.query().status_code == 200


# --- Stripe: each kind as stripe-python sees it ---------------------------------------------------


def test_an_injected_rate_limit_is_a_rate_limit_error_from_a_rate_limiter(sandbox: Sandbox, client):
    sandbox.faults("stripe").add_rule("rate_limit", limit=1)
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.payment_links.list()
    error = raised.value
    assert error.http_status == 429
    assert error.error.code == "rate_limit"  # stripe-python leaves `code` None on 429s; read the body
    assert error.error.type == "invalid_request_error"
    assert error.error.message.startswith("Request rate limit exceeded.")
    assert error.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert "Stripe-Should-Retry" not in error.headers
    assert error.request_id.startswith("req_")


@pytest.mark.parametrize(("should_retry", "header"), [("auto", "true"), (False, "false"), (None, None)])
def test_an_injected_lock_timeout_carries_the_chosen_retry_advice(sandbox: Sandbox, client, should_retry, header):
    sandbox.faults("stripe").add_rule("lock_timeout", should_retry=should_retry, limit=1)
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.payment_links.list()
    assert raised.value.error.code == "lock_timeout"
    assert raised.value.headers.get("Stripe-Should-Retry") == header
    assert "Stripe-Rate-Limited-Reason" not in raised.value.headers  # a lock, not a limiter


def test_stripe_python_retries_a_lock_timeout_because_stripe_says_so(sandbox: Sandbox, http):
    sandbox.faults("stripe").add_rule("lock_timeout", limit=1)
    retrying = stripe_client(sandbox, http, max_network_retries=1)
    assert retrying.v1.payment_links.list().object == "list"
    assert sandbox.faults("stripe").counts()["injected"] == {"lock_timeout": 1}


@pytest.mark.parametrize(("kind", "status"), [("server_error", 500), ("unavailable", 503)])
def test_server_errors_are_api_errors(sandbox: Sandbox, client, kind, status):
    sandbox.faults("stripe").add_rule(kind, limit=1)
    with pytest.raises(stripe.APIError) as raised:
        client.v1.payment_links.list()
    assert raised.value.http_status == status
    assert raised.value.error.type == "api_error"


@pytest.mark.parametrize("kind", ["reset", "timeout"])
def test_lost_connections_are_connection_errors(sandbox: Sandbox, http, kind):
    sandbox.faults("stripe").add_rule(kind, hold_seconds=1.0, limit=1)
    impatient = stripe_client(sandbox, http, timeout=0.3)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.payment_links.list()
    assert impatient.v1.payment_links.list().object == "list"


@pytest.mark.parametrize("kind", ["reset", "timeout", "server_error"])
def test_a_fault_after_an_idempotent_create_leaves_the_link_for_a_retry_to_replay(sandbox: Sandbox, http, kind):
    sandbox.faults("stripe").add_rule(
        kind, phase="after", path="^/v1/payment_links$", method="POST", hold_seconds=1.0, limit=1
    )
    client = stripe_client(sandbox, http, timeout=0.3)
    options: Any = {"idempotency_key": f"plink:after-{kind}"}
    before = len(sandbox.payment_links())
    with pytest.raises((stripe.APIConnectionError, stripe.APIError)):
        client.v1.payment_links.create(params=LINK_PARAMS, options=options)
    links = sandbox.payment_links()
    assert len(links) == before + 1  # Stripe made it; the answer was lost
    retried = client.v1.payment_links.create(params=LINK_PARAMS, options=options)
    assert retried.id == links[0]["id"]
    assert retried.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(sandbox.payment_links()) == before + 1


def test_a_fault_before_an_idempotent_create_makes_nothing_and_the_retry_runs(sandbox: Sandbox, client):
    sandbox.faults("stripe").add_rule("server_error", phase="before", method="POST", limit=1)
    options: Any = {"idempotency_key": "plink:before"}
    before = len(sandbox.payment_links())
    with pytest.raises(stripe.APIError):
        client.v1.payment_links.create(params=LINK_PARAMS, options=options)
    assert len(sandbox.payment_links()) == before
    link = client.v1.payment_links.create(params=LINK_PARAMS, options=options)
    assert link.last_response.headers.get("Idempotent-Replayed") is None
    assert len(sandbox.payment_links()) == before + 1


# --- rules: rate, seed, limit, filters ------------------------------------------------------------


def _failures(sandbox: Sandbox, http: requests.Session, n: int, path: str = "/v1/events") -> list[int]:
    return [i for i in range(n) if stripe_get(sandbox, http, path).status_code != 200]


def test_the_same_seed_injects_the_same_sequence(sandbox: Sandbox, http):
    faults = sandbox.faults("stripe")
    faults.add_rule("unavailable", rate=0.3)
    faults.configure(seed=42)
    first = _failures(sandbox, http, 40)
    faults.configure(seed=42)
    assert _failures(sandbox, http, 40) == first
    faults.configure(seed=43)
    assert _failures(sandbox, http, 40) != first
    assert 0 < len(first) < 40


@pytest.mark.parametrize(("rate", "expected"), [(0.0, 0), (1.0, 20)])
def test_rate_zero_never_injects_and_rate_one_always_does(sandbox: Sandbox, http, rate, expected):
    sandbox.faults("stripe").add_rule("unavailable", rate=rate)
    assert len(_failures(sandbox, http, 20)) == expected


def test_limit_caps_the_injections(sandbox: Sandbox, http):
    sandbox.faults("stripe").add_rule("unavailable", limit=3)
    assert _failures(sandbox, http, 10) == [0, 1, 2]
    assert sandbox.faults("stripe").snapshot()["rules"][0]["injected"] == 3


def test_path_and_method_filters_pick_the_requests(sandbox: Sandbox, http, client):
    sandbox.faults("stripe").add_rule("unavailable", path="/v1/payment_links", method="POST")
    assert stripe_get(sandbox, http, "/v1/payment_links").status_code == 200
    assert stripe_get(sandbox, http, "/v1/events").status_code == 200
    with pytest.raises(stripe.APIError):
        client.v1.payment_links.create(params=LINK_PARAMS)


def test_an_outage_fails_every_api_call_then_ends_by_itself(sandbox: Sandbox, http, org: Org):
    for base in (sandbox.salesforce_url, sandbox.stripe_url):
        answer = org.control("POST", base, "/faults", json={"outage_seconds": 0.5})
        assert answer.status_code == 200 and answer.json()["outage"]["active"]
    assert stripe_get(sandbox, http, "/v1/events").status_code == 503
    assert stripe_get(sandbox, http, "/v1/account").status_code == 503
    assert org.query().status_code == 503
    assert http.get(f"{sandbox.stripe_url}/__sandbox/clock", timeout=5).status_code == 200
    time.sleep(0.55)
    assert stripe_get(sandbox, http, "/v1/events").status_code == 200
    assert org.query().status_code == 200
    assert sandbox.faults("stripe").counts()["outage_failed"] == 2
    assert sandbox.faults("salesforce").counts()["outage_failed"] == 1


def test_latency_slows_api_answers_but_not_the_control_api(sandbox: Sandbox, http):
    sandbox.latency["stripe"] = 0.2
    assert sandbox.faults("stripe").latency == 0.2
    started = time.monotonic()
    stripe_get(sandbox, http, "/v1/events").raise_for_status()
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    http.get(f"{sandbox.stripe_url}/__sandbox/clock", timeout=5).raise_for_status()
    assert time.monotonic() - started < 0.2


# --- Stripe's rate limiter ------------------------------------------------------------------------


def _burst(sandbox: Sandbox, n: int, *, key: str) -> tuple[list[int], float]:
    """`n` API calls at once, each on its own connection; their statuses and the burst's duration."""
    statuses: list[int] = []
    start = threading.Barrier(n)

    def call() -> None:
        with requests.Session() as session:
            start.wait()
            statuses.append(stripe_get(sandbox, session, "/v1/account", key=key).status_code)

    threads = [threading.Thread(target=call) for _ in range(n)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, time.monotonic() - began


def test_rate_limit_refuses_test_mode_calls_beyond_25_a_second(sandbox: Sandbox):
    sandbox.faults("stripe").configure(rate_limit=True)
    statuses, took = _burst(sandbox, 40, key=sandbox.credentials.stripe_test_key)
    refused = statuses.count(429)
    if took < 1.0:  # the whole burst fell in one window
        assert (statuses.count(200), refused) == (25, 15)
    else:
        assert refused >= 1 and statuses.count(200) >= 25
    assert sandbox.faults("stripe").counts()["rate_limited"] == refused


def test_rate_limit_lets_a_burst_under_the_limit_through(sandbox: Sandbox):
    sandbox.faults("stripe").configure(rate_limit=True)
    statuses, _ = _burst(sandbox, 20, key=sandbox.credentials.stripe_test_key)
    assert statuses == [200] * 20
    live, _ = _burst(sandbox, 60, key=sandbox.credentials.stripe_live_key)  # live mode allows 100
    assert live == [200] * 60


def test_rate_limited_answer_is_stripes_and_spares_the_control_api(sandbox: Sandbox, http, client):
    sandbox.faults("stripe").configure(rate_limit={"test": 0})
    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.events.list()
    assert raised.value.error.code == "rate_limit"
    assert raised.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    assert http.get(f"{sandbox.stripe_url}/__sandbox/clock", timeout=5).status_code == 200
    assert http.get(f"{sandbox.stripe_url}/__sandbox/pay/test_unknown", timeout=5).status_code == 404
    assert sandbox.faults("stripe").snapshot()["rate_limit"] == {"test": 0, "live": 100}


# --- the control API -------------------------------------------------------------------------------


def test_control_api_sets_shows_and_clears_the_configuration(sandbox: Sandbox, http, org: Org):
    base = sandbox.salesforce_url
    config = {
        "seed": 42,
        "latency": 0.01,
        "rules": [{"kind": "unable_to_lock_row", "rate": 1, "path": "/composite", "limit": 1}],
    }
    shown = org.control("POST", base, "/faults", json=config).json()
    assert (shown["service"], shown["seed"], shown["latency"]) == ("salesforce", 42, 0.01)
    assert shown["rules"][0]["kind"] == "unable_to_lock_row" and shown["rules"][0]["injected"] == 0
    answer = org.call("POST", "composite", json={"allOrNone": False, "compositeRequest": []})
    assert answer.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    shown = org.control("GET", base, "/faults").json()
    assert shown["counts"]["injected"] == {"unable_to_lock_row": 1}
    path = f"/services/data/v{VERSION}/composite"
    assert shown["recent"] == [{"kind": "unable_to_lock_row", "phase": "before", "method": "POST", "path": path}]
    cleared = org.control("DELETE", base, "/faults").json()
    assert (cleared["rules"], cleared["latency"], cleared["outage"]["active"]) == ([], 0.0, False)
    assert cleared["counts"]["injected"] == {"unable_to_lock_row": 1}  # counts stay until reset
    assert org.control("DELETE", base, "/faults/counts").json()["counts"]["injected"] == {}
    added = org.control("POST", base, "/faults/rules", json={"kind": "reset", "limit": 1})
    assert added.status_code == 201 and added.json()["rules"][0]["kind"] == "reset"


@pytest.mark.parametrize(
    "body",
    [
        {"rules": [{"kind": "rate_limit"}]},  # a Stripe kind on the org
        {"rules": [{"kind": "reset", "rate": 2}]},
        {"rules": [{"kind": "reset", "phase": "during"}]},
        {"rules": [{"kind": "reset", "path": "("}]},
        {"rules": [{"kind": "reset", "colour": "red"}]},
        {"rules": [{"kind": "reset", "should_retry": True}]},  # a Stripe header
        {"rate_limit": True},  # Salesforce has no per-second limit here
        {"latency": -1},
        {"outage_minutes": 1},
    ],
)
def test_control_api_refuses_a_bad_configuration_and_keeps_the_old(sandbox: Sandbox, org: Org, body):
    base = sandbox.salesforce_url
    org.control("POST", base, "/faults", json={"latency": 0.01}).raise_for_status()
    answer = org.control("POST", base, "/faults", json={"latency": 0.02, **body})  # all or nothing
    assert answer.status_code == 400
    assert "bad fault configuration" in answer.json()["error"]
    assert org.control("GET", base, "/faults").json()["latency"] == 0.01


def test_stopping_the_sandbox_drops_held_requests_at_once():
    sandbox = Sandbox().start()
    sandbox.faults("stripe").add_rule("timeout", phase="before")  # holds 30 s by default
    errors: list[Exception] = []

    def held() -> None:
        with requests.Session() as http:
            try:
                stripe_get(sandbox, http, "/v1/events")
            except requests.RequestException as exc:
                errors.append(exc)

    thread = threading.Thread(target=held)
    thread.start()
    while not sandbox.faults("stripe").counts()["injected"]:
        time.sleep(0.01)
    started = time.monotonic()
    sandbox.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 2
    assert not thread.is_alive() and len(errors) == 1

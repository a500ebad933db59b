"""SalesforceCrm against the org emulator over loopback HTTPS: reads, writes, sessions and failures."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sync.adapters.salesforce.gateway import SalesforceCrm
from sync.config.settings import Settings
from sync.domain.actions import CreatePayment
from sync.domain.changes import PaymentChange
from sync.domain.errors import ConfigError, RetryableError
from sync.domain.models import CrmSnapshot, PaymentStatus, PaymentType, StripeMode
from sync.domain.requests import Policy, plan_intake
from sync.ports import OutboundEmail, PaymentUpdate, WriteStatus
from sync.sandbox.environment import Sandbox
from sync.sandbox.salesforce.ids import to_18
from tests.integration.conftest import SentRequests, settings_for
from tests.jwt_keys import key_and_certificate

CrmFor = Callable[[Settings], SalesforceCrm]


def flagged_project(sandbox: Sandbox, name: str, **request: object) -> str:
    project = sandbox.add_project(name, customer_email="pat@example.com", contract_amount=Decimal("40000.00"))
    sandbox.request_payment(project, **{"type": "deposit", **request})  # type: ignore[arg-type]
    return project


def intake_actions(crm: SalesforceCrm) -> list[CreatePayment]:
    """What the core would ask for the flagged Projects the CRM reports now."""
    return [plan_intake(r, policy=Policy()) for r in crm.read_snapshot().project_requests]


def api_calls_during(sandbox: Sandbox, work: Callable[[], object]) -> dict[str, int]:
    sandbox.salesforce.reset_api_calls()
    work()
    return sandbox.salesforce.api_calls()["by_endpoint"]  # type: ignore[return-value]


def snapshot_counting_calls(sandbox: Sandbox, crm: SalesforceCrm) -> tuple[CrmSnapshot, dict[str, int]]:
    """The CRM snapshot, and the API calls reading it took, by endpoint."""
    read: list[CrmSnapshot] = []
    calls = api_calls_during(sandbox, lambda: read.append(crm.read_snapshot()))
    return read[0], calls


# --- reads -----------------------------------------------------------------------------------------


def test_snapshot_has_active_setups_flagged_projects_with_their_payments_and_requested_payments_in_one_call(
    sandbox: Sandbox, crm: SalesforceCrm
):
    setup = sandbox.add_setup(after_payment_message="Thank you")
    sandbox.add_setup(active=False, mode="live", key=sandbox.credentials.stripe_live_key)
    kitchen = flagged_project(sandbox, "Kitchen", type="final", description="Balance")
    sandbox.create_payment(kitchen, type="deposit", amount="20000.00", status="paid")
    deck = sandbox.add_project("Deck", customer_email="jo@example.com", contract_amount=Decimal("9800"))
    requested = sandbox.create_payment(deck, type="progress", amount="1234.56", description="Framing")
    sandbox.create_payment(deck, type="custom", amount="5.00", status="link_sent")
    crm.connect()

    snapshot = None

    def read() -> None:
        nonlocal snapshot
        snapshot = crm.read_snapshot()

    assert api_calls_during(sandbox, read) == {"POST composite": 1}
    assert snapshot is not None
    [active] = snapshot.setups
    assert active.id == setup and active.mode is StripeMode.TEST
    assert active.secret_key is not None
    assert active.secret_key.get_secret_value() == sandbox.credentials.stripe_test_key
    assert active.after_payment_message == "Thank you"
    [project] = snapshot.project_requests
    assert project.project_id == kitchen and project.project_name == "Kitchen"
    assert project.customer_email == "pat@example.com" and project.contract_amount == Decimal("40000")
    assert project.request_type is PaymentType.FINAL and project.description == "Balance"
    assert project.requested_at is not None and project.requested_at.tzinfo is not None
    assert [(p.amount, p.status) for p in project.payments] == [(Decimal("20000"), PaymentStatus.PAID)]
    [payment] = snapshot.requested_payments
    assert payment.id == requested and payment.project_id == deck and payment.project_name == "Deck"
    assert payment.amount == Decimal("1234.56") and payment.type is PaymentType.PROGRESS
    assert payment.project_customer_email == "jo@example.com"


def test_snapshot_follows_every_page_of_each_query_instead_of_truncating(small_batch_sandbox: Sandbox, crm_for: CrmFor):
    sandbox = small_batch_sandbox
    setups = {sandbox.add_setup() for _ in range(3)}
    projects = {flagged_project(sandbox, f"Project {i}") for i in range(5)}
    payments = {sandbox.create_payment(next(iter(projects)), type="custom", amount="10.00") for _ in range(5)}
    crm = crm_for(settings_for(sandbox))
    crm.connect()

    snapshot, calls = snapshot_counting_calls(sandbox, crm)

    assert {s.id for s in snapshot.setups} == setups
    assert {p.project_id for p in snapshot.project_requests} == projects
    assert {p.id for p in snapshot.requested_payments} == payments
    # One composite call, then the remaining pages: setups 3 = 2+1, projects 5 = 2+2+1, payments likewise.
    assert sum(calls.values()) == 1 + 1 + 2 + 2
    assert calls["POST composite"] == 1


def test_requested_payments_query_follows_every_page(small_batch_sandbox: Sandbox, crm_for: CrmFor):
    sandbox = small_batch_sandbox
    project = sandbox.add_project("Deck", customer_email="jo@example.com")
    payments = {sandbox.create_payment(project, type="custom", amount="10.00") for _ in range(5)}
    crm = crm_for(settings_for(sandbox))

    assert {p.id for p in crm.read_requested_payments()} == payments


def test_payments_come_back_200_a_batch_for_their_long_text_fields_and_projects_2000(
    sandbox: Sandbox, crm: SalesforceCrm
):
    # The default org's Payment query selects three custom long text fields (Sync Error, Last Failure,
    # Sync Log), so a real org answers it 200 records a batch; the Project query selects one (Request
    # Description), which does not lower the batch.
    projects = {flagged_project(sandbox, f"Project {i}") for i in range(250)}
    deck = sandbox.add_project("Deck", customer_email="jo@example.com")
    payments = {sandbox.create_payment(deck, type="custom", amount="10.00") for _ in range(250)}
    crm.connect()

    snapshot, calls = snapshot_counting_calls(sandbox, crm)

    assert {p.project_id for p in snapshot.project_requests} == projects
    assert {p.id for p in snapshot.requested_payments} == payments
    # One composite call (each query's first batch), then the Payments' second batch: 250 = 200 + 50.
    assert calls == {"POST composite": 1, "GET query": 1}


def test_describe_of_an_object_the_org_lacks_is_none(sandbox: Sandbox, crm: SalesforceCrm):
    assert crm.describe("No_Such_Object__c") is None
    described = crm.describe(sandbox.mapping.payment.object)
    assert described is not None and described["name"] == sandbox.mapping.payment.object


# --- intake (Composite Graph) ----------------------------------------------------------------------


def test_create_payments_creates_each_payment_and_clears_its_flag_in_one_graph_call(
    sandbox: Sandbox, crm: SalesforceCrm
):
    kitchen = flagged_project(sandbox, "Kitchen", description="Deposit on signing")
    bath = flagged_project(sandbox, "Bath", type="progress", amount="1500.00")
    actions = intake_actions(crm)

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.create_payments(actions)))

    assert calls == {"POST composite/graph": 1}
    assert [r.error for r in results] == [None, None]
    by_id = {p["id"]: p for p in sandbox.payments()}
    assert set(by_id) == {r.record_id for r in results}
    assert {p["project"] for p in by_id.values()} == {kitchen, bath}
    kitchen_payment = next(p for p in by_id.values() if p["project"] == kitchen)
    assert kitchen_payment["amount"] == Decimal("20000.00") and kitchen_payment["status"] == "requested"
    assert kitchen_payment["request_key"] == actions[[a.project_id for a in actions].index(kitchen)].draft.request_key
    for project in (kitchen, bath):
        fields = sandbox.project(project)
        assert fields["request_payment"] is False
        assert fields["requested_amount"] is None and fields["request_type"] is None


def test_project_edited_after_it_was_read_rolls_back_its_graph_and_is_reported_retryable(
    sandbox: Sandbox, crm: SalesforceCrm
):
    project = flagged_project(sandbox, "Kitchen")
    [action] = intake_actions(crm)
    sandbox.clock.advance(timedelta(seconds=2))
    sandbox.request_payment(project, type="progress", amount="300.00")  # staff change the request meanwhile

    [result] = crm.create_payments([action])

    assert result.record_id is None and result.duplicate is False
    assert result.status is WriteStatus.DEFERRED and result.error
    assert "PRECONDITION_FAILED" in result.error
    assert sandbox.payments() == []  # the Payment created first in the graph was rolled back
    fields = sandbox.project(project)
    assert fields["request_payment"] is True and fields["requested_amount"] == Decimal("300")


def test_one_edited_project_does_not_stop_the_intake_of_the_others_in_the_same_call(
    sandbox: Sandbox, crm: SalesforceCrm
):
    edited = flagged_project(sandbox, "Kitchen")
    untouched = flagged_project(sandbox, "Bath")
    actions = intake_actions(crm)
    sandbox.clock.advance(timedelta(seconds=2))
    sandbox.update_project(edited, requested_amount=Decimal("10.00"))

    results = dict(zip([a.project_id for a in actions], crm.create_payments(actions), strict=True))

    assert results[edited].status is WriteStatus.DEFERRED
    assert results[untouched].error is None
    [payment] = sandbox.payments()
    assert payment["id"] == results[untouched].record_id and payment["project"] == untouched


def test_request_key_already_used_is_reported_as_duplicate_and_creates_nothing_more(
    sandbox: Sandbox, crm: SalesforceCrm
):
    flagged_project(sandbox, "Kitchen")
    [action] = intake_actions(crm)
    [first] = crm.create_payments([action])

    [again] = crm.create_payments([action])  # e.g. the worker crashed before it saw the first answer

    assert first.error is None
    assert again.duplicate is True and again.record_id is None
    assert again.error is not None and "DUPLICATE_VALUE" in again.error
    assert [p["id"] for p in sandbox.payments()] == [first.record_id]


# --- updates, email, setup -------------------------------------------------------------------------


def test_update_payments_writes_200_a_call_and_one_deleted_record_fails_alone(sandbox: Sandbox, crm: SalesforceCrm):
    project = sandbox.add_project("Estate", customer_email="pat@example.com")
    ids = [sandbox.create_payment(project, type="custom", amount="10.00") for _ in range(450)]
    deleted = ids[321]
    sandbox.salesforce.delete_record(sandbox.mapping.payment.object, deleted)
    sent_at = datetime(2026, 11, 26, 15, 3, 9, tzinfo=UTC)
    updates = [
        PaymentUpdate(pid, PaymentChange(status=PaymentStatus.LINK_SENT, last_sent_at=sent_at, sync_error=None))
        for pid in ids
    ]

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.update_payments(updates)))

    assert calls == {"PATCH composite/sobjects": 3}
    assert [r.record_id for r in results] == ids
    failed = [r for r in results if r.error is not None]
    assert [r.record_id for r in failed] == [deleted]
    assert "ENTITY_IS_DELETED" in (failed[0].error or "")
    assert failed[0].status is WriteStatus.REFUSED
    stored = {p["id"]: p for p in sandbox.payments()}
    assert deleted not in stored
    assert {p["status"] for p in stored.values()} == {"link_sent"} and len(stored) == 449
    assert {p["last_sent_at"] for p in stored.values()} == {"2026-11-26T15:03:09.000+0000"}


@pytest.mark.parametrize("partial_save", [True, False])
def test_send_emails_makes_one_call_for_many_and_reports_each_failure_on_its_own(
    sandbox: Sandbox, crm: SalesforceCrm, partial_save: bool
):
    sandbox.salesforce.set_partial_save(partial_save)
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com")
    payments = [sandbox.create_payment(project, type="custom", amount="10.00") for _ in range(3)]
    emails = [
        OutboundEmail(to="pat@example.com", subject="Your link", body="Pay here: A", related_record_id=payments[0]),
        OutboundEmail(to="not-an-address", subject="Your link", body="Pay here: B", related_record_id=payments[1]),
        OutboundEmail(to="jo@example.com", subject="Your link", body="Pay here: C", related_record_id=payments[2]),
    ]

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.send_emails(emails)))

    # The single emails left are read first; an org without partial save rolled the good two back
    # with the bad one, and they are sent again at once without it.
    assert calls == {"GET limits": 1, "POST actions/standard/emailSimple": 1 if partial_save else 2}
    assert [r.record_id for r in results] == payments
    assert [r.error is None for r in results] == [True, False, True]
    assert "INVALID_EMAIL_ADDRESS" in (results[1].error or "")
    outbox = sandbox.outbox()
    assert [(m["to"], m["body"], m["related_record_id"]) for m in outbox] == [
        (["pat@example.com"], "Pay here: A", payments[0]),
        (["jo@example.com"], "Pay here: C", payments[2]),
    ]
    assert all(m["log_email_on_send"] and m["sender_type"] == "CurrentUser" for m in outbox)


def test_update_setup_writes_status_masked_error_and_verification_time(sandbox: Sandbox, crm: SalesforceCrm):
    setup = sandbox.add_setup()
    verified = datetime(2026, 11, 26, 15, 3, 9, 120000, tzinfo=UTC)
    crm.update_setup(setup, status="Connected", error=None, verified_at=verified)
    leaked = "rk_test_" + "Q" * 24

    crm.update_setup(setup, status="Invalid Key", error=f"Stripe refused {leaked}", verified_at=None)

    stored = sandbox.setup(setup)
    assert stored["connection_status"] == "Invalid Key"
    assert leaked not in stored["last_error"] and stored["last_error"].startswith("Stripe refused ")
    assert stored["last_verified_at"] == "2026-11-26T15:03:09.120+0000"  # a write without a time keeps it


# --- JWT bearer login ----------------------------------------------------------------------------


def jwt_app(sandbox: Sandbox, directory: Path) -> tuple[str, Path]:
    """Register a JWT app on the org with a fresh certificate; return its consumer key and private key file."""
    pem, certificate = key_and_certificate(directory, filename="server.key")
    consumer_key = "3MVG9jwtapp"
    sandbox.salesforce.register_jwt_app(
        consumer_key=consumer_key, certificate_pem=certificate, username=sandbox.credentials.username
    )
    return consumer_key, pem


def test_jwt_bearer_login_reads_the_org(sandbox: Sandbox, crm_for: CrmFor, tmp_path: Path):
    consumer_key, pem = jwt_app(sandbox, tmp_path)
    setup = sandbox.add_setup()
    crm = crm_for(
        settings_for(
            sandbox,
            SALESFORCE_AUTH="jwt",
            SALESFORCE_CLIENT_ID=consumer_key,
            SALESFORCE_USERNAME=sandbox.credentials.username,
            SALESFORCE_PRIVATE_KEY_FILE=str(pem),
        )
    )

    crm.connect()

    assert [s.id for s in crm.read_snapshot().setups] == [setup]


def test_jwt_for_a_user_the_app_does_not_know_is_a_config_error_naming_the_settings(
    sandbox: Sandbox, crm_for: CrmFor, tmp_path: Path
):
    consumer_key, pem = jwt_app(sandbox, tmp_path)
    crm = crm_for(
        settings_for(
            sandbox,
            SALESFORCE_AUTH="jwt",
            SALESFORCE_CLIENT_ID=consumer_key,
            SALESFORCE_USERNAME="someone-else@example.com",
            SALESFORCE_PRIVATE_KEY_FILE=str(pem),
        )
    )

    with pytest.raises(ConfigError, match="SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY_FILE") as raised:
        crm.connect()

    assert pem.read_text().splitlines()[1] not in str(raised.value)


# --- sessions and failures -------------------------------------------------------------------------


def test_expired_session_is_renewed_once_and_the_same_request_is_sent_again(
    sandbox: Sandbox, crm: SalesforceCrm, sent: SentRequests
):
    flagged_project(sandbox, "Kitchen")
    [action] = intake_actions(crm)
    sandbox.salesforce.expire_all_tokens()
    sent.clear()

    [result] = crm.create_payments([action])

    assert result.error is None
    assert len(sent.to("/services/oauth2/token")) == 1
    refused, resent = sent.to("/composite/graph")
    assert resent.body == refused.body
    assert resent.headers["Authorization"] != refused.headers["Authorization"]
    assert {**resent.headers, "Authorization": ""} == {**refused.headers, "Authorization": ""}
    [graph] = json.loads(resent.body)["graphs"]  # type: ignore[arg-type]
    clear_flag = graph["compositeRequest"][1]
    assert clear_flag["method"] == "PATCH" and "If-Unmodified-Since" in clear_flag["httpHeaders"]
    assert len(sandbox.payments()) == 1


def test_session_refused_again_right_after_login_is_retryable_not_a_loop(
    start_sandbox: Callable[..., Sandbox], crm_for: CrmFor, sent: SentRequests
):
    sandbox = start_sandbox(token_ttl_seconds=0)  # every session has expired by its first use
    crm = crm_for(settings_for(sandbox))

    with pytest.raises(RetryableError, match="expired"):
        crm.read_snapshot()

    assert len(sent.to("/services/oauth2/token")) == 2  # the first login, then one renewal


def test_refused_credentials_stop_the_worker_with_a_config_error_that_shows_no_secret(
    sandbox: Sandbox, crm_for: CrmFor
):
    wrong_secret = "f0" * 24
    crm = crm_for(settings_for(sandbox, SALESFORCE_CLIENT_SECRET=wrong_secret))

    with pytest.raises(ConfigError) as raised:
        crm.connect()

    text = str(raised.value)
    assert "SALESFORCE_CLIENT_SECRET" in text
    for secret in (wrong_secret, sandbox.credentials.client_secret, sandbox.credentials.client_id):
        assert secret not in text and secret not in repr(raised.value)


def test_unknown_client_id_is_a_config_error(sandbox: Sandbox, crm_for: CrmFor):
    crm = crm_for(settings_for(sandbox, SALESFORCE_CLIENT_ID="3MVG9unknownapp"))

    with pytest.raises(ConfigError, match="SALESFORCE_CLIENT_ID"):
        crm.connect()


def test_salesforce_unreachable_at_login_is_retryable(sandbox: Sandbox, crm_for: CrmFor, closed_port: int):
    crm = crm_for(settings_for(sandbox, SALESFORCE_LOGIN_URL=f"https://127.0.0.1:{closed_port}"))

    with pytest.raises(RetryableError):
        crm.connect()


def test_salesforce_unreachable_after_login_is_retryable(sandbox: Sandbox, crm_for: CrmFor, closed_port: int):
    crm = crm_for(settings_for(sandbox, SALESFORCE_INSTANCE_URL=f"https://127.0.0.1:{closed_port}"))
    crm.connect()

    with pytest.raises(RetryableError, match="unreachable"):
        crm.read_snapshot()


def test_daily_api_limit_reached_is_retryable_after_a_pause(sandbox: Sandbox, crm: SalesforceCrm):
    crm.connect()
    sandbox.salesforce.set_api_limit(daily_limit=100, used=100)

    with pytest.raises(RetryableError, match="REQUEST_LIMIT_EXCEEDED") as raised:
        crm.read_snapshot()

    assert raised.value.retry_after is not None and raised.value.retry_after > 0


def test_two_thousand_ids_are_read_in_requests_each_within_the_orgs_url_and_headers_limit(
    sandbox: Sandbox, crm: SalesforceCrm, sent: SentRequests
):
    # A real org refuses a request whose URI and headers pass 16,384 bytes (414 or 431), and an id
    # list in a GET query's URL grows by 28 bytes an id: the worker must split a long list.
    deck = sandbox.add_project("Deck", customer_email="jo@example.com")
    payments = [sandbox.create_payment(deck, type="custom", amount="10.00") for _ in range(3)]
    prefix = payments[0][:3]
    absent = [to_18(f"{prefix}{n:012d}") for n in range(1997)]  # well-formed ids of no record
    crm.update_payments(
        [PaymentUpdate(p, PaymentChange(payment_intent_id=f"pi_{n:024d}")) for n, p in enumerate(payments)]
    )
    intents = [f"pi_{n:024d}" for n in range(2000)]

    assert {p.id for p in crm.read_payments(payments + absent)} == set(payments)
    assert crm.deleted_payments(payments + absent) == ()
    assert set(crm.payment_ids_for_intents(intents).values()) == set(payments)
    assert crm.logged_emails(payments + absent) == ()

    reads = [r for r in sent if r.method == "GET"]
    assert len(reads) >= 4 * 10  # 2,000 ids, 200 a query
    for request in reads:
        headers = sum(len(f"{k}: {v}\r\n".encode()) for k, v in request.headers.items())
        assert len((request.path_url or "").encode()) + headers <= 16_384


TIMEOUT = 0.5


@pytest.mark.timeout(10)  # without a timeout the call would wait for ever: fail fast
def test_login_that_never_answers_times_out_as_retryable(sandbox: Sandbox, crm_for: CrmFor, silent_port: int):
    crm = crm_for(
        settings_for(
            sandbox, SALESFORCE_LOGIN_URL=f"https://127.0.0.1:{silent_port}", SALESFORCE_TIMEOUT_SECONDS=str(TIMEOUT)
        )
    )
    started = time.monotonic()

    with pytest.raises(RetryableError):
        crm.connect()

    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT * 4


@pytest.mark.timeout(10)  # without a timeout the call would wait for ever: fail fast
def test_api_call_that_never_answers_times_out_as_retryable(sandbox: Sandbox, crm_for: CrmFor, silent_port: int):
    crm = crm_for(
        settings_for(
            sandbox,
            SALESFORCE_INSTANCE_URL=f"https://127.0.0.1:{silent_port}",
            SALESFORCE_TIMEOUT_SECONDS=str(TIMEOUT),
        )
    )
    crm.connect()  # the login goes to the sandbox; the instance never answers
    started = time.monotonic()

    with pytest.raises(RetryableError, match="unreachable"):
        crm.update_payments([PaymentUpdate("a025g0000000Q0zAAE", PaymentChange(sync_error=None))])

    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT * 4


def test_each_projects_payments_are_all_read_when_the_org_pages_them_and_the_projects(
    paged_subqueries_sandbox: Sandbox, crm_for: CrmFor
):
    # A real org pages a subquery's child rows apart from their parents (499 a batch), and paging
    # the parents on releases the child cursors of the batch before (INVALID_QUERY_LOCATOR).
    sandbox = paged_subqueries_sandbox
    projects = [flagged_project(sandbox, f"Project {i}", type="progress", amount="10.00") for i in range(3)]
    for n, project in enumerate(projects):
        for k in range(n + 3):
            sandbox.create_payment(project, type="custom", amount=f"{k + 1}.00", status="paid")
    crm = crm_for(settings_for(sandbox))
    crm.connect()

    snapshot = crm.read_snapshot()

    read = {p.project_id: sorted(x.amount for x in p.payments) for p in snapshot.project_requests}
    assert read == {p: [Decimal(k + 1) for k in range(n + 3)] for n, p in enumerate(projects)}


def test_a_payments_refunds_are_all_read_when_the_org_pages_them(paged_subqueries_sandbox: Sandbox, crm_for: CrmFor):
    sandbox = paged_subqueries_sandbox
    deck = sandbox.add_project("Deck", customer_email="jo@example.com")
    payments = [sandbox.create_payment(deck, type="custom", amount="100.00", status="paid") for _ in range(3)]
    refunds = {p: [sandbox.request_refund(p, amount=f"{k + 1}.00") for k in range(5)] for p in payments}
    crm = crm_for(settings_for(sandbox))

    by_id = {p.id: p for p in crm.read_payments(payments)}  # 3 Payments: two pages of parents
    in_snapshot = {p.id: p for p in crm.read_snapshot().refund_payments}

    for read in (by_id, in_snapshot):
        assert {p: [r.id for r in read[p].refunds] for p in payments} == refunds


def test_clearing_a_taken_requests_flag_leaves_a_project_changed_since_alone(sandbox: Sandbox):
    crm = SalesforceCrm(settings=settings_for(sandbox), mapping=sandbox.mapping)
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("100"))
    sandbox.request_payment(project, type="progress", amount="10.00")
    [read] = crm.read_snapshot().project_requests
    sandbox.clock.advance(timedelta(seconds=2))
    sandbox.request_payment(project, type="progress", amount="20.00")  # staff asked again meanwhile

    with pytest.raises(RetryableError):
        crm.clear_request_flag(project, unmodified_since=read.last_modified)
    assert sandbox.project(project)["request_payment"] is True

    [fresh] = crm.read_snapshot().project_requests
    crm.clear_request_flag(project, unmodified_since=fresh.last_modified)
    assert sandbox.project(project)["request_payment"] is False


def test_more_queries_than_a_composite_call_may_hold_are_split_over_several(
    sandbox: Sandbox, crm: SalesforceCrm, sent: SentRequests
):
    # A composite call holds at most five queries (the org answers LIMIT_EXCEEDED past them); a
    # cycle's snapshot reads five today, so a sixth must not break every cycle.
    sandbox.add_project("Shed", customer_email="lee@example.com")
    queries = {f"q{n}": "SELECT Id FROM Project__c" for n in range(7)}

    results = crm._composite_queries(queries)

    assert sorted(results) == sorted(queries) and all(len(rows) == 1 for rows in results.values())
    assert len(sent.to("/composite")) == 2


def test_requests_behind_more_than_fourteen_refused_ones_are_still_created_in_the_same_cycle(
    sandbox: Sandbox, crm: SalesforceCrm
):
    # Past 14 failed graphs the org halts the rest of the call (PROCESSING_HALTED); the halted
    # graphs were never tried and are sent again at once, so refused requests never starve others.
    rule = "Payments for this customer are on hold."
    sandbox.add_validation_rule("payment", rule, on=("insert",), description="HOLD")
    held = [flagged_project(sandbox, f"Held {n}", type="custom", amount="10.00", description="HOLD") for n in range(16)]
    fine = [flagged_project(sandbox, f"Fine {n}", type="custom", amount="10.00", description="Go") for n in range(3)]
    actions = intake_actions(crm)
    assert [a.project_id for a in actions] == held + fine  # the refused ones come first

    results = []
    calls = api_calls_during(sandbox, lambda: results.extend(crm.create_payments(actions)))

    assert calls == {"POST composite/graph": 2}
    by_project = dict(zip([a.project_id for a in actions], results, strict=True))
    assert all(by_project[p].error is None and by_project[p].record_id for p in fine)
    assert all(rule in (by_project[p].error or "") and not by_project[p].deferred for p in held)

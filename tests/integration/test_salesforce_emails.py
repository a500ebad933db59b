"""The email send against the org emulator: logged on the Payment, a lost answer settled from that
log, and the org settings the send relies on (activities, a verified sender, the daily limit)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from sync.adapters.salesforce.gateway import SalesforceCrm, _may_have_arrived
from sync.ports import OutboundEmail
from sync.sandbox.environment import Sandbox
from tests.integration.conftest import SentRequests


def _payment(sandbox: Sandbox) -> str:
    project = sandbox.add_project("Porch", customer_email="kim@example.com")
    return sandbox.create_payment(project, amount=Decimal("300"), type="custom", description="Steps")


def _email(payment_id: str, body: str = "Pay here: https://pay.example/1") -> OutboundEmail:
    return OutboundEmail(to="kim@example.com", subject="Your payment link", body=body, related_record_id=payment_id)


def test_a_sent_email_is_logged_on_its_payment_and_read_back(sandbox: Sandbox, crm: SalesforceCrm):
    payment = _payment(sandbox)
    [result] = crm.send_emails([_email(payment)])
    assert result.error is None
    [logged] = crm.logged_emails([payment])
    assert (logged.related_record_id, logged.body) == (payment, "Pay here: https://pay.example/1")
    assert logged.is_of(_email(payment)) and not logged.is_of(_email(payment, body="another"))
    assert crm.logged_emails([_payment(sandbox)]) == ()


def test_a_send_whose_answer_was_lost_after_it_was_done_counts_as_sent(sandbox: Sandbox, crm: SalesforceCrm):
    payment = _payment(sandbox)
    crm.connect()
    sandbox.faults("salesforce").add_rule("reset", path="emailSimple", phase="after", limit=1)
    [result] = crm.send_emails([_email(payment)])
    assert (result.error, result.deferred) == (None, False)
    assert len(sandbox.outbox()) == 1


def test_a_send_whose_answer_was_lost_before_it_was_done_is_deferred_not_repeated(sandbox: Sandbox, crm: SalesforceCrm):
    payment = _payment(sandbox)
    crm.connect()
    sandbox.faults("salesforce").add_rule("reset", path="emailSimple", phase="before", limit=1)
    [result] = crm.send_emails([_email(payment)])
    assert result.deferred and result.error is not None
    assert sandbox.outbox() == []  # nothing sent, and nothing sent blind: the next cycle decides


@pytest.mark.parametrize("kind", ["unavailable", "unable_to_lock_row", "invalid_session"])
@pytest.mark.parametrize("phase", ["before", "after"])
def test_an_error_answer_to_a_send_is_settled_from_the_log_never_sent_again_blind(
    sandbox: Sandbox, crm: SalesforceCrm, kind: str, phase: str
):
    # A 503, a lock error or an expired session may come after the org did the work (a proxy, a
    # node that timed out): the email log decides, and nothing is sent twice.
    payment = _payment(sandbox)
    crm.connect()
    sandbox.faults("salesforce").add_rule(kind, path="emailSimple", phase=phase, limit=1)
    [result] = crm.send_emails([_email(payment)])
    assert len(sandbox.outbox()) == (1 if phase == "after" else 0)
    assert (result.error is None) == (phase == "after") and result.deferred == (phase == "before")


def test_only_a_connection_never_made_is_sure_not_to_have_arrived():
    refused = requests.ConnectionError(MaxRetryError(None, "/", NewConnectionError(None, "refused")))  # type: ignore[arg-type]
    reset = requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))
    assert not _may_have_arrived(refused) and not _may_have_arrived(requests.ConnectTimeout())
    assert _may_have_arrived(reset) and _may_have_arrived(requests.ReadTimeout())
    assert not _may_have_arrived(None) and not _may_have_arrived(ValueError())


def test_with_activities_off_the_send_is_refused_and_nothing_goes_out(sandbox: Sandbox, crm: SalesforceCrm):
    payment = _payment(sandbox)
    sandbox.salesforce.set_activities(sandbox.mapping.payment.object, enabled=False)
    [result] = crm.send_emails([_email(payment)])
    assert result.error is not None and "FIELD_INTEGRITY_EXCEPTION" in result.error and "Related To ID" in result.error
    assert sandbox.outbox() == [] and crm.logged_emails([payment]) == ()
    described = crm.describe(sandbox.mapping.payment.object)
    assert described is not None
    assert not any(r["childSObject"] == "EmailMessage" for r in described["childRelationships"])


def test_an_unverified_sender_is_seen_and_its_mail_dropped_without_a_word(sandbox: Sandbox, crm: SalesforceCrm):
    payment = _payment(sandbox)
    crm.connect()
    assert crm.sender_verified() is True
    sandbox.salesforce.set_email_verified(sandbox.credentials.username, False)
    assert crm.sender_verified() is False
    [result] = crm.send_emails([_email(payment)])
    assert result.error is None  # as Salesforce may answer: the sender is not told
    assert sandbox.outbox() == [] and [m["dropped"] for m in sandbox.salesforce.outbox(dropped=True)] == [True]


def test_emails_past_the_daily_limit_wait_unsent_and_the_org_refuses_any_that_get_through(
    sandbox: Sandbox, crm: SalesforceCrm, sent: SentRequests
):
    payment = _payment(sandbox)
    sandbox.salesforce.set_api_limit(single_email_max=1)
    assert crm.single_emails_left() == (1, 1)

    first, second = crm.send_emails([_email(payment), _email(payment, body="again")])

    assert first.error is None and second.error is not None and "SINGLE_EMAIL_LIMIT_EXCEEDED" in second.error
    assert len(sent.to("/emailSimple")) == 1  # the second was never sent into a refusal
    assert crm.single_emails_left() == (0, 1) and len(sandbox.outbox()) == 1

    sandbox.salesforce.set_api_limit(single_email_max=2)  # the worker's count is a minute old: it tries
    crm._email_quota = 1
    [third] = crm.send_emails([_email(payment, body="third")])
    assert third.error is None
    crm._email_quota = 1  # the org's count is what counts: past it, the org refuses
    [fourth] = crm.send_emails([_email(payment, body="fourth")])
    assert fourth.error == "SINGLE_EMAIL_LIMIT_EXCEEDED: Email limit exceeded" and len(sandbox.outbox()) == 2

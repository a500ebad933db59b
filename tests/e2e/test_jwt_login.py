"""The JWT bearer login, end to end: the worker signs an assertion with its key; the org checks it."""

from __future__ import annotations

from decimal import Decimal

from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker
from tests.jwt_keys import key_and_certificate


def test_worker_logs_in_with_a_jwt_and_does_the_intake_and_link_path(sandbox: Sandbox, worker: Worker, tmp_path):
    key_file, certificate = key_and_certificate(tmp_path)
    sandbox.salesforce.register_jwt_app(
        consumer_key="3MVG9jwtapp", certificate_pem=certificate, username="jwt-integration@sandbox.invalid"
    )
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="deposit")

    run = worker.once(
        SALESFORCE_AUTH="jwt",
        SALESFORCE_CLIENT_ID="3MVG9jwtapp",
        SALESFORCE_USERNAME="jwt-integration@sandbox.invalid",
        SALESFORCE_PRIVATE_KEY_FILE=str(key_file),
    )

    assert run.code == 0, run.stderr
    assert [p["status"] for p in sandbox.payments()] == ["link_sent"]


def test_a_key_the_app_does_not_know_is_refused_with_exit_2(sandbox: Sandbox, worker: Worker, tmp_path):
    _, certificate = key_and_certificate(tmp_path)
    sandbox.salesforce.register_jwt_app(
        consumer_key="3MVG9jwtapp", certificate_pem=certificate, username="jwt-integration@sandbox.invalid"
    )
    (tmp_path / "other").mkdir()
    other_key, _ = key_and_certificate(tmp_path / "other")

    run = worker.once(
        SALESFORCE_AUTH="jwt",
        SALESFORCE_CLIENT_ID="3MVG9jwtapp",
        SALESFORCE_USERNAME="jwt-integration@sandbox.invalid",
        SALESFORCE_PRIVATE_KEY_FILE=str(other_key),
    )

    assert run.code == 2
    assert "Salesforce refused the worker's login (invalid_grant" in run.stderr
    assert "SALESFORCE_PRIVATE_KEY_FILE" in run.stderr


def test_a_salesforce_sandbox_org_takes_the_audience_derived_from_the_login_url(
    sandbox: Sandbox, worker: Worker, tmp_path
):
    # A Salesforce sandbox takes JWTs for test.salesforce.com (or its own URL), never for
    # login.salesforce.com, which the worker always sent unless told otherwise.
    key_file, certificate = key_and_certificate(tmp_path)
    sandbox.salesforce.register_jwt_app(
        consumer_key="3MVG9jwtapp", certificate_pem=certificate, username="jwt-integration@sandbox.invalid"
    )
    sandbox.salesforce.accounts.sandbox_org = True
    sandbox.add_setup()
    jwt = {
        "SALESFORCE_AUTH": "jwt",
        "SALESFORCE_CLIENT_ID": "3MVG9jwtapp",
        "SALESFORCE_USERNAME": "jwt-integration@sandbox.invalid",
        "SALESFORCE_PRIVATE_KEY_FILE": str(key_file),
    }

    assert worker.once(**jwt).code == 0
    refused = worker.once(**jwt, SALESFORCE_JWT_AUDIENCE="https://login.salesforce.com")
    assert refused.code == 2 and "audience is invalid" in refused.stdout + refused.stderr

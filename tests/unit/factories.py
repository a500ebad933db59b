"""Small builders of the worker's models for table-driven tests."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sync.config.settings import Settings, load_settings
from sync.domain.models import Payment, PaymentStatus, PaymentType, ProjectRequest

T0 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)


def project_request(**overrides) -> ProjectRequest:
    values = dict(
        project_id="a01000000000001AAA",
        project_name="Kitchen remodel",
        customer_email="pat@example.com",
        contract_amount=Decimal("40000.00"),
        currency="USD",
        requested_amount=Decimal("5000.00"),
        request_type=PaymentType.PROGRESS,
        request_type_raw="Progress",
        description="Cabinets",
        requested_at=T0,
        last_modified=T0,
    )
    values.update(overrides)
    return ProjectRequest(**values)


def payment(**overrides) -> Payment:
    values = dict(
        id="a02000000000001AAA",
        project_id="a01000000000001AAA",
        project_name="Kitchen remodel",
        project_customer_email="pat@example.com",
        project_currency="usd",
        type=PaymentType.DEPOSIT,
        amount=Decimal("20000.00"),
        currency="usd",
        description="Deposit",
        status=PaymentStatus.REQUESTED,
        customer_email=None,
        link_url=None,
        payment_link_id=None,
        link_revision=0,
        sync_error=None,
        last_modified=T0 - timedelta(days=1),  # long enough ago that no worker may still be emailing it
    )
    values.update(overrides)
    return Payment(**values)


def settings(**overrides) -> Settings:
    """The worker's settings for tests of the wired worker with fakes (no .env, no Salesforce reached)."""
    values = dict(
        salesforce_login_url="https://login.example.test",
        salesforce_client_id="test-client",
        salesforce_client_secret="test-secret",
    )
    values.update(overrides)
    return load_settings(_env_file=None, **values)

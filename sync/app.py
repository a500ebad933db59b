"""The composition root: settings read once, clients built once, the runner wired here only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from sync.adapters.salesforce import SalesforceCrm
from sync.adapters.stripe_payments import StripePayments
from sync.email_templates import load_templates
from sync.mapping import Mapping, load_mapping
from sync.outcome_sync import OutcomeConfig, OutcomeSync
from sync.ports import PaymentsGateway, PaymentsGatewayFactory
from sync.retry import call_with_retries
from sync.runner import Runner, RunnerConfig
from sync.settings import Settings
from sync.stripe_connection import StripeConnection


def utc_now() -> datetime:
    """The worker's one clock; tests pass their own `now` instead."""
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    mapping: Mapping
    crm: SalesforceCrm
    connection: StripeConnection
    outcomes: OutcomeSync
    runner: Runner


def stripe_factory(settings: Settings) -> PaymentsGatewayFactory:
    def build(key: SecretStr) -> PaymentsGateway:
        return StripePayments(key=key, api_base=str(settings.stripe_api_base), timeout=settings.stripe_timeout_seconds)

    return build


def build_app(
    settings: Settings,
    *,
    now: Callable[[], datetime] = utc_now,
    stop: threading.Event | None = None,
    payments_factory: PaymentsGatewayFactory | None = None,
) -> App:
    """Build the worker from settings; raise ConfigError when the mapping or templates are unusable."""
    mapping = load_mapping(settings.crm_mapping_file)
    templates = load_templates(settings.email_template_file)
    crm = SalesforceCrm(settings=settings, mapping=mapping)
    connection = StripeConnection(
        crm=crm,
        factory=payments_factory or stripe_factory(settings),
        statuses=mapping.setup.connection_status,
        now=now,
    )
    stop = stop or threading.Event()
    interval = settings.reconcile_interval_minutes
    outcomes = OutcomeSync(
        crm=crm,
        notices=templates.staff_notices if settings.staff_notices else None,
        config=OutcomeConfig(
            lookback=timedelta(days=settings.events_lookback_days),
            reconcile_every=timedelta(minutes=interval) if interval else None,
        ),
        now=now,
        # Backoff waits on the stop event, so SIGTERM is never held up by a retry's pause.
        retry=lambda fn: call_with_retries(fn, sleep=stop.wait),
        pause=stop.wait,
        stopping=stop.is_set,
    )
    runner = Runner(
        crm=crm,
        stripe=connection,
        outcomes=outcomes,
        templates=templates,
        config=RunnerConfig(deposit_percent=settings.deposit_percent, batch_size=settings.batch_size),
        now=now,
        stop=stop,
    )
    return App(settings=settings, mapping=mapping, crm=crm, connection=connection, outcomes=outcomes, runner=runner)

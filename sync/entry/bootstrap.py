"""The one bootstrap: settings read once, clients built once, the worker wired here only.

The CLI, `reconcile`, the demo, the benchmark and the tests all build the worker with `build_app`;
tests pass fakes for its I/O parts (the CRM, the Stripe gateways, the clock, the retry's pause).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import SecretStr

from sync.adapters.salesforce.gateway import CallTimeouts, SalesforceCrm
from sync.adapters.stripe.payments import KeysMade, StripePayments
from sync.config.email_templates import load_templates
from sync.config.mapping import Mapping, load_mapping
from sync.config.settings import ClockSource, Settings
from sync.domain.errors import ConfigError
from sync.domain.staff_actions import ReminderPolicy
from sync.ports import CrmGateway, PaymentsGateway, PaymentsGatewayFactory
from sync.runtime.api_budget import ApiBudget
from sync.runtime.clock import CrmClock, utc_now
from sync.runtime.retry import Retry, call_with_retries, longest_span
from sync.runtime.throttle import STRIPE_LIMITS, TokenBucket, stripe_mode_of
from sync.service.refunds import RefundSync
from sync.service.runner import Runner, RunnerConfig
from sync.service.staff_actions import StaffSync
from sync.service.stripe_connection import StripeConnection
from sync.service.stripe_results import OutcomeConfig, OutcomeSync

T = TypeVar("T")


@dataclass
class App:
    settings: Settings
    mapping: Mapping
    crm: CrmGateway
    connection: StripeConnection
    outcomes: OutcomeSync
    runner: Runner
    budget: ApiBudget  # the org's API allowance as Salesforce reports it (never reported by a fake)
    retry: Retry  # the one retry policy, its pauses cut short by the stop event


def email_hold_for(read_timeout: float) -> timedelta:
    """The longest a live worker takes from writing a link back to its email showing in the org's
    log: the write-back's answer (one collection call), then the daily-quota read and the send, each
    under the retry policy. A link left unemailed longer than this is not on its way."""
    timeouts = CallTimeouts.scaled_from(read_timeout)
    return timedelta(seconds=timeouts.collection + longest_span(read_timeout) + longest_span(timeouts.email))


def stripe_factory(settings: Settings) -> PaymentsGatewayFactory:
    """Gateways for the Setup's key; one token bucket per mode, kept across key rotations."""
    buckets = {
        mode: TokenBucket((settings.stripe_rate_limit or limit) * settings.stripe_rate_share)
        for mode, limit in STRIPE_LIMITS.items()
    }

    keys_made = KeysMade()

    def build(key: SecretStr) -> PaymentsGateway:
        return StripePayments(
            key=key,
            api_base=str(settings.stripe_api_base),
            timeout=settings.stripe_timeout_seconds,
            bucket=buckets[stripe_mode_of(key.get_secret_value())],
            pool=settings.stripe_concurrency,
            keys_made=keys_made,
        )

    return build


def build_app(
    settings: Settings,
    *,
    now: Callable[[], datetime] | None = None,
    stop: threading.Event | None = None,
    crm: CrmGateway | None = None,
    payments_factory: PaymentsGatewayFactory | None = None,
    retry_sleep: Callable[[float], object] | None = None,
) -> App:
    """Build the worker from settings; raise ConfigError when the mapping or templates are unusable.

    Each I/O part is the real one unless given: `crm` (a CrmGateway; else Salesforce), the Stripe
    gateways (`payments_factory`), the clock (`now`) and the retry's pause (`retry_sleep`; else it
    waits on `stop`, so SIGTERM is never held up by a backoff).
    """
    mapping = load_mapping(settings.crm_mapping_file)
    if settings.deposit_on_stage and not (
        mapping.project.fields.stage and mapping.project.fields.signing_deposit_requested
    ):
        raise ConfigError(
            "DEPOSIT_ON_STAGE is set, but the mapping names no project.fields.stage and "
            "project.fields.signing_deposit_requested: add both, or unset DEPOSIT_ON_STAGE"
        )
    templates = load_templates(settings.email_template_file)
    on_server_time = None
    if now is None and settings.clock_source is ClockSource.CRM:
        clock = CrmClock()
        now, on_server_time = clock.now, clock.observe
    now = now or utc_now
    budget = ApiBudget(settings.salesforce_api_share)
    if crm is None:
        crm = SalesforceCrm(settings=settings, mapping=mapping, on_server_time=on_server_time, budget=budget)
    stop = stop or threading.Event()
    pause = retry_sleep or stop.wait

    def retry(fn: Callable[[], T]) -> T:
        return call_with_retries(fn, sleep=pause)

    connection = StripeConnection(
        crm=crm,
        factory=payments_factory or stripe_factory(settings),
        statuses=mapping.setup.connection_status,
        now=now,
        retry=retry,
        live_keys_allowed=settings.stripe_base_is_stripe,
    )

    interval = settings.reconcile_interval_minutes
    notices = templates.staff_notices if settings.staff_notices else None
    outcomes = OutcomeSync(
        crm=crm,
        notices=notices,
        config=OutcomeConfig(
            lookback=timedelta(days=settings.events_lookback_days),
            reconcile_every=timedelta(minutes=interval) if interval else None,
        ),
        now=now,
        retry=retry,
        pause=stop.wait,
        stopping=stop.is_set,
        workers=settings.stripe_concurrency,
    )
    reminders = ReminderPolicy(
        first_after=timedelta(hours=settings.reminder_first_after_hours),
        every=timedelta(days=settings.reminder_every_days),
        max_count=settings.reminder_max_count,
    )
    runner = Runner(
        crm=crm,
        stripe=connection,
        outcomes=outcomes,
        staff=StaffSync(
            crm=crm, templates=templates, reminders=reminders, now=now, retry=retry, stop=stop, notices=notices
        ),
        refunds=RefundSync(crm=crm, retry=retry, stop=stop),
        templates=templates,
        config=RunnerConfig(
            deposit_percent=settings.deposit_percent,
            batch_size=settings.batch_size,
            signing_stage=settings.deposit_on_stage,
            stripe_workers=settings.stripe_concurrency,
            email_hold=email_hold_for(settings.salesforce_timeout_seconds),
        ),
        now=now,
        retry=retry,
        stop=stop,
        budget=budget,
    )
    return App(
        settings=settings,
        mapping=mapping,
        crm=crm,
        connection=connection,
        outcomes=outcomes,
        runner=runner,
        budget=budget,
        retry=retry,
    )

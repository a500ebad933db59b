"""The worker's settings, read once from environment variables (and an optional `.env`)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sync.domain.errors import ConfigError
from sync.runtime.logs import LogFormat

PINNED_SALESFORCE_API_VERSION = "64.0"
STRIPE_API_HOST = "api.stripe.com"
# The sandbox serves on 127.0.0.1 over http; nothing else may carry a key or a token in clear text.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
# The settings whose URLs are sent a secret: the login gets the client secret or the signed
# assertion, the instance the session token, the Stripe base the Stripe key.
_SECRET_BEARING_URLS = ("salesforce_login_url", "salesforce_instance_url", "stripe_api_base")


class SalesforceAuth(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    JWT = "jwt"


class ClockSource(StrEnum):
    SYSTEM = "system"
    CRM = "crm"


SOURCE_ROOT = Path(__file__).resolve().parents[2]


def project_file(relative: str) -> Path:
    """A file the project ships (the default mapping, the email templates), from any working folder.

    Beside this source tree (a checkout, or an editable install); an installed non-editable package
    has none beside it, so then from the working folder (a deploy runs from its checkout).
    """
    shipped = SOURCE_ROOT / relative
    return shipped if shipped.is_file() else Path(relative)


class Settings(BaseSettings):
    """Environment variables, by the field name in upper case (see README "Settings")."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    salesforce_auth: SalesforceAuth = SalesforceAuth.CLIENT_CREDENTIALS
    salesforce_login_url: AnyHttpUrl
    salesforce_instance_url: AnyHttpUrl | None = None
    salesforce_client_id: SecretStr
    salesforce_client_secret: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_private_key_file: Path | None = None
    salesforce_jwt_audience: str | None = None  # None: derived from the login URL (auth.jwt_audience)
    salesforce_api_version: str = Field(PINNED_SALESFORCE_API_VERSION, pattern=r"^\d{2}\.0$")
    salesforce_ca_bundle: Path | None = None
    salesforce_timeout_seconds: float = Field(20.0, gt=0, le=120)
    # The share of the org's daily API allowance (all integrations together, from Sforce-Limit-Info)
    # past which the worker pauses reminders and sweeps; it slows its polling from 10 points below.
    salesforce_api_share: float = Field(0.8, gt=0.1, le=1)

    stripe_api_base: AnyHttpUrl = AnyHttpUrl("https://api.stripe.com")
    stripe_timeout_seconds: float = Field(20.0, gt=0, le=120)
    # The share of Stripe's rate limit (25 requests/s in test mode, 100 in live mode) the worker
    # spends, leaving the rest to the Dashboard and other integrations on the account.
    stripe_rate_share: float = Field(0.8, gt=0, le=1)
    # The account's limit in requests/s when Stripe has raised it (blank: 25 in test, 100 in live mode).
    stripe_rate_limit: float | None = Field(None, gt=0, le=10_000)
    # Stripe calls for independent records in flight at once (the rate above still bounds them).
    stripe_concurrency: int = Field(8, ge=1, le=64)

    crm_mapping_file: Path = Field(default_factory=lambda: project_file("mappings/default.toml"))
    email_template_file: Path = Field(default_factory=lambda: project_file("config/email_templates.toml"))
    poll_interval_seconds: float = Field(30.0, ge=1, le=3600)
    # Stripe's events are read on a loop of their own this often (0: in each CRM cycle). An idle
    # poll is one Stripe list call: every 2 s, 0.5 requests/s, 2% of test mode's 25/s (README).
    stripe_events_interval_seconds: float = Field(2.0, ge=0, le=3600)
    deposit_percent: Decimal = Field(Decimal(50), gt=0, le=100)
    # Records of each kind read per cycle (requests, Payments to act on); a fuller backlog goes on
    # in the next cycle at once. Writes go 200 a call whatever this is.
    batch_size: int = Field(1000, ge=1, le=2000)
    # Without a usable events cursor, read back this far; Stripe keeps events for 30 days.
    events_lookback_days: int = Field(30, ge=1, le=30)
    # How often the worker sweeps open Payments against Stripe (0: only on demand and after a lost cursor).
    reconcile_interval_minutes: int = Field(60, ge=0, le=7 * 24 * 60)
    staff_notices: bool = True  # Chatter posts on the Project when a payment arrives or is disputed
    # Reminders for unpaid links: the first this many hours after the link was sent, then every
    # REMINDER_EVERY_DAYS, at most REMINDER_MAX_COUNT times (0: no reminders).
    reminder_first_after_hours: float = Field(48.0, gt=0, le=24 * 90)
    reminder_every_days: float = Field(3.0, gt=0, le=90)
    reminder_max_count: int = Field(3, ge=0, le=20)
    # Deposit on signing: when a Project reaches this stage, request DEPOSIT_PERCENT of its contract
    # once (blank: off).
    deposit_on_stage: str | None = Field(None, max_length=255)
    # Where the worker's "now" comes from: this host's clock, or the CRM's (its Date header), which
    # the sandbox moves forward to show reminders and retention without waiting days.
    clock_source: ClockSource = ClockSource.SYSTEM
    log_format: LogFormat = LogFormat.AUTO
    log_level: str = Field("info", pattern=r"^(?i:debug|info|warning|error)$")

    @property
    def stripe_base_is_stripe(self) -> bool:
        """Whether STRIPE_API_BASE is Stripe's own API (https, api.stripe.com, port 443), not a stand-in."""
        url = self.stripe_api_base
        return url.scheme == "https" and url.host == STRIPE_API_HOST and url.port == 443

    @model_validator(mode="after")
    def _secrets_go_over_https(self) -> Settings:
        for name in _SECRET_BEARING_URLS:
            url = getattr(self, name)
            if url is not None and not _https_or_loopback(url):
                raise _Missing(name, "must use https (http only for 127.0.0.1, ::1 or localhost)")
        return self

    @model_validator(mode="after")
    def _auth_has_what_it_needs(self) -> Settings:
        if self.salesforce_auth is SalesforceAuth.CLIENT_CREDENTIALS and self.salesforce_client_secret is None:
            raise _Missing("salesforce_client_secret", "required when SALESFORCE_AUTH=client_credentials")
        if self.salesforce_auth is SalesforceAuth.JWT:
            if not self.salesforce_username:
                raise _Missing("salesforce_username", "required when SALESFORCE_AUTH=jwt")
            if self.salesforce_private_key_file is None:
                raise _Missing("salesforce_private_key_file", "required when SALESFORCE_AUTH=jwt")
            if not self.salesforce_private_key_file.is_file():
                raise _Missing("salesforce_private_key_file", "no such file")
        for name in ("crm_mapping_file", "email_template_file"):
            if not getattr(self, name).is_file():
                raise _Missing(name, f"no such file ({getattr(self, name)})")
        if self.deposit_on_stage is not None and not self.deposit_on_stage.strip():
            self.deposit_on_stage = None
        if self.salesforce_ca_bundle is not None and not self.salesforce_ca_bundle.is_file():
            raise _Missing("salesforce_ca_bundle", "no such file")
        return self


def _https_or_loopback(url: AnyHttpUrl) -> bool:
    return url.scheme == "https" or (url.host or "") in _LOOPBACK_HOSTS


class _Missing(ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field.upper()}: {problem}")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; raise ConfigError whose message names each bad variable, never a value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _Missing):
            problems.append(str(ctx_error))
            continue
        name = "_".join(str(p) for p in err["loc"]).upper() or "SETTINGS"
        problems.append(f"{name}: {'missing' if err['type'] == 'missing' else err['msg']}")
    return "invalid configuration: " + "; ".join(problems)

"""Both emulators on loopback with an org made from a mapping: what tests, the demo and
`sync sandbox` start. It also acts as staff and admins would in the CRM, by logical field name."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync.config.mapping import Mapping, load_mapping
from sync.config.settings import SOURCE_ROOT, project_file
from sync.sandbox.clock import SandboxClock
from sync.sandbox.faults import FaultInjector, SalesforceWire, StripeWire
from sync.sandbox.httpserver import SandboxServer
from sync.sandbox.org import org_schema_for
from sync.sandbox.salesforce.app import SalesforceEmulator
from sync.sandbox.salesforce.validation_rules import ValidationRule
from sync.sandbox.stripe.app import StripeEmulator
from sync.sandbox.tls import make_tls_files

REPO_ROOT = SOURCE_ROOT

DEFAULT_MAPPING = project_file("mappings/default.toml")
DEFAULT_TEMPLATES = project_file("config/email_templates.toml")


@dataclass(frozen=True)
class Credentials:
    """What the sandbox org and Stripe account accept; random per sandbox unless kept in a state dir."""

    client_id: str
    client_secret: str
    username: str
    stripe_test_key: str
    stripe_live_key: str

    @classmethod
    def new(cls) -> Credentials:
        return cls(
            client_id="3MVG9sandbox" + secrets.token_hex(12),
            client_secret=secrets.token_hex(24),
            username="integration@sandbox.crm-stripe-sync.invalid",
            stripe_test_key="rk_test_sandbox" + secrets.token_hex(16),
            stripe_live_key="rk_live_sandbox" + secrets.token_hex(16),
        )


class Sandbox:
    """The Salesforce org emulator (HTTPS) and the Stripe emulator (HTTP) on 127.0.0.1.

    Each sits behind a `FaultInjector` (`faults("salesforce")`, `faults("stripe")`), seeded with
    `fault_seed` (random when None; `GET /__sandbox/faults` shows it, so a failing run replays).
    """

    def __init__(
        self,
        *,
        mapping_file: Path = DEFAULT_MAPPING,
        state_dir: Path | None = None,
        salesforce_port: int = 0,
        stripe_port: int = 0,
        token_ttl_seconds: int = 7200,
        fault_seed: int | None = None,
        stripe_api_version: str | None = None,
        stripe_default_currency: str | None = None,
    ) -> None:
        """`stripe_api_version`: the Stripe account's default API version, in which its events are
        rendered (an older one shows the shapes of that version: sandbox/stripe/api_versions.py);
        `stripe_default_currency`: the currency the account settles in ("usd")."""
        self.mapping_file = mapping_file
        self.mapping: Mapping = load_mapping(mapping_file)
        self.clock = SandboxClock()
        self._persistent = state_dir is not None
        self.dir = state_dir or Path(tempfile.mkdtemp(prefix="crm-stripe-sync-sandbox-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tls = make_tls_files(self.dir / "tls")
        self.credentials, fresh = self._load_credentials()
        sf_db = str(self.dir / "salesforce.sqlite3") if self._persistent else ":memory:"
        stripe_db = str(self.dir / "stripe.sqlite3") if self._persistent else ":memory:"
        self.salesforce = SalesforceEmulator(
            org_schema_for(self.mapping), clock=self.clock, db_path=sf_db, token_ttl_seconds=token_ttl_seconds
        )
        self.stripe = StripeEmulator(
            clock=self.clock,
            db_path=stripe_db,
            api_version=stripe_api_version,
            default_currency=stripe_default_currency,
        )
        self.salesforce_faults = FaultInjector(SalesforceWire(self.salesforce), seed=fault_seed)
        self.stripe_faults = FaultInjector(StripeWire(self.stripe), seed=fault_seed)
        self.latency = _Latency(self)  # sandbox.latency["stripe"] = 0.15: seconds added to every API answer
        self._sf_server = SandboxServer(
            self.salesforce_faults.wrap(self.salesforce.app),
            port=salesforce_port,
            certfile=str(self.tls.certfile),
            keyfile=str(self.tls.keyfile),
        )
        self._stripe_server = SandboxServer(self.stripe_faults.wrap(self.stripe.app), port=stripe_port)
        if fresh:
            self._register()

    def faults(self, service: str) -> FaultInjector:
        """The fault injector of "salesforce" or "stripe" (also served at `/__sandbox/faults`)."""
        match service:
            case "salesforce":
                return self.salesforce_faults
            case "stripe":
                return self.stripe_faults
        raise KeyError(f"no service {service!r}; use 'salesforce' or 'stripe'")

    def _load_credentials(self) -> tuple[Credentials, bool]:
        path = self.dir / "credentials.json"
        if self._persistent and path.exists():
            return Credentials(**json.loads(path.read_text())), False
        credentials = Credentials.new()
        if self._persistent:
            path.write_text(json.dumps(asdict(credentials)))
            path.chmod(0o600)
        return credentials, True

    def _register(self) -> None:
        c = self.credentials
        self.salesforce.register_client_credentials_app(
            consumer_key=c.client_id, consumer_secret=c.client_secret, username=c.username
        )
        self.stripe.add_api_key(c.stripe_test_key)
        self.stripe.add_api_key(c.stripe_live_key)

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        self._sf_server.start()
        self._stripe_server.start()
        self.salesforce.url = self._sf_server.url
        self.stripe.base_url = self._stripe_server.url
        return self

    def stop(self) -> None:
        # Requests held by a `timeout` fault drop now rather than keep their threads for 30 s.
        self.salesforce_faults.release()
        self.stripe_faults.release()
        self._sf_server.stop()
        self._stripe_server.stop()
        if not self._persistent:
            # A temp folder of our own (TLS files): nothing of a sandbox run is left behind.
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def salesforce_url(self) -> str:
        return self._sf_server.url

    @property
    def stripe_url(self) -> str:
        return self._stripe_server.url

    def worker_env(self, **overrides: str) -> dict[str, str]:
        """The worker's settings for this sandbox, as environment variables."""
        env = {
            "SALESFORCE_AUTH": "client_credentials",
            "SALESFORCE_LOGIN_URL": self.salesforce_url,
            "SALESFORCE_CLIENT_ID": self.credentials.client_id,
            "SALESFORCE_CLIENT_SECRET": self.credentials.client_secret,
            "SALESFORCE_CA_BUNDLE": str(self.tls.ca_bundle),
            "STRIPE_API_BASE": self.stripe_url,
            "CRM_MAPPING_FILE": str(self.mapping_file),
            "EMAIL_TEMPLATE_FILE": str(DEFAULT_TEMPLATES),
            "POLL_INTERVAL_SECONDS": "1",
            # The worker follows the sandbox's clock, which tests and the demo move forward.
            "CLOCK_SOURCE": "crm",
        }
        env.update(overrides)
        return env

    # --- acting as staff and admins (logical field names, mapped to the org's) -------------------
    def add_contact(self, *, email: str | None, last_name: str = "Customer", first_name: str = "") -> str:
        return self.salesforce.create_record(
            "Contact", {"FirstName": first_name, "LastName": last_name, "Email": email}
        )

    def add_project(
        self,
        name: str,
        *,
        customer_email: str | None = None,
        contract_amount: Decimal | None = None,
        currency: str | None = "USD",
    ) -> str:
        f = self.mapping.project.fields
        values: dict[str, Any] = {f.name: name, f.contract_amount: contract_amount, f.currency: currency}
        if "." in f.customer_email:
            relationship = f.customer_email.split(".")[0]
            lookup = relationship[:-3] + "__c" if relationship.endswith("__r") else relationship + "Id"
            if customer_email is not None:
                values[lookup] = self.add_contact(email=customer_email, last_name=name)
        else:
            values[f.customer_email] = customer_email
        return self.salesforce.create_record(self.mapping.project.object, _wire(values))

    def request_payment(
        self,
        project_id: str,
        *,
        amount: Decimal | str | None = None,
        type: str | None = "deposit",
        description: str | None = None,
        raw_type: str | None = None,
    ) -> None:
        """Tick Request Payment as staff would, with the request fields."""
        f = self.mapping.project.fields
        word = raw_type if raw_type is not None else (getattr(self.mapping.payment.type, type) if type else None)
        self.salesforce.update_record(
            self.mapping.project.object,
            project_id,
            _wire(
                {
                    f.request_payment: True,
                    f.requested_amount: amount,
                    f.request_type: word,
                    f.request_description: description,
                    f.requested_at: self.clock.now(),
                }
            ),
        )

    def add_validation_rule(
        self,
        object: str,
        message: str,
        *,
        code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        times: int | None = None,
        on: tuple[str, ...] = ("insert", "update"),
        **when: Any,
    ) -> None:
        """An org rule (or failing automation, or a lock: `code`) refusing a save of a `project` or
        `payment` with these (logical) values; `times` refusals, or every one."""
        if object == "payment":
            sobject, values = self.mapping.payment.object, self._payment_values(when)
        else:
            f = self.mapping.project.fields
            sobject, values = self.mapping.project.object, {getattr(f, k): v for k, v in when.items()}
        rule = ValidationRule(sobject, values, message, code=code, times=times, on=frozenset(on))
        self.salesforce.add_validation_rule(rule)

    def update_project(self, project_id: str, **logical: Any) -> None:
        f = self.mapping.project.fields
        self.salesforce.update_record(
            self.mapping.project.object, project_id, _wire({getattr(f, k): v for k, v in logical.items()})
        )

    def create_payment(self, project_id: str | None, **logical: Any) -> str:
        """Create a Payment directly, as staff may (status defaults to Requested)."""
        logical.setdefault("status", "requested")
        values = self._payment_values(logical)
        if project_id is not None:
            values[self.mapping.payment.fields.project] = project_id
        return self.salesforce.create_record(self.mapping.payment.object, _wire(values))

    def update_payment(self, payment_id: str, *, transaction_seconds: float = 0, **logical: Any) -> None:
        """Edit a Payment as staff would; `transaction_seconds`: the save committed that long after it
        was stamped (a slow trigger or Flow)."""
        values = _wire(self._payment_values(logical))
        self.salesforce.update_record(
            self.mapping.payment.object, payment_id, values, transaction_seconds=transaction_seconds
        )

    def _payment_values(self, logical: dict[str, Any]) -> dict[str, Any]:
        pay = self.mapping.payment
        values = {}
        for key, value in logical.items():
            if key == "status" and value is not None:
                value = getattr(pay.status, value)
            if key == "type" and value is not None:
                value = getattr(pay.type, value)
            values[getattr(pay.fields, key)] = value
        return values

    def request_refund(self, payment_id: str, *, amount: Decimal | str | None = None, reason: str | None = None) -> str:
        """Add a Refund record to a Payment as staff would (Issue Refund); blank amount: all that is left."""
        r = self.mapping.refund
        values = {
            r.fields.payment: payment_id,
            r.fields.amount: amount,
            r.fields.reason: reason,
            r.fields.status: r.status.requested,
        }
        return self.salesforce.create_record(r.object, _wire(values))

    def update_refund(self, refund_id: str, **logical: Any) -> None:
        r = self.mapping.refund
        values = {}
        for key, value in logical.items():
            if key == "status" and value is not None:
                value = getattr(r.status, value)
            values[getattr(r.fields, key)] = value
        self.salesforce.update_record(r.object, refund_id, _wire(values))

    def payments(self) -> list[dict[str, Any]]:
        """Every Payment, by logical field name, with `status` and `type` as the worker's names."""
        pay = self.mapping.payment
        names = pay.fields.model_dump()
        fields = ", ".join(["Id", "Name", *names.values()])
        rows = self.salesforce.query(f"SELECT {fields} FROM {pay.object} ORDER BY CreatedDate ASC")["records"]
        statuses = {v: k for k, v in pay.status.model_dump().items()}
        types = {v: k for k, v in pay.type.model_dump().items()}
        out = []
        for row in rows:
            record = {"id": row["Id"], "name": row["Name"]}
            for logical, api_name in names.items():
                record[logical] = row.get(api_name)
            record["status"] = statuses.get(record["status"], record["status"])
            record["type"] = types.get(record["type"], record["type"])
            out.append(record)
        return out

    def refunds(self) -> list[dict[str, Any]]:
        """Every Refund record, by logical field name, with `status` and `source` as the worker's names."""
        r = self.mapping.refund
        names = r.fields.model_dump()
        fields = ", ".join(["Id", *names.values()])
        rows = self.salesforce.query(f"SELECT {fields} FROM {r.object} ORDER BY CreatedDate ASC")["records"]
        statuses = {v: k for k, v in r.status.model_dump().items()}
        sources = {v: k for k, v in r.source.model_dump().items()}
        out = []
        for row in rows:
            record = {"id": row["Id"], **{logical: row.get(api) for logical, api in names.items()}}
            record["status"] = statuses.get(record["status"], record["status"])
            record["source"] = sources.get(record["source"], record["source"])
            out.append(record)
        return out

    def staff_posts(self) -> list[dict[str, Any]]:
        """Chatter posts (FeedItem) the worker made, oldest first: `parent_id` and `body`."""
        rows = self.salesforce.query("SELECT Id, ParentId, Body FROM FeedItem ORDER BY CreatedDate ASC")["records"]
        return [{"id": row["Id"], "parent_id": row["ParentId"], "body": row["Body"]} for row in rows]

    def payment(self, payment_id: str) -> dict[str, Any]:
        return next(p for p in self.payments() if p["id"] == payment_id)

    def project(self, project_id: str) -> dict[str, Any]:
        f = self.mapping.project.fields
        row = self.salesforce.get_record(self.mapping.project.object, project_id)
        return {k: row.get(v) for k, v in f.model_dump().items() if v and "." not in v}

    def add_setup(
        self,
        *,
        key: str | None = None,
        mode: str = "test",
        active: bool = True,
        default_currency: str | None = "USD",
        after_payment_message: str | None = None,
    ) -> str:
        s = self.mapping.setup
        values = {
            s.fields.active: active,
            s.fields.mode: getattr(s.mode, mode) if mode else None,
            s.fields.secret_key: key if key is not None else self.credentials.stripe_test_key,
            s.fields.default_currency: default_currency,
            s.fields.after_payment_message: after_payment_message,
        }
        return self.salesforce.create_record(s.object, _wire(values))

    def update_setup(self, setup_id: str, **logical: Any) -> None:
        s = self.mapping.setup
        values = {}
        for key, value in logical.items():
            if key == "mode" and value is not None:
                value = getattr(s.mode, value)
            values[getattr(s.fields, key)] = value
        self.salesforce.update_record(s.object, setup_id, _wire(values))

    def setup(self, setup_id: str) -> dict[str, Any]:
        row = self.salesforce.get_record(self.mapping.setup.object, setup_id)
        return {k: row.get(v) for k, v in self.mapping.setup.fields.model_dump().items()}

    def payment_links(self, *, mode: str = "test") -> list[dict[str, Any]]:
        return self.stripe.objects("payment_link", mode=mode)

    # --- acting as customers and in the Stripe Dashboard (thin calls into the Stripe emulator) ---
    def set_stripe_account(self, *, api_version: str | None = None, default_currency: str | None = None) -> None:
        """Change the Stripe account's default API version or settlement currency; see
        `StripeEmulator.set_account`."""
        self.stripe.set_account(api_version=api_version, default_currency=default_currency)

    def pay(self, link_url_or_id: str, *, card: str = "4242424242424242", email: str | None = None) -> dict[str, Any]:
        """Pay a payment link with a test card as a customer would; see `StripeEmulator.pay`."""
        return self.stripe.pay(link_url_or_id, card=card, email=email)

    def dashboard_refund(
        self,
        charge_or_payment_intent: str,
        *,
        amount: int | None = None,
        reason: str | None = None,
        status: str = "succeeded",
    ) -> dict[str, Any]:
        """Refund from the Stripe Dashboard (no metadata); `amount` in minor units, default all left."""
        return self.stripe.refund(charge_or_payment_intent, amount=amount, reason=reason, status=status)

    def settle_refund(self, refund_id: str) -> dict[str, Any]:
        return self.stripe.settle_refund(refund_id)

    def fail_refund(self, refund_id: str, *, failure_reason: str | None = None) -> dict[str, Any]:
        """A refund fails later; without a reason, the card's own (or expired_or_canceled_card)."""
        return self.stripe.fail_refund(refund_id, failure_reason=failure_reason)

    def open_dispute(
        self, charge_or_payment_intent: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> dict[str, Any]:
        return self.stripe.dispute(charge_or_payment_intent, reason=reason, amount=amount)

    def submit_dispute_evidence(self, dispute_id: str) -> dict[str, Any]:
        return self.stripe.submit_dispute_evidence(dispute_id)

    def close_dispute(self, dispute_id: str, *, won: bool) -> dict[str, Any]:
        return self.stripe.close_dispute(dispute_id, won=won)

    def stripe_objects(self, type: str, *, mode: str = "test") -> list[dict[str, Any]]:
        """Stored Stripe objects of one type (e.g. "checkout.session", "refund"), newest first."""
        return self.stripe.objects(type, mode=mode)

    def stripe_refunds(self, *, mode: str = "test") -> list[dict[str, Any]]:
        """Every Stripe refund, newest first; one asked for from the CRM carries `metadata.crm_refund_id`."""
        return self.stripe.objects("refund", mode=mode)

    def stripe_requests(self) -> list[dict[str, Any]]:
        return self.stripe.request_log()

    def outbox(self) -> list[dict[str, Any]]:
        return self.salesforce.outbox()


class _Latency(MutableMapping[str, float]):
    """`sandbox.latency[service]`: a view of each fault injector's latency, in seconds."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def __getitem__(self, service: str) -> float:
        return self._sandbox.faults(service).latency

    def __setitem__(self, service: str, seconds: float) -> None:
        self._sandbox.faults(service).latency = seconds

    def __delitem__(self, service: str) -> None:
        self._sandbox.faults(service).latency = 0.0

    def __iter__(self) -> Iterator[str]:
        return iter(("salesforce", "stripe"))

    def __len__(self) -> int:
        return 2


def _wire(values: dict[str, Any]) -> dict[str, Any]:
    """Values as the control API takes them (JSON-like): Decimals and datetimes as the REST API would."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        out[key] = value
    return out

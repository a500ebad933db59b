"""Keep the worker's Stripe connection in step with the CRM's Setup record.

The key is re-read every cycle, so a key rotated in the CRM takes effect at the next cycle without a
restart. It is verified with two Stripe calls when it changes (and again after a passing failure),
which also read the account behind it: the first account seen is pinned on the Setup, and a key of
another account stops every Stripe call until an admin confirms the change. The outcome is written
back to the Setup record only when it changes what the record says.

The gateway handed out is a KeyGuard: a key Stripe refuses mid-run, in any flow or thread, stops there,
and `current` says so on the Setup (the one place a refusal is handled) and drops the gateway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from sync.config.mapping import ConnectionStatuses
from sync.domain import messages
from sync.domain.errors import RetryableError, StripeKeyRejected
from sync.domain.models import StripeAccount, StripeSetup
from sync.domain.money import SUPPORTED_CURRENCIES, SUPPORTED_LIST
from sync.domain.stripe_setup import SetupVerdict, judge_account, judge_descriptor, judge_setups
from sync.domain.validation import normalise_currency
from sync.ports import CrmGateway, PaymentsGateway, PaymentsGatewayFactory
from sync.runtime.logs import log
from sync.runtime.retry import Retry, no_retry
from sync.service.key_guard import KeyGuard

# A key Stripe refused mid-run is tried again after this long even if the Setup record is unchanged
# (an admin may have given a restricted key the missing permission in the Dashboard).
RECHECK_REFUSED_KEY = timedelta(minutes=15)


@dataclass(frozen=True)
class StripeReadiness:
    gateway: PaymentsGateway | None
    setup: StripeSetup | None
    # The Setup's Statement Descriptor Suffix when Stripe would accept it after the account's prefix.
    descriptor_suffix: str | None = None

    @property
    def ready(self) -> bool:
        return self.gateway is not None


class StripeConnection:
    def __init__(
        self,
        *,
        crm: CrmGateway,
        factory: PaymentsGatewayFactory,
        statuses: ConnectionStatuses,
        now: Callable[[], datetime],
        retry: Retry = no_retry,
        live_keys_allowed: bool = True,
    ) -> None:
        self._crm = crm
        self._factory = factory
        self._statuses = statuses
        self._now = now
        # The worker's retry policy for the verification call: one 429 or dropped connection is not
        # "Stripe unreachable" (which would mark every waiting request "Stripe is not connected").
        self._retry = retry
        self._live_keys_allowed = live_keys_allowed
        self._fingerprint: str | None = None
        self._account: StripeAccount | None = None  # the account behind the key this process uses
        # A key of another account, said on the Setup: (fingerprint, pinned id, confirm box) then.
        self._held: tuple[str, str | None, bool] | None = None
        self._gateway: KeyGuard | None = None
        self._last_problem: str | None = None  # log a standing problem once, not every cycle
        self._last_warning: str | None = None
        self._notes_written: str | None = None  # the Last Error written with Connected
        self._refused: tuple[str, datetime] | None = None  # a key Stripe refused mid-run, and until when

    def refresh(self, setups: tuple[StripeSetup, ...]) -> StripeReadiness:
        """Return a verified gateway for the active Setup, or None and the reason on the record."""
        verdict = judge_setups(setups, live_keys_allowed=self._live_keys_allowed)
        setup = verdict.setup
        if self._changed_warning(verdict.warning) and verdict.warning:
            log.warning("stripe_setup.several_active", count=len(setups))
        if setup is not None:
            self._say_where_the_others_stand(verdict.others, used=setup)
        if setup is None:
            self._forget()
            if self._changed("missing"):
                log.warning("stripe_setup.missing")
            return StripeReadiness(None, None)
        problem = verdict.problem
        if problem is None and not _key_is_sendable(setup):
            problem = messages.KEY_HAS_STRAY_CHARACTERS
        if problem is not None:
            self._forget()
            status = self._statuses.mode_mismatch if verdict.mode_mismatch else self._statuses.invalid_key
            self._write(setup, status=status, error=problem, verified=False)
            if self._changed(problem):
                log.warning("stripe_setup.unusable", setup_id=setup.id, reason=problem)
            return StripeReadiness(None, setup)
        # What the admin should still fix although the key works: said on the record, not only in a log.
        notes = _notes(verdict, setup)
        fingerprint = _fingerprint(setup)
        if self._refused is not None and self._refused[0] == fingerprint and self._now() < self._refused[1]:
            return StripeReadiness(None, setup)  # refused mid-run; the record says why
        if self._held == (fingerprint, setup.stripe_account_id, setup.confirm_account_change):
            return StripeReadiness(None, setup)  # a key of another account; the record says so
        if fingerprint == self._fingerprint and self._gateway is not None and self._account is not None:
            # The same key, so the same account: judged again for a pin or a confirm box edited since.
            return self._connect(setup, self._gateway, self._account, notes, fingerprint, verified=False)
        assert setup.secret_key is not None
        # A key pasted with a space or line break around it is the key: an HTTP header cannot carry them.
        gateway = self._factory(SecretStr(setup.secret_key.get_secret_value().strip()))
        try:
            account: StripeAccount = self._retry(gateway.verify_key)
        except StripeKeyRejected as exc:
            self._forget()
            error = (
                messages.KEY_LACKS_PERMISSION.format(detail=str(exc))
                if exc.missing_permission
                else messages.KEY_REJECTED
            )
            self._write(setup, status=self._statuses.invalid_key, error=error, verified=False)
            log.warning("stripe_setup.key_rejected", setup_id=setup.id)
            return StripeReadiness(None, setup)
        except RetryableError as exc:
            self._forget()
            self._write(setup, status=self._statuses.error, error=messages.STRIPE_UNREACHABLE, verified=False)
            log.warning("stripe_setup.verify_failed", setup_id=setup.id, error=str(exc))
            return StripeReadiness(None, setup)
        self._last_problem = None
        return self._connect(setup, gateway, account, notes, fingerprint, verified=True)

    def _connect(
        self,
        setup: StripeSetup,
        gateway: PaymentsGateway,
        account: StripeAccount,
        notes: str | None,
        fingerprint: str,
        *,
        verified: bool,
    ) -> StripeReadiness:
        """Use `gateway` if its account is the pinned one (or newly pinned or confirmed); else hold."""
        known = self._account.id if self._account else None
        judged = judge_account(
            account.id, pinned=setup.stripe_account_id, confirmed=setup.confirm_account_change, known=known
        )
        if judged.problem is not None:
            self._forget()
            self._held = (fingerprint, setup.stripe_account_id, setup.confirm_account_change)
            self._write(setup, status=self._statuses.account_changed, error=judged.problem, verified=False)
            log.warning(
                "stripe_setup.account_changed",
                setup_id=setup.id,
                pinned=setup.stripe_account_id or known,
                account=account.id,
            )
            return StripeReadiness(None, setup)
        if judged.pin is not None:
            previous = setup.stripe_account_id or known
            if previous is None:
                log.info("stripe_setup.account_pinned", setup_id=setup.id, account=account.id)
            elif previous != account.id:
                log.warning(
                    "stripe_setup.account_change_confirmed", setup_id=setup.id, old=previous, account=account.id
                )
            elif not setup.stripe_account_id:  # a worker-owned field cleared on the record: put back, said
                log.warning("stripe_setup.account_pin_restored", setup_id=setup.id, account=account.id)
        self._held = None
        if not isinstance(gateway, KeyGuard):
            gateway = KeyGuard(gateway)
        self._fingerprint, self._gateway, self._account = fingerprint, gateway, account
        descriptor = judge_descriptor(setup.statement_descriptor_suffix, account.descriptor_prefix)
        notes = " ".join(n for n in (notes, descriptor.note) if n) or None
        if verified or judged.pin is not None or notes != self._notes_written:
            self._notes_written = notes
            self._write(setup, status=self._statuses.connected, error=notes, verified=verified, account_id=judged.pin)
        if verified:
            log.info("stripe_setup.verified", setup_id=setup.id, mode=setup.mode.value if setup.mode else None)
        return StripeReadiness(gateway, setup, descriptor.suffix)

    def _say_where_the_others_stand(self, others: tuple[SetupVerdict, ...], *, used: StripeSetup) -> None:
        """Each active Setup not used says why: its own problem, or that another one is used."""
        for other in others:
            assert other.setup is not None
            if other.problem is not None:
                status = self._statuses.mode_mismatch if other.mode_mismatch else self._statuses.invalid_key
                self._write(other.setup, status=status, error=other.problem, verified=False)
            else:
                error = messages.SETUP_NOT_IN_USE.format(used=used.id)
                self._write(other.setup, status=self._statuses.not_in_use, error=error, verified=False)

    def current(self, readiness: StripeReadiness) -> StripeReadiness:
        """`readiness` as it stands now: without its gateway once Stripe refused the key, which is then
        said on the Setup (once). Called from the cycle's thread between its steps and at its end."""
        guard = self._gateway
        if guard is not None and guard.refusal is not None and readiness.setup is not None:
            self._refused_mid_run(readiness.setup, guard.refusal)
        if readiness.gateway is not None and readiness.gateway is not self._gateway:
            return StripeReadiness(None, readiness.setup)
        return readiness

    def _refused_mid_run(self, setup: StripeSetup, reason: StripeKeyRejected) -> None:
        """A call with the verified key was refused mid-run (revoked, or a permission taken away): stop
        using it until the Setup record changes, or RECHECK_REFUSED_KEY has passed.

        Verifying again at once would pass (a key lacking Write on Payment Links can still list them)
        and flip the record between Connected and Invalid Key every cycle.
        """
        log.warning("stripe_setup.key_refused_mid_run", setup_id=setup.id, error=str(reason))
        self._forget()
        self._refused = (_fingerprint(setup), self._now() + RECHECK_REFUSED_KEY)
        if reason.missing_permission:
            error = messages.KEY_LACKS_PERMISSION.format(detail=str(reason))
        else:
            error = messages.KEY_REJECTED
        self._write(setup, status=self._statuses.invalid_key, error=error, verified=False)

    def _changed(self, problem: str) -> bool:
        changed, self._last_problem = problem != self._last_problem, problem
        return changed

    def _changed_warning(self, warning: str | None) -> bool:
        changed, self._last_warning = warning != self._last_warning, warning
        return changed

    def _forget(self) -> None:
        self._fingerprint, self._gateway = None, None

    def _write(
        self, setup: StripeSetup, *, status: str, error: str | None, verified: bool, account_id: str | None = None
    ) -> None:
        if not verified and account_id is None and setup.connection_status == status and setup.last_error == error:
            return  # the record already says so: do not spend an API call a cycle repeating it
        try:
            self._crm.update_setup(
                setup.id,
                status=status,
                error=error,
                verified_at=self._now() if verified else None,
                account_id=account_id,
            )
        except Exception as exc:  # the status write is informative; never let it stop the cycle
            log.warning("stripe_setup.write_failed", setup_id=setup.id, error=str(exc))


def _notes(verdict: SetupVerdict, setup: StripeSetup) -> str | None:
    """Problems of a usable Setup: several active records, a Default Currency Stripe cannot charge in."""
    notes = [verdict.warning] if verdict.warning else []
    if setup.default_currency:
        currency = normalise_currency(setup.default_currency, "")
        if currency not in SUPPORTED_CURRENCIES:
            shown = setup.default_currency.strip()
            notes.append(messages.DEFAULT_CURRENCY_UNSUPPORTED.format(currency=shown, supported=SUPPORTED_LIST))
    return " ".join(notes) or None


def _key_is_sendable(setup: StripeSetup) -> bool:
    """Whether the key, once trimmed, can go in an Authorization header: printable ASCII, no spaces."""
    key = setup.secret_key.get_secret_value().strip() if setup.secret_key else ""
    return key.isascii() and key.isprintable() and not any(ch.isspace() for ch in key)


def _fingerprint(setup: StripeSetup) -> str:
    assert setup.secret_key is not None
    material = f"{setup.id}|{setup.mode}|{setup.secret_key.get_secret_value()}".encode()
    return hashlib.sha256(material).hexdigest()

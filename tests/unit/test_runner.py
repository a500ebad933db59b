"""The runner applies a cycle's actions with fakes for the CRM and Stripe: outcomes, not call sequences."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from sync.config.mapping import ConnectionStatuses
from sync.domain import messages
from sync.domain.errors import PermanentError, RetryableError, StripeKeyRejected
from sync.domain.models import CreatedLink, PaymentStatus, StripeAccount
from sync.domain.staff_actions import ReminderPolicy
from sync.entry.bootstrap import build_app, email_hold_for
from sync.ports import OutboundEmail
from sync.service.runner import Runner
from tests.unit.factories import T0, payment, settings
from tests.unit.fakes import FakeCrm, FakeStripe
from tests.unit.test_stripe_setup import setup


def build(
    crm: FakeCrm,
    stripe: FakeStripe,
    *,
    stop: threading.Event | None = None,
    now: Callable[[], datetime] = lambda: T0,
    reminders: ReminderPolicy | None = None,
) -> Runner:
    """The worker as the one bootstrap wires it, with fakes for the CRM and Stripe, retries unpaused."""
    reminders = reminders or ReminderPolicy()
    app = build_app(
        settings(
            batch_size=200,
            stripe_concurrency=1,
            reconcile_interval_minutes=0,  # no periodic sweep: these tests drive outcomes themselves
            reminder_first_after_hours=reminders.first_after / timedelta(hours=1),
            reminder_every_days=reminders.every / timedelta(days=1),
            reminder_max_count=reminders.max_count,
        ),
        crm=crm,
        payments_factory=lambda key: stripe,
        now=now,
        stop=stop,
        retry_sleep=lambda _: None,
    )
    return app.runner


def crm_with(*ids: str, **overrides) -> FakeCrm:
    return FakeCrm(setups=(setup(),), payments={i: payment(id=i, **overrides) for i in ids})


def test_one_failing_record_never_stops_the_others():
    crm = crm_with("p1", "p2", "p3", "p4")
    stripe = FakeStripe(fail_for={"p2": PermanentError("Invalid currency"), "p3": RetryableError("Stripe HTTP 503")})
    crm.fail_email_to = set()
    report = build(crm, stripe).run_cycle()

    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert crm.payments["p4"].status is PaymentStatus.LINK_SENT
    assert crm.payments["p2"].status is PaymentStatus.ERROR
    assert crm.payments["p2"].sync_error == messages.STRIPE_REJECTED_LINK.format(detail="Invalid currency")
    assert crm.payments["p3"].status is PaymentStatus.REQUESTED  # retried next cycle
    assert report.outcomes == {"p1": "link_sent", "p2": "error", "p3": "pending", "p4": "link_sent"}
    assert not report.all_stable


def test_a_retried_cycle_reuses_the_link_rather_than_making_a_second():
    crm = crm_with("p1")
    stripe = FakeStripe()
    crm.fail_writes_for = {"p1"}  # the link is made but cannot be written back
    build(crm, stripe).run_cycle()
    assert crm.sent == [] and len(stripe.links) == 1

    crm.fail_writes_for = set()
    build(crm, stripe).run_cycle()

    assert len(stripe.links) == 1
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert [e.related_record_id for e in crm.sent] == ["p1"]


def test_link_is_on_the_record_before_the_email_is_sent():
    crm = crm_with("p1", "p2")
    crm.fail_email_to = {"pat@example.com"}
    crm.payments["p2"] = crm.payments["p2"].model_copy(update={"customer_email": "ok@example.com"})
    build(crm, FakeStripe()).run_cycle()

    refused = crm.payments["p1"]
    assert refused.payment_link_id == "plink_1" and refused.link_url  # written back before the email
    assert refused.status is PaymentStatus.ERROR
    assert "could not email the link to pat@example.com" in refused.sync_error
    assert crm.payments["p2"].status is PaymentStatus.LINK_SENT


def test_an_existing_link_is_emailed_once_stripe_shows_it_is_this_payments():
    crm = crm_with("p1", payment_link_id="plink_9", link_url="https://pay.example/9")
    stripe = FakeStripe(
        existing={"plink_9": CreatedLink(id="plink_9", url="https://pay.example/9", active=True, payment_id="p1")}
    )
    build(crm, stripe).run_cycle()
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert "https://pay.example/9" in crm.sent[0].body
    assert stripe.links == {}  # no second link


def test_a_link_another_worker_made_is_emailed_only_once_the_hold_has_passed_and_the_log_shows_none():
    # Two workers: this one's create was answered with a replay of the other's, which may be
    # emailing it right now (the record is written back, the email waits for the hold).
    clock = [T0]
    crm = crm_with("p1")
    stripe = FakeStripe(made_elsewhere={"p1"})
    runner = build(crm, stripe, now=lambda: clock[0])
    runner.run_cycle()
    written = crm.payments["p1"]
    assert written.payment_link_id == "plink_1" and written.status is PaymentStatus.REQUESTED
    assert crm.sent == []

    crm.payments["p1"] = written.model_copy(update={"last_modified": clock[0]})  # the write-back's stamp
    runner.run_cycle()
    assert crm.sent == []  # still within the hold

    clock[0] += email_hold_for(20) + timedelta(seconds=1)
    runner.run_cycle()
    assert [e.related_record_id for e in crm.sent] == ["p1"]
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert len(stripe.links) == 1


def test_a_held_link_the_other_worker_emailed_is_recorded_never_sent_again():
    crm = crm_with("p1", payment_link_id="plink_9", link_url="https://pay.example/9", last_modified=T0)
    stripe = FakeStripe(
        existing={"plink_9": CreatedLink(id="plink_9", url="https://pay.example/9", active=True, payment_id="p1")}
    )
    other = OutboundEmail(to="pat@example.com", subject="Pay", body="Pay here: https://pay.example/9",
                          related_record_id="p1")  # fmt: skip
    crm.sent.append(other)  # the other worker's email, in the org's log
    build(crm, stripe).run_cycle()
    assert crm.sent == [other]
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT


def test_an_existing_link_is_emailed_with_its_own_url_never_the_one_typed_on_the_record():
    crm = crm_with("p1", payment_link_id="plink_9", link_url="https://evil.example/pay")
    stripe = FakeStripe(
        existing={"plink_9": CreatedLink(id="plink_9", url="https://pay.example/9", active=True, payment_id="p1")}
    )
    build(crm, stripe).run_cycle()
    assert "https://pay.example/9" in crm.sent[0].body and "evil" not in crm.sent[0].body
    final = crm.payments["p1"]
    assert final.link_url == "https://pay.example/9" and "did not match Stripe" in (final.sync_log or "")


def test_an_existing_link_that_names_another_payment_is_never_emailed():
    crm = crm_with("p1", payment_link_id="plink_9", link_url="https://pay.example/9")
    stripe = FakeStripe(
        existing={"plink_9": CreatedLink(id="plink_9", url="https://pay.example/9", active=True, payment_id="p2")}
    )
    report = build(crm, stripe).run_cycle()
    assert crm.sent == [] and report.outcomes["p1"] == "error"
    assert "belongs to another Payment" in (crm.payments["p1"].sync_error or "")


def test_a_request_edited_while_its_link_was_made_retires_that_link_and_makes_a_new_revision():
    crm = crm_with("p1")
    stripe = FakeStripe()
    runner = build(crm, stripe)
    crm.fail_writes_for = {"p1"}
    runner.run_cycle()  # link r0 made, never written back
    crm.fail_writes_for = set()
    crm.payments["p1"] = crm.payments["p1"].model_copy(update={"amount": Decimal("21000.00")})

    runner.run_cycle()  # same key, other body: Stripe refuses; the orphan is deactivated, revision bumped
    assert stripe.deactivated == ["plink_1"]
    assert crm.payments["p1"].link_revision == 1
    assert crm.payments["p1"].sync_error == messages.EDITED_DURING_LINK_CREATION

    runner.run_cycle()
    final = crm.payments["p1"]
    assert final.status is PaymentStatus.LINK_SENT and final.payment_link_id == "plink_2"
    assert [link.id for link in stripe.links_for_payment("p1")] == ["plink_2"]  # one live link
    assert len(crm.sent) == 1 and "pay.example/2" in crm.sent[0].body


def test_a_key_revoked_mid_cycle_stops_link_creation_and_is_reported_on_the_setup():
    crm = crm_with("p1", "p2")
    stripe = FakeStripe(fail_for={"p1": StripeKeyRejected("Stripe rejected the API key")})
    report = build(crm, stripe).run_cycle()
    assert all(p.status is PaymentStatus.REQUESTED for p in crm.payments.values())
    assert crm.setup_writes[-1]["status"] == "Invalid Key"
    assert crm.setup_writes[-1]["error"] == messages.KEY_REJECTED
    # Both wait as any request does while Stripe is not connected, and say so; the Setup says why.
    assert report.outcomes == {"p1": "waiting", "p2": "waiting"}
    assert all(p.sync_error == messages.STRIPE_NOT_CONNECTED for p in crm.payments.values())


def test_stop_requested_finishes_what_was_made_and_starts_nothing_new():
    crm = crm_with("p1", "p2")
    stop = threading.Event()

    class StopAfterFirst(FakeStripe):
        def create_payment_link(self, spec):
            link = super().create_payment_link(spec)
            stop.set()
            return link

    stripe = StopAfterFirst()
    build(crm, stripe, stop=stop).run_cycle()
    assert len(stripe.links) == 1
    made = [p for p in crm.payments.values() if p.payment_link_id]
    assert len(made) == 1 and made[0].status is PaymentStatus.LINK_SENT  # the action in hand was completed


def test_setup_is_verified_once_and_written_only_when_it_changes():
    crm = crm_with()
    stripe = FakeStripe()
    runner = build(crm, stripe)
    for _ in range(3):
        runner.run_cycle()
    assert stripe.calls == 1
    assert [w["status"] for w in crm.setup_writes] == ["Connected"]

    crm.setups = (setup(key="rk_test_rotated123"),)
    runner.run_cycle()
    assert stripe.calls == 2 and len(crm.setup_writes) == 2


def test_several_retryable_failures_are_bounded():
    crm = crm_with("p1")
    stripe = FakeStripe(fail_for={"p1": RetryableError("Stripe HTTP 500")})
    attempts = []
    original = stripe.create_payment_link

    def counting(spec):
        attempts.append(1)
        return original(spec)

    stripe.create_payment_link = counting  # type: ignore[method-assign]
    build(crm, stripe).run_cycle()
    assert len(attempts) == 4  # the retry policy's bound


@pytest.mark.parametrize("key", ["sk_live_x1", "pk_test_x1"])
def test_an_unusable_key_is_never_sent_to_stripe(key):
    crm = FakeCrm(setups=(setup(key=key),), payments={"p1": payment(id="p1")})
    stripe = FakeStripe()
    build(crm, stripe).run_cycle()
    assert stripe.calls == 0
    assert crm.payments["p1"].sync_error == messages.STRIPE_NOT_CONNECTED
    assert SecretStr(key).get_secret_value() not in str(crm.setup_writes)


def test_a_key_refused_a_permission_mid_run_says_which_on_the_setup_record():
    crm = crm_with()

    class NoEventsRead(FakeStripe):
        def events_before(self, older_than, *, since, max_events):
            raise StripeKeyRejected(
                "The provided key does not have the required permission: rak_event_read", missing_permission=True
            )

        def events_after(self, cursor, *, max_events):
            return self.events_before(cursor, since=None, max_events=max_events)

    report = build(crm, NoEventsRead()).run_cycle()

    last = crm.setup_writes[-1]
    assert last["status"] == ConnectionStatuses().invalid_key
    assert last["error"].startswith("Stripe accepted the key but it lacks a permission the worker needs")
    assert "rak_event_read" in last["error"]
    assert not report.all_stable


def test_a_key_refused_mid_run_is_not_verified_again_every_cycle_until_the_setup_changes():
    crm = crm_with("p1")
    clock = {"now": T0}
    stripe = FakeStripe(fail_for={"p1": StripeKeyRejected("lacks rak_payment_link_write", missing_permission=True)})
    runner = build(crm, stripe, now=lambda: clock["now"])
    runner.run_cycle()
    verified_once = stripe.calls  # the verification, then the refused link
    runner.run_cycle()
    runner.run_cycle()
    assert stripe.calls == verified_once  # no Connected/Invalid Key flip-flop, no calls spent on it
    assert [w["status"] for w in crm.setup_writes] == ["Connected", "Invalid Key"]

    clock["now"] = T0 + timedelta(minutes=16)  # the admin may have fixed the key's permissions meanwhile
    runner.run_cycle()
    assert stripe.calls > verified_once


def test_a_passing_fault_on_the_key_check_is_retried_not_shown_as_stripe_not_connected():
    crm = crm_with("p1")

    class FlakyCheck(FakeStripe):
        checks = 0

        def verify_key(self) -> StripeAccount:
            FlakyCheck.checks += 1
            if FlakyCheck.checks == 1:
                raise RetryableError("Stripe: rate_limit")
            return self.account

    build(crm, FlakyCheck()).run_cycle()

    assert FlakyCheck.checks == 2
    assert crm.payments["p1"].status is PaymentStatus.LINK_SENT
    assert crm.payments["p1"].sync_error != messages.STRIPE_NOT_CONNECTED

"""`python -m sync demo`: the real worker loop against the sandbox, with staff, customers and an admin acting.

It prints what happens as it happens, ends with a table of Payment records, and exits 0 only when
every expected outcome happened (each one is checked, not assumed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sync.app import build_app
from sync.core import messages
from sync.core.outcomes import failure_guidance
from sync.logs import configure_logging
from sync.settings import LogFormat, load_settings
from sync.worker import run_loop

STEP_TIMEOUT = 30.0


class Demo:
    def __init__(self, *, quiet: bool) -> None:
        from sync.sandbox.environment import Sandbox

        self.quiet = quiet
        self.sandbox = Sandbox()
        self.failures: list[str] = []

    def say(self, who: str, text: str) -> None:
        print(f"\n== {who}: {text}", flush=True)

    def expect(self, what: str, check: Callable[[], bool]) -> bool:
        """Wait (up to STEP_TIMEOUT) for `check`; record a failure if it never holds."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            if check():
                print(f"   ok: {what}", flush=True)
                return True
            time.sleep(0.2)
        print(f"   MISSED: {what}", flush=True)
        self.failures.append(what)
        return False

    def payment_of(self, project_id: str, payment_type: str | None = None) -> dict[str, Any] | None:
        matches = [
            p for p in self.sandbox.payments()
            if p["project"] == project_id and (payment_type is None or p["type"] == payment_type)
        ]  # fmt: skip
        return matches[-1] if matches else None

    def status_of(self, project_id: str, payment_type: str | None = None) -> str | None:
        payment = self.payment_of(project_id, payment_type)
        return payment["status"] if payment else None

    def run(self) -> int:
        from sync.sandbox.seed import seed_projects

        sb = self.sandbox.start()
        stop = threading.Event()
        thread: threading.Thread | None = None
        try:
            self.say("sandbox", f"Salesforce org emulator at {sb.salesforce_url}, Stripe emulator at {sb.stripe_url}")
            org = seed_projects(sb)
            print("   seeded 4 projects; the Roof customer has no email on file; no Stripe Setup record yet")

            env = sb.worker_env(POLL_INTERVAL_SECONDS="1", LOG_FORMAT="console")
            settings = load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()})
            configure_logging(fmt=LogFormat.CONSOLE, level="warning" if self.quiet else "info")
            app = build_app(settings, stop=stop)
            app.crm.connect()
            thread = threading.Thread(
                target=run_loop, kwargs={"run_cycle": app.runner.run_cycle, "interval": 1.0, "stop": stop}, daemon=True
            )
            thread.start()
            self.say("worker", "running the real worker loop (poll interval 1 s) against the sandbox")

            self.say("staff", "click Request Payment on four projects")
            print("   Kitchen: Deposit, no amount (takes 50% of the $40,000.00 contract)")
            sb.request_payment(org.kitchen, type="deposit", description="Deposit on signing")
            print("   Roof: Progress $5,000.00 (its customer has no email)")
            sb.request_payment(org.roof, type="progress", amount="5000.00", description="Tear-off and underlayment")
            print("   Bathroom: Custom $0.25 (under Stripe's minimum)")
            sb.request_payment(org.bathroom, type="custom", amount="0.25", description="Permit fee")
            print("   Deck: Progress $2,450.00")
            sb.request_payment(org.deck, type="progress", amount="2450.00", description="Framing")

            self.expect(
                "one Payment per request, and the flags cleared",
                lambda: (
                    len(sb.payments()) == 4
                    and not any(sb.project(p)["request_payment"] for p in (org.kitchen, org.roof, org.deck))
                ),
            )
            self.expect("Roof is Error: no customer email", lambda: self._error_is(org.roof, messages.EMAIL_MISSING))
            self.expect(
                "Bathroom is Error: under Stripe's minimum",
                lambda: self._error_contains(org.bathroom, "under Stripe's minimum"),
            )
            self.expect(
                "Kitchen and Deck wait: Stripe is not connected",
                lambda: all(
                    (self.payment_of(p) or {}).get("sync_error") == messages.STRIPE_NOT_CONNECTED
                    for p in (org.kitchen, org.deck)
                ),
            )
            self.expect("nothing was sent to Stripe", lambda: sb.stripe_requests() == [])
            self._show_payments()

            self.say("admin", "create the Stripe Setup record: Test mode, a restricted test key")
            setup = sb.add_setup()
            self.expect("the Setup record says Connected", lambda: sb.setup(setup)["connection_status"] == "Connected")
            self.expect(
                "Kitchen and Deck are Link Sent",
                lambda: self.status_of(org.kitchen) == self.status_of(org.deck) == "link_sent",
            )
            kitchen = self.payment_of(org.kitchen) or {}
            self.expect("Kitchen's deposit is $20,000.00", lambda: kitchen.get("amount") == Decimal("20000.00"))
            self._show_outbox()

            self.say("staff", "fix the two errors and set them back to Requested")
            roof = self.payment_of(org.roof) or {}
            print("   Roof: enter the customer's email on the Payment")
            sb.update_payment(roof["id"], customer_email="lee.chen@example.com", status="requested")
            bathroom = self.payment_of(org.bathroom) or {}
            print("   Bathroom: correct the amount to $250.00")
            sb.update_payment(bathroom["id"], amount="250.00", status="requested")
            self.expect(
                "Roof and Bathroom are Link Sent",
                lambda: self.status_of(org.roof) == self.status_of(org.bathroom) == "link_sent",
            )

            self.say("staff", "request the Final payment on Kitchen, with no amount (the balance)")
            sb.clock.advance(__import__("datetime").timedelta(seconds=1))
            sb.request_payment(org.kitchen, type="final", description="Final balance")
            self.expect(
                "Kitchen's Final is Link Sent for the $20,000.00 not yet requested",
                lambda: (
                    self.status_of(org.kitchen, "final") == "link_sent"
                    and (self.payment_of(org.kitchen, "final") or {}).get("amount") == Decimal("20000.00")
                ),
            )
            self._outcomes(org)
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
        self._final_checks()
        self._show_payments(title="Payment records at the end")
        sb.stop()
        if self.failures:
            print(f"\nDemo FAILED: {len(self.failures)} expected outcome(s) missed: {'; '.join(self.failures)}")
            return 1
        print("\nDemo complete: every expected outcome happened.")
        return 0

    def _outcomes(self, org: Any) -> None:
        """Customers pay (one is declined first), then a Dashboard refund and a dispute come back."""
        sb = self.sandbox
        deposit = self.payment_of(org.kitchen, "deposit") or {}
        deck = self.payment_of(org.deck) or {}

        self.say("customers", "open their links and pay on Stripe's page")
        print("   Kitchen pays the deposit with 4242 4242 4242 4242")
        sb.pay(deposit["link_url"], email=deposit["customer_email"])
        print("   Deck's customer tries 4000 0000 0000 0002 (the card is declined)")
        sb.pay(deck["link_url"], card="4000000000000002", email=deck["customer_email"])
        self.expect(
            "Deck is Payment Failed, with the decline code and what to tell the customer",
            lambda: (
                self.status_of(org.deck) == "payment_failed"
                and (self.payment_of(org.deck) or {}).get("last_failure") == failure_guidance("generic_decline")
            ),
        )
        print(f"   Deck's record says: {(self.payment_of(org.deck) or {}).get('last_failure')}")
        print("   Deck's customer pays with another card; Roof and Bathroom pay")
        sb.pay(deck["link_url"], email=deck["customer_email"])
        for payment in (self.payment_of(org.roof) or {}, self.payment_of(org.bathroom) or {}):
            sb.pay(payment["link_url"], email=payment["customer_email"])
        self.expect(
            "Kitchen's deposit, Deck, Roof and Bathroom are Paid, each with its receipt",
            lambda: all(
                (p := self.payment_of(project, kind) or {}).get("status") == "paid" and bool(p.get("receipt_url"))
                for project, kind in (
                    (org.kitchen, "deposit"),
                    (org.deck, None),
                    (org.roof, None),
                    (org.bathroom, None),
                )
            ),
        )
        self.expect("staff were told of each payment on the Project's feed", lambda: len(sb.staff_posts()) == 4)
        for post in sb.staff_posts():
            print(f"   Chatter: {post['body']}")

        self.say("Stripe Dashboard", "refund $1,000.00 of Roof's payment; Bathroom's customer disputes the charge")
        roof_charge = (self.payment_of(org.roof) or {})["charge_id"]
        sb.dashboard_refund(roof_charge, amount=100_000, reason="requested_by_customer")
        bathroom_charge = (self.payment_of(org.bathroom) or {})["charge_id"]
        sb.open_dispute(bathroom_charge, reason="product_not_received")
        self.expect(
            "Roof is Partially Refunded: $1,000.00, with a Refund record from the Stripe Dashboard",
            lambda: (
                self.status_of(org.roof) == "partially_refunded"
                and (self.payment_of(org.roof) or {}).get("amount_refunded") == Decimal("1000.00")
                and [(r["amount"], r["source"], r["status"]) for r in sb.refunds()]
                == [(Decimal("1000.00"), "stripe_dashboard", "succeeded")]
            ),
        )
        self.expect(
            "Bathroom is Disputed, with the reason and amount, and staff were told",
            lambda: (
                self.status_of(org.bathroom) == "disputed"
                and (self.payment_of(org.bathroom) or {}).get("dispute_reason") == "product_not_received"
                and (self.payment_of(org.bathroom) or {}).get("amount_disputed") == Decimal("250.00")
                and any("disputed" in p["body"] for p in sb.staff_posts())
            ),
        )

    def _error_is(self, project_id: str, message: str) -> bool:
        payment = self.payment_of(project_id)
        return bool(payment) and payment["status"] == "error" and payment["sync_error"] == message

    def _error_contains(self, project_id: str, text: str) -> bool:
        payment = self.payment_of(project_id)
        return bool(payment) and payment["status"] == "error" and text in (payment["sync_error"] or "")

    def _final_checks(self) -> None:
        sb = self.sandbox
        payments = sb.payments()
        links = {link["id"]: link for link in sb.payment_links()}
        statuses = sorted(p["status"] for p in payments)
        expected = sorted(["paid", "paid", "partially_refunded", "disputed", "link_sent"])
        self.expect(f"5 Payments: {', '.join(expected)}", lambda: statuses == expected)
        self.expect(
            "exactly one single-use Stripe link per Payment, with its CRM ids; the paid ones spent",
            lambda: (
                len(links) == len(payments)
                and all(
                    p["payment_link_id"] in links
                    and links[p["payment_link_id"]]["active"] == (p["status"] == "link_sent")
                    and links[p["payment_link_id"]]["restrictions"]["completed_sessions"]["limit"] == 1
                    and links[p["payment_link_id"]]["metadata"]["crm_payment_id"] == p["id"]
                    for p in payments
                )
            ),
        )
        charges = {c["id"]: c for c in sb.stripe_objects("charge") if c["status"] == "succeeded"}
        self.expect(
            "every paid and refunded total on the CRM equals Stripe's",
            lambda: all(
                p["amount_paid"] == Decimal(charges[p["charge_id"]]["amount"]).scaleb(-2)
                and p["amount_refunded"] == Decimal(charges[p["charge_id"]]["amount_refunded"]).scaleb(-2)
                for p in payments
                if p["status"] != "link_sent"
            ),
        )
        outbox = sb.outbox()
        self.expect(
            "one email per Payment, each carrying that Payment's link",
            lambda: (
                len(outbox) == len(payments)
                and all(
                    any(m["related_record_id"] == p["id"] and p["link_url"] in m["body"] for m in outbox)
                    for p in payments
                )
            ),
        )

    def _show_outbox(self) -> None:
        for mail in self.sandbox.outbox():
            print(f"   email to {', '.join(mail['to'])}: {mail['subject']!r}")

    def _show_payments(self, title: str = "Payment records") -> None:
        print(f"\n{title}:")
        header = (
            f"   {'Payment':<10} {'Type':<9} {'Amount':>12}  {'Status':<18} {'Paid':>10} {'Refunded':>9}  Link / note"
        )
        print(header)
        print("   " + "-" * (len(header) + 30))
        words = self.sandbox.mapping.payment
        for p in self.sandbox.payments():
            amount = f"{p['amount']:,.2f}" if p["amount"] is not None else "—"
            paid = f"{p['amount_paid']:,.2f}" if p["amount_paid"] is not None else ""
            refunded = f"{p['amount_refunded']:,.2f}" if p["amount_refunded"] else ""
            if p["status"] == "link_sent":
                note = p["link_url"]
            elif p["status"] == "disputed":
                note = f"dispute: {p['dispute_reason']}"
            elif p["receipt_url"]:
                note = f"receipt: {p['receipt_url']}"
            else:
                note = p["last_failure"] or p["sync_error"] or ""
            status = getattr(words.status, p["status"])
            kind = getattr(words.type, p["type"]) if p["type"] else ""
            print(f"   {p['name']:<10} {kind:<9} {amount:>12}  {status:<18} {paid:>10} {refunded:>9}  {note}")


def run_demo(*, quiet: bool = False) -> int:
    return Demo(quiet=quiet).run()

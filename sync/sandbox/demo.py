"""`python -m sync demo`: the real worker loop against the sandbox, with staff, customers and an admin acting.

It prints what happens as it happens, ends with a table of Payment records, and exits 0 only when
every expected outcome happened (each one is checked, not assumed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sync.config.settings import LogFormat, load_settings
from sync.domain import messages
from sync.domain.stripe_results import failure_guidance
from sync.entry.bootstrap import build_app
from sync.entry.startup import start_up
from sync.entry.worker import run_loop
from sync.runtime.logs import configure_logging

STEP_TIMEOUT = 30.0


class Demo:
    def __init__(self, *, quiet: bool) -> None:
        from sync.sandbox.environment import Sandbox

        self.quiet = quiet
        self.sandbox = Sandbox()
        self.failures: list[str] = []
        # Records the staff-action steps make, by role ("garage", "first_refund", ...), for the final checks.
        self.ids: dict[str, str] = {}

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
            start_up(app, stop, keep_trying=False, check_org=False)
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
            sb.clock.advance(timedelta(seconds=1))
            sb.request_payment(org.kitchen, type="final", description="Final balance")
            self.expect(
                "Kitchen's Final is Link Sent for the $20,000.00 not yet requested",
                lambda: (
                    self.status_of(org.kitchen, "final") == "link_sent"
                    and (self.payment_of(org.kitchen, "final") or {}).get("amount") == Decimal("20000.00")
                ),
            )
            self._outcomes(org)
            self._staff_actions(org)
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=10)
        self.say("demo", "the worker is stopped; check the end state in the CRM and in Stripe")
        self._final_checks()
        self._show_payments(title="Payment records at the end")
        self._show_refunds()
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

    def _staff_actions(self, org: Any) -> None:
        """Staff act from the CRM: refunds (one too large), a resend, a cancel, a changed amount; then reminders."""
        sb = self.sandbox
        deposit = self.payment_of(org.kitchen, "deposit") or {}
        roof = self.payment_of(org.roof) or {}
        final = self.payment_of(org.kitchen, "final") or {}

        self.say("staff", "refund $2,000.00 of Kitchen's deposit from the CRM (add a Refund to the Payment)")
        print('   Refund: $2,000.00, reason "Cabinet doors not installed"')
        first = self.ids["first_refund"] = sb.request_refund(
            deposit["id"], amount="2000.00", reason="Cabinet doors not installed"
        )
        self.expect(
            "the Refund is Succeeded and Kitchen's deposit is Partially Refunded: $2,000.00",
            lambda: (
                self._refund(first).get("status") == "succeeded"
                and (p := sb.payment(deposit["id"]))["status"] == "partially_refunded"
                and p["amount_refunded"] == Decimal("2000.00")
            ),
        )
        made = next(
            (r for r in sb.stripe_objects("refund") if r["id"] == self._refund(first).get("stripe_refund_id")), {}
        )
        words = (made.get("metadata") or {}).get("crm_reason")
        print(
            f"   Stripe refund {made.get('id')}: reason {made.get('reason')}, the staff's words in metadata: {words!r}"
        )

        self.say("staff", "refund the rest of Kitchen's deposit: a Refund with the amount left blank")
        rest = self.ids["rest_refund"] = sb.request_refund(deposit["id"], reason="Project canceled by the customer")
        self.expect(
            "the Refund is Succeeded for the $18,000.00 left, and the deposit is Refunded: $20,000.00",
            lambda: (
                (r := self._refund(rest)).get("status") == "succeeded"
                and r.get("amount") == Decimal("18000.00")
                and (p := sb.payment(deposit["id"]))["status"] == "refunded"
                and p["amount_refunded"] == p["amount_paid"] == Decimal("20000.00")
            ),
        )

        self.say("staff", "refund $4,500.00 of Roof's payment ($1,000.00 of its $5,000.00 was already refunded)")
        refunds_asked = self._refund_requests_to_stripe()
        too_much = self.ids["too_much_refund"] = sb.request_refund(
            roof["id"], amount="4500.00", reason="Gutters not replaced"
        )
        self.expect(
            "the Refund is Error and says why; nothing was asked of Stripe",
            lambda: (
                (r := self._refund(too_much)).get("status") == "error"
                and "more than what is left to refund: $4,000.00" in (r.get("failure_reason") or "")
                and self._refund_requests_to_stripe() == refunds_asked
            ),
        )
        print(f"   Refund record says: {self._refund(too_much).get('failure_reason')}")
        self.expect(
            "Roof is still Partially Refunded: $1,000.00",
            lambda: (
                (p := sb.payment(roof["id"]))["status"] == "partially_refunded"
                and p["amount_refunded"] == Decimal("1000.00")
            ),
        )

        self.say("staff", "tick Resend on Kitchen's Final (the customer cannot find the email)")
        sb.update_payment(final["id"], resend=True)
        self.expect(
            "the same link is emailed again, and Times Sent is 2",
            lambda: (
                (p := sb.payment(final["id"]))["resend"] is False
                and p["times_sent"] == 2
                and p["link_url"] == final["link_url"]
                and [final["link_url"] in m["body"] for m in self._emails_to(final["id"])] == [True, True]
            ),
        )
        self._show_outbox(self._emails_to(final["id"])[-1:])

        self.say("staff", "request payments on two more projects: Garage $3,200.00 and Fence $1,500.00")
        garage_project = sb.add_project(
            "Garage door – 5 Cedar Ct", customer_email="ana.ruiz@example.com", contract_amount=Decimal("6400.00")
        )
        fence_project = sb.add_project(
            "Fence – 8 Maple Dr", customer_email="max.berg@example.com", contract_amount=Decimal("4500.00")
        )
        sb.request_payment(garage_project, type="progress", amount="3200.00", description="Door and opener")
        sb.request_payment(fence_project, type="deposit", amount="1500.00", description="Posts and panels")
        self.expect(
            "Garage and Fence are Link Sent",
            lambda: self.status_of(garage_project) == self.status_of(fence_project) == "link_sent",
        )
        garage = self.payment_of(garage_project) or {}
        fence = self.payment_of(fence_project) or {}
        self.ids.update(garage=garage.get("id", ""), fence=fence.get("id", ""))

        self.say("staff", "the Garage customer changed their mind: tick Cancel Requested on its unpaid Payment")
        sb.update_payment(garage["id"], cancel_requested=True)
        self.expect(
            "Garage is Canceled, and its link is inactive in Stripe",
            lambda: (
                (p := sb.payment(garage["id"]))["status"] == "canceled"
                and p["cancel_requested"] is False
                and p["link_deactivated_at"] is not None
                and self._link(garage["payment_link_id"]).get("active") is False
            ),
        )
        try:
            sb.pay(garage["link_url"], email=garage["customer_email"])
            print("   the customer opens the link and PAYS: the link still works")
            self.failures.append("Garage's canceled link refuses a payment")
        except ValueError as exc:
            print(f"   the customer opens the link; Stripe says: {exc}")

        self.say("staff", "change Fence's amount from $1,500.00 to $1,800.00 while it is unpaid")
        sb.update_payment(fence["id"], amount="1800.00")
        self.expect(
            "the old link is inactive in Stripe, and a new $1,800.00 link is emailed",
            lambda: (
                (p := sb.payment(fence["id"]))["status"] == "link_sent"
                and p["link_revision"] == 1
                and p["link_url"] not in (None, fence["link_url"])
                and self._link(fence["payment_link_id"]).get("active") is False
                and self._link(p["payment_link_id"]).get("active") is True
                and any(p["link_url"] in m["body"] and "$1,800.00" in m["body"] for m in self._emails_to(fence["id"]))
            ),
        )
        log_line = next(
            (line for line in (sb.payment(fence["id"])["sync_log"] or "").splitlines() if "changed" in line), ""
        )
        print(f"   Sync Log: {log_line}")
        self._show_outbox(self._emails_to(fence["id"])[-1:])

        self.say("sandbox", "move the clock forward 49 hours (the first reminder is due 48 hours after a send)")
        sb.clock.advance(timedelta(hours=49))
        self.expect(
            "a reminder is emailed for Kitchen's Final and for Fence, both unpaid: Reminders Sent 1",
            lambda: all(
                sb.payment(pid)["reminders_sent"] == 1
                and [m["subject"].startswith("Reminder:") for m in self._emails_to(pid)][-1:] == [True]
                for pid in (final["id"], fence["id"])
            ),
        )
        self._show_outbox([m for m in sb.outbox() if m["subject"].startswith("Reminder:")])
        deck = self.payment_of(org.deck) or {}
        self.expect(
            "no reminder for Deck (paid), nor any other paid, refunded, disputed or canceled Payment",
            lambda: (
                sb.payment(deck["id"])["status"] == "paid"
                and not self._reminded(deck["id"])
                and not any(self._reminded(p["id"]) for p in sb.payments() if p["status"] != "link_sent")
            ),
        )

    def _error_is(self, project_id: str, message: str) -> bool:
        payment = self.payment_of(project_id)
        return bool(payment) and payment["status"] == "error" and payment["sync_error"] == message

    def _error_contains(self, project_id: str, text: str) -> bool:
        payment = self.payment_of(project_id)
        return bool(payment) and payment["status"] == "error" and text in (payment["sync_error"] or "")

    def _refund(self, refund_id: str) -> dict[str, Any]:
        return next((r for r in self.sandbox.refunds() if r["id"] == refund_id), {})

    def _link(self, link_id: str | None) -> dict[str, Any]:
        return next((link for link in self.sandbox.payment_links() if link["id"] == link_id), {})

    def _emails_to(self, payment_id: str) -> list[dict[str, Any]]:
        return [m for m in self.sandbox.outbox() if m["related_record_id"] == payment_id]

    def _reminded(self, payment_id: str) -> bool:
        return any(m["subject"].startswith("Reminder:") for m in self._emails_to(payment_id))

    def _refund_requests_to_stripe(self) -> int:
        """How many refunds the worker has asked Stripe to create so far."""
        return sum(1 for r in self.sandbox.stripe_requests() if r["method"] == "POST" and "refunds" in r["path"])

    def _final_checks(self) -> None:
        sb = self.sandbox
        payments = sb.payments()
        by_id = {p["id"]: p for p in payments}
        links = {link["id"]: link for link in sb.payment_links()}
        statuses = sorted(p["status"] for p in payments)
        expected = sorted(["refunded", "partially_refunded", "disputed", "paid", "link_sent", "link_sent", "canceled"])
        self.expect(f"{len(expected)} Payments: {', '.join(expected)}", lambda: statuses == expected)
        fence = by_id.get(self.ids.get("fence", ""), {})
        self.expect(
            "one single-use Stripe link per Payment with its CRM ids, plus Fence's replaced one; "
            "only the unpaid ones still active",
            lambda: (
                len(links) == len(payments) + 1
                and all(link["metadata"]["crm_payment_id"] in by_id for link in links.values())
                and {i for i, link in links.items() if link["active"]}
                == {p["payment_link_id"] for p in payments if p["status"] == "link_sent"}
                and all(
                    p["payment_link_id"] in links
                    and links[p["payment_link_id"]]["active"] == (p["status"] == "link_sent")
                    and links[p["payment_link_id"]]["restrictions"]["completed_sessions"]["limit"] == 1
                    and links[p["payment_link_id"]]["metadata"]["crm_payment_id"] == p["id"]
                    for p in payments
                )
                and sum(link["metadata"]["crm_payment_id"] == fence.get("id") for link in links.values()) == 2
            ),
        )
        charges = {c["id"]: c for c in sb.stripe_objects("charge") if c["status"] == "succeeded"}
        self.expect(
            "every paid and refunded total on the CRM equals Stripe's",
            lambda: (
                all(
                    p["amount_paid"] == Decimal(charges[p["charge_id"]]["amount"]).scaleb(-2)
                    and p["amount_refunded"] == Decimal(charges[p["charge_id"]]["amount_refunded"]).scaleb(-2)
                    for p in payments
                    if p["charge_id"]
                )
                and sum(1 for p in payments if p["charge_id"]) == 4
            ),
        )
        refunds = {r["id"]: r for r in sb.refunds()}
        stripe_refunds = {r["id"]: r for r in sb.stripe_objects("refund")}
        first, rest = (
            refunds.get(self.ids.get("first_refund", ""), {}),
            refunds.get(self.ids.get("rest_refund", ""), {}),
        )
        self.expect(
            "Kitchen's two CRM refunds are Succeeded ($2,000.00, then $18,000.00), each one refund in Stripe",
            lambda: (
                [(first.get("status"), first.get("amount")), (rest.get("status"), rest.get("amount"))]
                == [("succeeded", Decimal("2000.00")), ("succeeded", Decimal("18000.00"))]
                and all(
                    r.get("source") == "crm"
                    and stripe_refunds.get(r.get("stripe_refund_id"), {}).get("amount") == int(r["amount"] * 100)
                    and stripe_refunds[r["stripe_refund_id"]]["metadata"].get("crm_refund_id") == r["id"]
                    for r in (first, rest)
                )
            ),
        )
        too_much = refunds.get(self.ids.get("too_much_refund", ""), {})
        self.expect(
            "Roof's too-large Refund is Error with the reason, and Stripe holds no refund for it",
            lambda: (
                too_much.get("status") == "error"
                and "more than what is left to refund" in (too_much.get("failure_reason") or "")
                and not too_much.get("stripe_refund_id")
                and len(stripe_refunds) == 3
                and all(r["metadata"].get("crm_refund_id") != too_much.get("id") for r in stripe_refunds.values())
            ),
        )
        garage = by_id.get(self.ids.get("garage", ""), {})
        self.expect(
            "Garage is Canceled and its only link is inactive",
            lambda: garage.get("status") == "canceled" and links[garage["payment_link_id"]]["active"] is False,
        )
        self.expect(
            "Fence is Link Sent at $1,800.00 on link revision 1, and its Sync Log says what changed",
            lambda: (
                fence.get("amount") == Decimal("1800.00")
                and fence.get("link_revision") == 1
                and "amount USD 1500 → USD 1800" in (fence.get("sync_log") or "")
            ),
        )
        final = next((p for p in payments if p["type"] == "final"), {})
        outbox = sb.outbox()
        # (link emails, reminders) each Payment got: Kitchen's Final was resent; Fence's link was replaced.
        sends = {p["id"]: (1, 0) for p in payments} | {final.get("id"): (2, 1), fence.get("id"): (2, 1)}
        self.expect(
            "every email carries its Payment's link: one each, two for the resend and the new Fence link, "
            "and one reminder each for the two unpaid",
            lambda: (
                all(m["related_record_id"] in by_id for m in outbox)
                and all(
                    (
                        sum(not m["subject"].startswith("Reminder:") for m in self._emails_to(p["id"])),
                        sum(m["subject"].startswith("Reminder:") for m in self._emails_to(p["id"])),
                    )
                    == sends[p["id"]]
                    and p["link_url"] in self._emails_to(p["id"])[-1]["body"]
                    for p in payments
                )
                and final.get("times_sent") == 2
                and [p.get("reminders_sent") for p in (final, fence)] == [1, 1]
            ),
        )

    def _show_outbox(self, mails: list[dict[str, Any]] | None = None) -> None:
        for mail in self.sandbox.outbox() if mails is None else mails:
            print(f"   email to {', '.join(mail['to'])}: {mail['subject']!r}")

    def _show_refunds(self) -> None:
        print("\nRefund records at the end:")
        header = f"   {'Payment':<10} {'Amount':>12}  {'Status':<10} {'Source':<17} Stripe refund / reason refused"
        print(header)
        print("   " + "-" * (len(header) + 30))
        names = {p["id"]: p["name"] for p in self.sandbox.payments()}
        words = self.sandbox.mapping.refund
        for r in self.sandbox.refunds():
            amount = f"{r['amount']:,.2f}" if r["amount"] is not None else "(the rest)"
            status = getattr(words.status, r["status"])
            source = getattr(words.source, r["source"]) if r["source"] else ""
            note = r["failure_reason"] or r["stripe_refund_id"] or ""
            print(f"   {names.get(r['payment'], '?'):<10} {amount:>12}  {status:<10} {source:<17} {note}")

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
            elif p["status"] == "canceled":
                note = "canceled; link deactivated in Stripe"
            elif p["receipt_url"]:
                note = f"receipt: {p['receipt_url']}"
            else:
                note = p["last_failure"] or p["sync_error"] or ""
            status = getattr(words.status, p["status"])
            kind = getattr(words.type, p["type"]) if p["type"] else ""
            print(f"   {p['name']:<10} {kind:<9} {amount:>12}  {status:<18} {paid:>10} {refunded:>9}  {note}")


def run_demo(*, quiet: bool = False) -> int:
    return Demo(quiet=quiet).run()

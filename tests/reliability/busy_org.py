"""The busy org of chaos's busy mode (issue 23): an org whose admins added rules and automation.

From the kill rounds on, every third valid request staff make with a description is bound, in
turn, to one of the org's refusals, keyed on that description (rules match on saved values, and
the driver types each description, "Stage N", before the record exists):
- contract: a validation rule refusing Status = Link Sent (FIELD_CUSTOM_VALIDATION_EXCEPTION), which
  the worker meets once the email went out. Half of these customers wait to pay until it is lifted;
  the others may pay on the link they were emailed (the Payment goes from Requested to Paid).
- automation: a failing trigger refusing Status = Paid (CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY). Their
  customers pay when the driver says: half when the two workers begin, the rest once the faults
  stop, before the lift, so that every one of them meets the trigger (a Dashboard refund first
  would let the Payment go straight to Refunded, past a rule on Paid).
- lock_link and lock_paid: one UNABLE_TO_LOCK_ROW (`times=1`) on the Link Sent or the Paid write.
Feed tracking is off on the Project from the middle kill round until the lift (staff posts
refused). The rules stand through the kill rounds and the two workers; once the faults stop, and
every refusal shows on its record (or a bound is reached), the admin lifts them all.

The checks, on top of every `check_invariants` one:
- busy.refusal_shown, just before the lift: each Payment the worker wrote against a standing rule
  (a contract one emailed and still Requested; an automation one charged in Stripe and not Paid in
  the CRM) says the rule's message in its Sync Error;
- busy.not_stuck, after the lift: each of those reached its outcome (Link Sent or later; Paid or
  later) with its Sync Error cleared, and no Payment still says the org refused a write;
- busy.post_held_outcome, just before the lift: each Payment whose staff post the org refused shows
  its payment all the same;
- busy.one_email: no Payment's customer got the same link twice, save the one resend staff asked for.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Any

from sync.domain import messages
from sync.sandbox.salesforce.errors import ApiError
from sync.sandbox.salesforce.validation_rules import ValidationRule
from tests.reliability.chaos import GOOD_CARDS, PAID_FAMILY, Violation, _first_url, wait_until

if TYPE_CHECKING:
    from tests.reliability.chaos import Ledger, People, Workers

CONTRACT_RULE = "A Payment can be Link Sent only once the signed contract is attached."
PAID_TRIGGER = "PaymentAfterUpdate: execution of AfterUpdate caused by: System.NullPointerException (Commission)"
LOCK = "unable to obtain exclusive access to this record"
RULE_MESSAGE = {"contract": CONTRACT_RULE, "automation": PAID_TRIGGER}
KINDS = ("contract", "automation", "lock_link", "lock_paid")
BIND_EVERY = 3  # one request in three (of those with a description) meets a refusal
SHOWN_WITHIN_SECONDS = 60.0  # faults off, a refusal the worker met shows on its record within this
HELD_WITHIN_SECONDS = 15.0  # ... and a Payment whose post was refused shows its payment within this
REFUSAL_SAID = messages.CRM_REFUSED_UPDATE.split("{", 1)[0]
# A run that met fewer proves too little (shortfalls; test_busy_chaos.py).
MINIMUMS = {
    "contract_refusals": 3,  # fires of the Link Sent rule
    "automation_refusals": 2,  # fires of the Paid trigger
    "contract_shown": 2,  # Payments emailed and held at Requested by the rule, shown before the lift
    "paid_refused_shown": 2,  # Payments paid while the trigger stood, shown before the lift
    "lock_link_fired": 1,
    "lock_paid_fired": 1,
    "posts_refused": 1,
}


@dataclass
class CountedRule(ValidationRule):
    """A rule that counts its refusals (each save it refused, including one in a graph rolled back)."""

    fired: int = 0

    def error(self) -> ApiError:
        self.fired += 1
        return super().error()


class BusyOrg:
    """The rules, the admin who adds and lifts them, and the busy mode's own checks."""

    def __init__(self, run: Any) -> None:  # a ChaosRun (typed loosely: chaos.py imports this module late)
        self.sandbox = run.sandbox
        self.people: People = run.people
        self.ledger: Ledger = run.ledger
        self.workers: Workers = run.workers
        self.say = run.say
        self.kind_of: dict[str, str] = {}  # description -> kind
        self.rules: dict[str, CountedRule] = {}  # description -> its rule
        self.held: set[str] = set()  # descriptions whose customers wait (hold_customers)
        self._valid = count(1)
        self.workdir = run.workdir
        self.lifted = False
        self.shown_violations: list[Violation] = []
        self.tried: dict[str, set[str]] = {"contract": set(), "automation": set()}  # Payment ids, at the lift
        self.shown_seconds: float | None = None
        self.counts: Counter[str] = Counter()

    # --- the admin's rules -----------------------------------------------------------------------------

    def install(self) -> None:
        """From now on, bind a share of new requests to a refusal, each before its record is made."""
        self.people.before_request = self._bind
        self.say("  busy org: rules on one request in three; feed tracking off from the middle kill round")

    def _bind(self, description: str) -> None:
        n = next(self._valid)
        if n % BIND_EVERY:
            return
        kind = KINDS[(n // BIND_EVERY - 1) % len(KINDS)]
        pay = self.sandbox.mapping.payment
        status, message, code, times = {
            "contract": (pay.status.link_sent, CONTRACT_RULE, "FIELD_CUSTOM_VALIDATION_EXCEPTION", None),
            "automation": (pay.status.paid, PAID_TRIGGER, "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", None),
            "lock_link": (pay.status.link_sent, LOCK, "UNABLE_TO_LOCK_ROW", 1),
            "lock_paid": (pay.status.paid, LOCK, "UNABLE_TO_LOCK_ROW", 1),
        }[kind]
        when = {pay.fields.description: description, pay.fields.status: status}
        rule = CountedRule(pay.object, when, message, code=code, times=times)
        self.sandbox.salesforce.add_validation_rule(rule)
        self.kind_of[description] = kind
        self.rules[description] = rule
        bound = sum(1 for k in self.kind_of.values() if k == kind)
        if (kind == "contract" and bound % 2) or kind in ("automation", "lock_paid"):
            self.held.add(description)
        self.counts[f"{kind}_bound"] += 1

    def on_kill_round(self, round_: int, rounds: int) -> None:
        """Feed tracking off on the Project from the middle kill round until the lift."""
        if round_ == rounds // 2 + 1:
            project = self.sandbox.mapping.project.object
            self.sandbox.salesforce.set_feed_tracking(project, enabled=False)
            self.say(f"  busy org: feed tracking off on {project} from kill round {round_}")
        self.hold_customers()

    def on_two_workers(self) -> None:
        """The customers of the lock-bound Payments, and of half the automation-bound, pay now."""
        every_other = {d for n, d in enumerate(sorted(self._of_kind("automation"))) if n % 2}
        paid = self._pay(lambda d: self.kind_of.get(d) == "lock_paid" or d in every_other)
        self.say(f"  busy org: {paid} customers of Payments bound to a Paid refusal paid")
        self.hold_customers()

    def hold_customers(self) -> None:
        """Customers of the held Payments do not pay (yet): half the contract-bound ones, until the
        lift; the automation- and lock_paid-bound ones, until the driver pays them itself."""
        self.people.not_paying = {p["id"] for p in self.sandbox.payments() if p["description"] in self.held}

    def _of_kind(self, kind: str) -> set[str]:
        return {d for d, k in self.kind_of.items() if k == kind}

    def _pay(self, wanted: Callable[[str], bool]) -> int:
        """Customers of the wanted descriptions pay their emailed link, if still awaiting payment."""
        by_id = {p["id"]: p for p in self.sandbox.payments()}
        paid = 0
        for payment_id, url in sorted(self.people.emailed_links().items()):
            p = by_id.get(payment_id)
            if p is None or payment_id in self.ledger.paid or not wanted(p["description"] or ""):
                continue
            if p["status"] not in ("requested", "link_sent", "payment_failed") or p["link_url"] != url:
                continue
            if self.people.pay(payment_id, url, card=GOOD_CARDS[0]):
                paid += 1
        self.counts["paid_by_the_busy_org"] += paid
        return paid

    def lift(self) -> None:
        """Faults are off. Once the worker has emailed every bound Payment, the rest of the
        automation-bound customers pay; once each refusal the worker met shows on its record (or
        the bound passed), note what does not, and lift every rule, feed tracking back on."""
        self.people.not_paying = set()
        started = time.monotonic()
        reached = wait_until(lambda: not self._not_emailed(), timeout=SHOWN_WITHIN_SECONDS, interval=1.0)
        if not reached:
            self.say(f"  busy org: bound requests the worker has not emailed yet: {self._not_emailed()}")
        paid = self._pay(lambda d: self.kind_of.get(d) in ("automation", "lock_paid"))
        shown = wait_until(lambda: not self._unshown(self._tried()), timeout=SHOWN_WITHIN_SECONDS, interval=1.0)
        self.shown_seconds = time.monotonic() - started if shown and reached else None
        tried = self._tried()
        self.shown_violations = self._unshown(tried)
        self.tried = {kind: {p["id"] for p in found} for kind, found in tried.items()}
        for kind, name in (("contract", "contract_shown"), ("automation", "paid_refused_shown")):
            self.counts[name] = sum(1 for p in tried[kind] if RULE_MESSAGE[kind] in (p["sync_error"] or ""))
        self._count_refusals()
        wait_until(lambda: not self._held_by_a_post(), timeout=HELD_WITHIN_SECONDS, interval=2.0)
        self.shown_violations += self._held_by_a_post()
        self.dump("busy-before-lift.json")
        self.sandbox.salesforce.clear_validation_rules()
        self.sandbox.salesforce.set_feed_tracking(self.sandbox.mapping.project.object, enabled=True)
        self.lifted = True
        self.say(
            f"  busy org: {paid} more paid; {self.counts['contract_shown']} Payments held at Requested and "
            f"{self.counts['paid_refused_shown']} refused Paid showed it "
            f"({'not all' if self.shown_seconds is None else 'within ' + format(self.shown_seconds, '.1f') + ' s'}); "
            f"{self.counts['posts_refused']} staff posts refused; rules lifted"
        )

    def _not_emailed(self) -> list[str]:
        """Bound requests the worker has not yet emailed a link for (nor settled otherwise)."""
        emailed = {m["related_record_id"] for m in self.sandbox.outbox()}
        by_description = {p["description"]: p for p in self.sandbox.payments()}
        deleted = {self.ledger.requests[project].description for project in self.ledger.deleted.values()}
        waiting = []
        for description in self.kind_of:
            p = by_description.get(description)
            if p is None:
                if description not in deleted:
                    waiting.append(description)  # not taken in yet
            elif p["status"] in ("requested", "link_sent", "payment_failed") and p["id"] not in emailed:
                waiting.append(description)
        return waiting

    def _count_refusals(self) -> None:
        for description, rule in self.rules.items():
            kind = self.kind_of[description]
            if kind.startswith("lock"):
                self.counts[f"{kind}_fired"] += 1 if rule.fired else 0
            else:
                self.counts[f"{kind}_refusals"] += rule.fired

    def note_posts_refused(self) -> None:
        """Put the Payments whose staff post the org refused, by the workers' logs, in the ledger (g)."""
        for worker in self.workers.all:
            for event in worker.log_events():
                if event.get("event") == "staff_post.refused" and event.get("payment_id"):
                    self.ledger.posts_refused.add(str(event["payment_id"]))
        self.counts["posts_refused"] = len(self.ledger.posts_refused)

    def _held_by_a_post(self) -> list[Violation]:
        """A refused staff post never holds the outcome back: each Payment whose post the org refused
        shows the payment (feed tracking is still off), unless a standing rule holds it."""
        self.note_posts_refused()
        charged = self._charged()
        out = []
        for p in self.sandbox.payments():
            if p["id"] not in self.ledger.posts_refused or p["id"] not in charged:
                continue
            if p["status"] not in PAID_FAMILY and self.kind_of.get(p["description"] or "") != "automation":
                out.append(Violation("busy.post_held_outcome", f"Payment {p['id']}: post refused, shows {p['status']}"))
        return out

    def dump(self, name: str) -> None:
        """The bound Payments as they stand, with their rules' refusals, for a failing run's reader."""
        by_description = {p["description"]: p for p in self.sandbox.payments() if p["description"] in self.kind_of}
        charged = self._charged()
        rows = []
        for description, kind in self.kind_of.items():
            p = by_description.get(description) or {}
            rows.append(
                {
                    "description": description,
                    "kind": kind,
                    "fired": self.rules[description].fired,
                    "payment_id": p.get("id"),
                    "status": p.get("status"),
                    "charged": p.get("id") in charged,
                    "sync_error": p.get("sync_error"),
                }
            )
        (self.workdir / name).write_text(json.dumps(rows, indent=1))

    # --- what the worker tried against a standing rule ----------------------------------------------

    def _tried(self) -> dict[str, list[dict[str, Any]]]:
        """Payments the worker wrote against a standing permanent rule, by the rule's kind.

        contract: emailed and still Requested with nothing charged (the Link Sent write was refused);
        automation: charged in Stripe, and not Paid (nor refunded, disputed) in the CRM."""
        emailed = {m["related_record_id"] for m in self.sandbox.outbox()}
        charged = self._charged()
        found: dict[str, list[dict[str, Any]]] = {"contract": [], "automation": []}
        for p in self.sandbox.payments():
            kind = self.kind_of.get(p["description"] or "")
            if kind == "contract" and p["status"] == "requested" and p["id"] in emailed and p["id"] not in charged:
                found["contract"].append(p)
            elif kind == "automation" and p["id"] in charged and p["status"] not in PAID_FAMILY:
                found["automation"].append(p)
        return found

    def _charged(self) -> set[str]:
        intents = {pi["id"]: pi for pi in self.sandbox.stripe_objects("payment_intent")}
        return {
            (intents.get(c["payment_intent"]) or {}).get("metadata", {}).get("crm_payment_id", "?")
            for c in self.sandbox.stripe_objects("charge")
            if c["status"] == "succeeded"
        }

    def _unshown(self, tried: dict[str, list[dict[str, Any]]]) -> list[Violation]:
        out = []
        for p in tried["contract"]:
            if CONTRACT_RULE not in (p["sync_error"] or ""):
                out.append(
                    Violation(
                        "busy.refusal_shown",
                        f"Payment {p['id']}: emailed, its Link Sent refused, yet Sync Error {p['sync_error']!r}",
                    )
                )
        for p in tried["automation"]:
            if PAID_TRIGGER not in (p["sync_error"] or ""):
                out.append(
                    Violation(
                        "busy.refusal_shown",
                        f"Payment {p['id']}: charged, its Paid refused ({p['status']}), yet Sync Error "
                        f"{p['sync_error']!r}",
                    )
                )
        return out

    # --- once lifted ---------------------------------------------------------------------------------

    def checks(self) -> list[Violation]:
        """The busy mode's invariants that must hold once the worker settles (after the lift)."""
        out: list[Violation] = []
        payments = self.sandbox.payments()
        if self.lifted:
            by_id = {p["id"]: p for p in payments}
            for kind, ids in self.tried.items():
                for payment_id in sorted(ids):
                    p = by_id.get(payment_id)
                    if p is None:
                        continue
                    arrived = p["status"] in PAID_FAMILY or (kind == "contract" and p["status"] != "requested")
                    if not arrived or p["sync_error"]:
                        out.append(
                            Violation(
                                "busy.not_stuck",
                                f"Payment {payment_id} ({kind} rule lifted) shows {p['status']}, "
                                f"Sync Error {p['sync_error']!r}",
                            )
                        )
            for p in payments:
                if REFUSAL_SAID in (p["sync_error"] or "") and p["id"] not in self.tried.get("contract", set()):
                    if p["id"] not in self.tried.get("automation", set()):
                        out.append(
                            Violation("busy.not_stuck", f"Payment {p['id']} ({p['status']}) says {p['sync_error']!r}")
                        )
        sent: Counter[tuple[str, str]] = Counter()
        links = {p["id"]: p for p in payments}
        for mail in self.sandbox.outbox():
            payment_id = mail["related_record_id"]
            url = _first_url(mail["body"]) or ""
            sent[(payment_id, url)] += 1
        for (payment_id, url), n in sorted(sent.items()):
            allowed = 2 if payment_id in self.ledger.resent else 1
            if n > allowed:
                status = (links.get(payment_id) or {}).get("status")
                out.append(
                    Violation(
                        "busy.one_email", f"Payment {payment_id} ({status}): the same link emailed {n} times ({url})"
                    )
                )
        return out


def shortfalls(counts: dict[str, int]) -> list[str]:
    """What a busy run met too little of to prove anything."""
    return [
        f"only {counts.get(what, 0)} {what} (at least {least})"
        for what, least in MINIMUMS.items()
        if counts.get(what, 0) < least
    ]

"""`python -m sync bench`: the worker against a backlog on the sandbox, with realistic latency and
Stripe's test-mode rate limit, beside a naive one-record-at-a-time baseline measured in the same run.

Phases: (1) N requests waiting when the worker wakes, until every Payment is Link Sent; (2) every
link paid, until every Payment is Paid; (3) single clicks and payments at random instants, for the
latency a person sees with the poll interval the worker runs with. Salesforce calls are counted by
the org emulator, Stripe calls by the Stripe emulator's request log, memory from the worker's
/proc status (VmHWM, its peak resident set).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sync.runtime.throttle import STRIPE_LIMITS
from sync.sandbox.bench_naive import NaiveScript
from sync.sandbox.environment import REPO_ROOT, Sandbox

DEFAULT_RATE_SHARE = 0.8  # the worker's default STRIPE_RATE_SHARE
IDLE_SECONDS = 120.0  # four CRM cycles at the default interval, sixty events polls


@dataclass
class Phase:
    name: str
    records: int
    seconds: float = 0.0
    salesforce_calls: int = 0
    stripe_calls: int = 0
    stripe_busy_seconds: float = 0.0  # first to last Stripe request of the phase
    rate_limited: int = 0  # 429s the Stripe emulator gave

    @property
    def stripe_rate(self) -> float:
        return self.stripe_calls / self.stripe_busy_seconds if self.stripe_busy_seconds else 0.0


@dataclass
class BenchResult:
    n: int
    configured_rate: float
    phases: list[Phase] = field(default_factory=list)
    start_up_salesforce_calls: int = 0
    link_latency: list[float] = field(default_factory=list)
    paid_latency: list[float] = field(default_factory=list)
    interval: float = 0.0
    peak_rss_mb: float = 0.0
    baseline: list[Phase] = field(default_factory=list)
    idle_per_hour: tuple[float, float] = (0.0, 0.0)  # Salesforce, Stripe calls an hour with nothing to do
    idle_seconds: float = 0.0  # how long the idle stretch they were measured over lasted


class _WorkerProcess:
    """`python -m sync run` against the sandbox, in a scratch folder (no stray .env is read)."""

    def __init__(self, sandbox: Sandbox, *, interval: float, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "STRIPE_", "CRM_"))}
        # The worker logs little (warning), so writing its log costs the measured run nothing much.
        level = os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning")
        env.update(sandbox.worker_env(POLL_INTERVAL_SECONDS=str(interval), LOG_FORMAT="json", LOG_LEVEL=level))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.log = workdir / "worker.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync", "run"], cwd=workdir, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def peak_rss_mb(self) -> float:
        """The process's peak resident set so far (Linux /proc; 0 where there is none)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            self._out.close()


def run_bench(
    *,
    n: int,
    baseline_n: int,
    salesforce_latency: float,
    stripe_latency: float,
    interval: float,
    latency_samples: int,
    seed: int,
    idle_seconds: float = IDLE_SECONDS,
    out: Callable[[str], None] = print,
) -> BenchResult:
    rng = random.Random(seed)
    configured = STRIPE_LIMITS["test"] * DEFAULT_RATE_SHARE
    result = BenchResult(n=n, configured_rate=configured, interval=interval)
    with Sandbox(fault_seed=seed) as sandbox, tempfile.TemporaryDirectory(prefix="crm-stripe-sync-bench-") as tmp:
        sandbox.salesforce_faults.configure(latency=salesforce_latency)
        sandbox.stripe_faults.configure(latency=stripe_latency, rate_limit=True)
        sandbox.add_setup()
        out(f"sandbox up: Salesforce {salesforce_latency * 1000:.0f} ms a call, Stripe {stripe_latency * 1000:.0f} ms")
        out(f"a call and {STRIPE_LIMITS['test']:.0f} requests/s (test mode); worker poll interval {interval:g} s")

        worker = _WorkerProcess(sandbox, interval=interval, workdir=Path(tmp))
        try:
            # Start-up (login, the org check, a first idle cycle) is counted apart from the backlog.
            _wait_for(lambda: sandbox.salesforce.api_calls()["total"] >= 2, timeout=60, what="the worker's start-up")
            time.sleep(max(2.0, interval / 2))
            result.start_up_salesforce_calls = sandbox.salesforce.api_calls()["total"]
            out(f"idle for {idle_seconds:g} s ...")
            result.idle_per_hour = _idle_calls_per_hour(sandbox, seconds=idle_seconds)
            result.idle_seconds = idle_seconds
            worker.pause()  # the backlog builds up while the worker is held, as after an outage
            out(f"creating {n} requests ...")
            projects = _add_requests(sandbox, n, prefix="B")
            result.phases.append(_drain(sandbox, worker, n, name="requests → links emailed", status="link_sent"))
            out(_phase_line(result.phases[-1]))

            worker.pause()
            out(f"paying {n} links ...")
            for payment in _payments_of(sandbox, projects):
                sandbox.pay(payment["link_url"])
            result.phases.append(_drain(sandbox, worker, n, name="links paid → Paid", status="paid"))
            out(_phase_line(result.phases[-1]))

            out(f"latency: {latency_samples} clicks and {latency_samples} payments at random instants ...")
            result.link_latency, result.paid_latency = _latencies(sandbox, rng, samples=latency_samples, span=interval)
            result.peak_rss_mb = worker.peak_rss_mb()
        finally:
            worker.stop()

        out(f"naive baseline on {baseline_n} requests (one record at a time) ...")
        result.baseline = NaiveScript(sandbox).run(_add_requests(sandbox, baseline_n, prefix="N"))
    return result


def _idle_calls_per_hour(sandbox: Sandbox, *, seconds: float) -> tuple[float, float]:
    """(Salesforce, Stripe) calls an hour of a worker with nothing to do, from `seconds` of it."""
    salesforce, stripe = sandbox.salesforce.api_calls()["total"], len(sandbox.stripe_requests())
    time.sleep(seconds)
    scale = 3600 / seconds
    return (
        (sandbox.salesforce.api_calls()["total"] - salesforce) * scale,
        (len(sandbox.stripe_requests()) - stripe) * scale,
    )


def _add_requests(sandbox: Sandbox, n: int, *, prefix: str) -> list[str]:
    projects = []
    for i in range(n):
        project = sandbox.add_project(
            f"{prefix}{i}", customer_email=f"{prefix.lower()}{i}@example.com", contract_amount=Decimal("10000")
        )
        sandbox.request_payment(project, type="progress", amount="1250.00", description=f"Progress payment {i}")
        projects.append(project)
    return projects


def _payments_of(sandbox: Sandbox, projects: list[str]) -> list[dict[str, Any]]:
    """These Projects' Payments (status, link, project), read in-process: no API call is counted."""
    pay = sandbox.mapping.payment
    f = pay.fields
    statuses = {v: k for k, v in pay.status.model_dump().items()}
    found: list[dict[str, Any]] = []
    for start in range(0, len(projects), 200):
        ids = ", ".join(f"'{p}'" for p in projects[start : start + 200])
        soql = f"SELECT {f.project}, {f.status}, {f.link_url} FROM {pay.object} WHERE {f.project} IN ({ids})"
        for row in sandbox.salesforce.query(soql)["records"]:
            found.append(
                {"project": row[f.project], "status": statuses.get(row[f.status]), "link_url": row[f.link_url]}
            )
    return found


def _count_in_status(sandbox: Sandbox, status: str) -> int:
    pay = sandbox.mapping.payment
    word = getattr(pay.status, status)
    soql = f"SELECT COUNT() FROM {pay.object} WHERE {pay.fields.status} = '{word}'"
    return int(sandbox.salesforce.query(soql)["totalSize"])


def _drain(sandbox: Sandbox, worker: _WorkerProcess, n: int, *, name: str, status: str) -> Phase:
    """Release the held worker and time it until `n` more Payments reach `status`."""
    before = _count_in_status(sandbox, status)
    sandbox.salesforce.reset_api_calls()
    sandbox.stripe.clear_request_log()
    sandbox.stripe_faults.reset_counts()
    worker.resume()
    # The clock starts with the worker's first call after the hold, not with its sleep.
    _wait_for(lambda: sandbox.salesforce.api_calls()["total"] > 0, timeout=600, what="the worker to wake")
    started = time.monotonic()
    # Each count scans the org's Payments in this process, beside the emulators: poll a big org less.
    poll = min(2.0, max(0.25, n / 5000))
    _wait_for(lambda: _count_in_status(sandbox, status) >= before + n, timeout=3600, what=name, poll=poll)
    phase = Phase(name=name, records=n, seconds=time.monotonic() - started)
    phase.salesforce_calls = sandbox.salesforce.api_calls()["total"]
    stamps = [float(r["at"]) for r in sandbox.stripe.request_log()]
    phase.stripe_calls = len(stamps)
    phase.stripe_busy_seconds = (max(stamps) - min(stamps)) if len(stamps) > 1 else 0.0
    phase.rate_limited = int(sandbox.stripe_faults.counts()["rate_limited"])
    return phase


def _latencies(sandbox: Sandbox, rng: random.Random, *, samples: int, span: float) -> tuple[list[float], list[float]]:
    """Click Request Payment, and pay links already sent, at random instants over a few poll intervals
    (as staff and customers do: never in step with the worker); time each until the CRM shows the
    link, or Paid."""
    ready = _add_requests(sandbox, samples, prefix="Pay")
    _wait_for(lambda: _sent(sandbox, ready) >= samples, timeout=span * 3 + 60, what="links to pay")
    links = {p["project"]: p["link_url"] for p in _payments_of(sandbox, ready)}
    window = max(3 * span, 10.0)
    timeline = sorted(
        [(rng.uniform(0, window), "click", i) for i in range(samples)]
        + [(rng.uniform(0, window), "pay", i) for i in range(samples)]
    )
    pending: dict[str, tuple[str, float]] = {}  # project id -> (what the CRM should show, since when)
    times: dict[str, list[float]] = {"link": [], "paid": []}
    start = time.monotonic()
    for at, what, i in timeline:
        while time.monotonic() < start + at:  # keep watching what is in flight meanwhile
            _collect(sandbox, pending, times)
            time.sleep(min(0.1, max(0.0, start + at - time.monotonic())))
        if what == "click":
            pending[_add_requests(sandbox, 1, prefix=f"L{i}-")[0]] = ("link", time.monotonic())
        else:
            sandbox.pay(links[ready[i]])
            pending[ready[i]] = ("paid", time.monotonic())
    _wait_for(lambda: not _collect(sandbox, pending, times), timeout=span * 4 + 60, what="latency")
    return times["link"], times["paid"]


def _sent(sandbox: Sandbox, projects: list[str]) -> int:
    return sum(1 for p in _payments_of(sandbox, projects) if p["link_url"] and p["status"] == "link_sent")


def _collect(sandbox: Sandbox, pending: dict[str, tuple[str, float]], times: dict[str, list[float]]) -> bool:
    """Note what the CRM shows now for the records in flight; whether any is still in flight."""
    if not pending:
        return False
    now = time.monotonic()
    for payment in _payments_of(sandbox, list(pending)):
        what, since = pending[payment["project"]]
        shown = payment["status"] == "paid" if what == "paid" else bool(payment["link_url"])
        if shown:
            times[what].append(now - since)
            del pending[payment["project"]]
    return bool(pending)


def _wait_for(condition: Callable[[], Any], *, timeout: float, what: str, poll: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(poll)


# --- the table -------------------------------------------------------------------------------------
def _phase_line(phase: Phase) -> str:
    return (
        f"  {phase.name}: {phase.seconds:.1f} s, {phase.salesforce_calls} Salesforce calls, "
        f"{phase.stripe_calls} Stripe calls ({phase.stripe_rate:.1f}/s), {phase.rate_limited} rate-limited"
    )


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def format_result(r: BenchResult) -> str:
    rows = [f"crm-stripe-sync bench: N = {r.n}", ""]
    head = f"{'phase':<28}{'seconds':>9}{'SF calls':>10}{'Stripe':>8}{'Stripe/s':>10}{'429s':>6}"
    rows += [head, "-" * len(head)]
    for p in r.phases:
        rows.append(
            f"{p.name:<28}{p.seconds:>9.1f}{p.salesforce_calls:>10}{p.stripe_calls:>8}"
            f"{p.stripe_rate:>10.1f}{p.rate_limited:>6}"
        )
    rows.append("")
    rows.append(f"worker start-up (login, org check, first cycle): {r.start_up_salesforce_calls} Salesforce calls")
    idle_sf, idle_stripe = r.idle_per_hour
    rows.append(
        f"idle, calls an hour (measured over {r.idle_seconds:g} s, the hourly sweep apart): "
        f"Salesforce {idle_sf:.0f}, Stripe {idle_stripe:.0f}"
    )
    for phase in r.phases:
        share = phase.stripe_rate / r.configured_rate * 100 if r.configured_rate else 0.0
        rows.append(
            f"Stripe rate, {phase.name}: {phase.stripe_rate:.1f}/s of the configured {r.configured_rate:.1f}/s "
            f"({share:.0f}%; Stripe's test-mode limit is {STRIPE_LIMITS['test']:.0f}/s)"
        )
    target = r.interval + 2
    rows.append(
        f"latency, click → link in the CRM: p50 {_pct(r.link_latency, 50):.1f} s, p95 {_pct(r.link_latency, 95):.1f} s"
        f" (target p95 ≤ interval + 2 s = {target:g} s; {len(r.link_latency)} samples)"
    )
    rows.append(
        f"latency, paid in Stripe → Paid in the CRM: p50 {_pct(r.paid_latency, 50):.1f} s, "
        f"p95 {_pct(r.paid_latency, 95):.1f} s ({len(r.paid_latency)} samples)"
    )
    rows.append(f"worker peak RSS: {r.peak_rss_mb:.0f} MB")
    if r.baseline and r.phases:
        rows += ["", f"naive baseline, measured on {r.baseline[0].records} requests and scaled to N = {r.n}:"]
        rows.append(f"{'phase':<28}{'SF calls':>10}{'seconds':>10}{'SF calls ×':>12}{'time ×':>8}")
        for ours, naive in zip(r.phases, r.baseline, strict=False):
            scale = r.n / naive.records if naive.records else 0.0
            sf, secs = naive.salesforce_calls * scale, naive.seconds * scale
            rows.append(
                f"{naive.name:<28}{sf:>10.0f}{secs:>10.1f}"
                f"{_ratio(sf, ours.salesforce_calls):>12}{_ratio(secs, ours.seconds):>8}"
            )
    return "\n".join(rows)


def _ratio(naive: float, ours: float) -> str:
    return f"{naive / ours:.1f}" if ours else "-"


def main(args: Any) -> int:
    result = run_bench(
        n=args.n,
        baseline_n=min(args.baseline_n, args.n),
        salesforce_latency=args.salesforce_latency_ms / 1000,
        stripe_latency=args.stripe_latency_ms / 1000,
        interval=args.interval,
        latency_samples=args.latency_samples,
        seed=args.seed,
    )
    print()
    print(format_result(result))
    return 0

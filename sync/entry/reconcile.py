"""`sync reconcile`: sweep open Payments against Stripe now, show progress, print what changed."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from sync.config.settings import Settings
from sync.domain.errors import StripeKeyRejected
from sync.entry.bootstrap import build_app
from sync.entry.startup import start_up
from sync.runtime.logs import log
from sync.service.stripe_results import OutcomeReport

EXIT_OK = 0
EXIT_NOT_CONNECTED = 1


def run_reconcile(settings: Settings, *, include_settled: bool, out: TextIO = sys.stdout) -> int:
    """Repair every open Payment from Stripe's current state; 1 when Stripe is not usable."""
    stop = threading.Event()
    app = build_app(settings, stop=stop)
    start_up(app, stop, keep_trying=False, check_org=False)
    setups = app.retry(app.crm.read_active_setups)
    readiness = app.connection.refresh(setups)
    if readiness.gateway is None:
        print("Stripe is not connected: see the Stripe Setup record's Last Error.", file=out)
        return EXIT_NOT_CONNECTED
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    try:
        report = app.outcomes.sweep(readiness.gateway, include_settled=include_settled, progress=bar)
    except StripeKeyRejected:
        app.connection.current(readiness)  # said on the Setup record, as the worker would
        print("\nStripe refused the key during the sweep: see the Stripe Setup record's Last Error.", file=out)
        return EXIT_NOT_CONNECTED
    finally:
        if bar is not None:
            bar.done()
    print(summary(report), file=out)
    log.info("reconcile.reported", changed=len(report.changed))
    return EXIT_OK


def summary(report: OutcomeReport) -> str:
    lines = [f"Checked {report.checked} Payment(s) against Stripe; changed {len(report.changed)}."]
    for payment_id, write in sorted(report.changed.items()):
        parts = []
        if write.new_status is not None:
            parts.append(f"status -> {write.new_status.value.replace('_', ' ')}")
        others = sorted(k for k in write.change.written() if k not in ("status", "last_synced_at"))
        if others:
            parts.append("set " + ", ".join(others))
        if write.refunds:
            parts.append(f"{len(write.refunds)} refund record(s) written")
        if write.notices:
            parts.append(f"staff told ({', '.join(n.kind for n in write.notices)})")
        lines.append(f"  {payment_id}: " + "; ".join(parts))
    if report.pending:
        lines.append(f"Not reachable now, tried again by the worker: {', '.join(sorted(report.pending))}")
    for payment_id, error in sorted(report.failed.items()):
        lines.append(f"  {payment_id}: could not be repaired: {error}")
    return "\n".join(lines)


class ProgressBar:
    """A one-line bar on a terminal: `[#####.....] 50/100`."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // total if total else self.WIDTH
        self._stream.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total} Payments")
        self._stream.flush()

    def done(self) -> None:
        self._stream.write("\n")
        self._stream.flush()

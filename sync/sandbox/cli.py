"""`python -m sync sandbox`: run both emulators standing alone until interrupted."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from sync.sandbox.environment import DEFAULT_MAPPING, Sandbox
from sync.sandbox.seed import seed_projects


def serve(args: argparse.Namespace) -> int:
    sandbox = Sandbox(
        mapping_file=args.mapping.resolve() if args.mapping else DEFAULT_MAPPING,
        state_dir=args.db.resolve() if args.db else None,
        salesforce_port=args.salesforce_port,
        stripe_port=args.stripe_port,
    ).start()
    seeded = None
    if not sandbox.payments() and not _has_projects(sandbox):
        seeded = seed_projects(sandbox)
        sandbox.request_payment(seeded.kitchen, type="deposit", description="Deposit on signing")
        if not args.no_setup:
            sandbox.add_setup()
    env = sandbox.worker_env(POLL_INTERVAL_SECONDS="5")
    settings_text = "".join(f"{k}={v}\n" for k, v in env.items())
    _write_private(args.env_out, settings_text)
    # With no .env here, write one too (the worker reads .env by itself), and remove it on the way out.
    dotenv = Path(".env")
    own_dotenv = not dotenv.exists()
    if own_dotenv:
        _write_private(dotenv, DOTENV_MARKER + settings_text)
    c = sandbox.credentials
    print(f"Salesforce org emulator: {sandbox.salesforce_url}  (HTTPS; CA certificate {sandbox.tls.ca_bundle})")
    print(f"  OAuth client credentials: client id {c.client_id}, client secret {c.client_secret}")
    print(f"  control API: {sandbox.salesforce_url}/__sandbox/")
    print(f"Stripe API emulator:     {sandbox.stripe_url}")
    print(f"  keys: test {c.stripe_test_key}, live {c.stripe_live_key}")
    print(f"  control API: {sandbox.stripe_url}/__sandbox/")
    print(f"State: {'SQLite files in ' + str(sandbox.dir) if args.db else 'in memory'}")
    if seeded:
        setup = "" if args.no_setup else " and an active Stripe Setup record (test mode)"
        print(f"Seeded 4 projects{setup}; 'Kitchen remodel' has Request Payment ticked (a Deposit):")
        for name, record_id in vars(seeded).items():
            print(f"  {name:<9} {record_id}")
    project = sandbox.mapping.project
    example = seeded.deck if seeded else "<Project Id>"
    print("Act as staff through the control API, e.g. tick Request Payment on the deck project:")
    print(
        f"  curl -s --cacert {sandbox.tls.ca_bundle} -X PATCH "
        f"{sandbox.salesforce_url}/__sandbox/records/{project.object}/{example} "
        f'-d \'{{"{project.fields.request_payment}": true, "{project.fields.requested_amount}": 1500, '
        f'"{project.fields.request_type}": "{sandbox.mapping.payment.type.progress}", '
        f'"{project.fields.requested_at}": "2026-01-01T00:00:00Z"}}\''
    )
    refund = sandbox.mapping.refund
    print("...or refund a paid Payment from the CRM (a Refund record; no amount refunds all that is left):")
    print(
        f"  curl -s --cacert {sandbox.tls.ca_bundle} -X POST "
        f"{sandbox.salesforce_url}/__sandbox/records/{refund.object} "
        f'-d \'{{"{refund.fields.payment}": "<Payment Id>", "{refund.fields.amount}": 250, '
        f'"{refund.fields.reason}": "Tile not installed", "{refund.fields.status}": "{refund.status.requested}"}}\''
    )
    pf = sandbox.mapping.payment.fields
    print(
        f"  (on a Payment: {pf.resend}=true resends its link, {pf.cancel_requested}=true cancels it, "
        f"a new {pf.amount} replaces its link)"
    )
    print(
        f"  (move time on, e.g. to a reminder: curl -s -X POST {sandbox.stripe_url}/__sandbox/clock/advance "
        "-d '{\"hours\": 49}')"
    )
    print("Act as the customer or the Stripe Dashboard, e.g. pay a Payment's link with a card that is declined:")
    print(
        f"  curl -s -X POST {sandbox.stripe_url}/__sandbox/pay "
        '-d \'{"link": "<Payment Link URL>", "card": "4000000000000002"}\''
    )
    print(
        "  (then card 4242424242424242 to pay, 4000000000007726 for refunds that stay pending, "
        '4000000000005126 for refunds that fail later; POST /__sandbox/refunds {"charge_or_payment_intent": '
        '"ch_...", "amount": 1000} to refund as the Dashboard; POST /__sandbox/disputes to dispute)'
    )
    print("Inject faults (each emulator its own; GET shows config and counts, DELETE clears), e.g.:")
    print(
        f"  curl -s -X POST {sandbox.stripe_url}/__sandbox/faults "
        '-d \'{"seed": 42, "latency": 0.08, "rate_limit": true, "rules": [{"kind": "lock_timeout", "rate": 0.1}]}\''
    )
    print(
        "  (Stripe kinds: rate_limit, lock_timeout, server_error, unavailable, reset, timeout; Salesforce: "
        "invalid_session, unable_to_lock_row, request_limit_exceeded, unavailable, reset, timeout; "
        '{"outage_seconds": 5} fails every API call for 5 s)'
    )
    print(f"Worker settings written to {args.env_out}" + (" and .env" if own_dotenv else "") + ". In another terminal:")
    print("  python -m sync run --once" if own_dotenv else f"  python -m sync --env-file {args.env_out} run --once")
    print("Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        sandbox.stop()
        if own_dotenv and dotenv.exists() and dotenv.read_text(encoding="utf-8").startswith(DOTENV_MARKER):
            dotenv.unlink()
    return 0


DOTENV_MARKER = "# Written by `python -m sync sandbox` for its emulators; removed when it stops.\n"


def _write_private(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def _has_projects(sandbox: Sandbox) -> bool:
    return bool(sandbox.salesforce.query(f"SELECT Id FROM {sandbox.mapping.project.object} LIMIT 1")["records"])

"""`python -m sync` / `crm-stripe-sync`: run the worker, check an org, or try it on the sandbox."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_PROBLEMS = 1  # `check` found problems; `demo` missed an expected outcome
EXIT_CONFIG = 2  # bad worker configuration: one message, nothing done
EXIT_UNSETTLED = 3  # `run --once` left a record in a state that needs another cycle


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-stripe-sync",
        description="Turn payment requests in a Salesforce CRM into Stripe payment links, and keep both in step.",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        help="read settings from this file as well as the environment (default: .env if present)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the worker: poll the CRM, act, sleep",
        description=("Run the worker loop until SIGTERM or SIGINT (then it stops within 10 s)."),
    )
    run.add_argument(
        "--once",
        action="store_true",
        help=("run one cycle and exit: 0 when every record it touched is settled, 3 when some need another cycle"),
    )

    commands.add_parser(
        "check",
        help="check the org's objects, fields, permissions and Stripe Setup",
        description=(
            "Connect to the org and report every mapped object or field that is missing or not readable/"
            "writable by the worker's user, and whether the Stripe Setup record is present and its key works."
        ),
    )

    metadata = commands.add_parser(
        "metadata",
        help="write the Salesforce package (objects, fields, actions, layouts, permission sets, reports)",
        description=(
            "Write a Salesforce DX project for the mapping in use, for `sf project deploy start`. A mapping with names "
            "Salesforce would refuse is refused, one line a problem, before anything is written; an existing folder is "
            "replaced only once the whole tree is written."
        ),
    )
    metadata.add_argument("--out", type=Path, required=True, help="the folder to write (replaced if it exists)")
    metadata.add_argument(
        "--mapping", type=Path, default=None, help="the mapping file (default: CRM_MAPPING_FILE, else the default)"
    )

    reconcile = commands.add_parser(
        "reconcile",
        help="repair open Payments from Stripe's current state now, and print what changed",
        description=(
            "Read Stripe's current state for every open Payment (link sent, payment failed, or with a refund "
            "pending) and write what events did not deliver. The worker also does this periodically "
            "(RECONCILE_INTERVAL_MINUTES). Shows a progress bar on a terminal."
        ),
    )
    reconcile.add_argument(
        "--all", action="store_true", help="also check paid, refunded, disputed and canceled Payments"
    )

    sandbox = commands.add_parser(
        "sandbox",
        help="run the local Salesforce and Stripe emulators",
        description=(
            "Start the local Salesforce org and Stripe API emulators on 127.0.0.1, seed them, print their URLs and "
            "credentials, write the worker's settings to an env file, and serve until interrupted."
        ),
    )
    sandbox.add_argument(
        "--env-out",
        type=Path,
        default=Path("sandbox.env"),
        help="where to write the worker's settings for this sandbox (default: sandbox.env)",
    )
    sandbox.add_argument("--db", type=Path, help="keep the sandbox state in SQLite files in this folder")
    sandbox.add_argument("--salesforce-port", type=int, default=0, help="port for the org emulator (default: any)")
    sandbox.add_argument("--stripe-port", type=int, default=0, help="port for the Stripe emulator (default: any)")
    sandbox.add_argument(
        "--mapping",
        type=Path,
        default=None,
        help="the mapping whose objects the sandbox org has (default: mappings/default.toml)",
    )
    sandbox.add_argument(
        "--no-setup", action="store_true", help="seed no Stripe Setup record (to see requests wait for one)"
    )

    demo = commands.add_parser(
        "demo",
        help="show the whole request-to-link lifecycle on the sandbox",
        description=(
            "Start the sandbox, seed an org, run the real worker loop against it, act as staff and an admin, and show "
            "what happens. Exits 0 only when every expected outcome happened."
        ),
    )
    demo.add_argument("--quiet", action="store_true", help="print only the narrative and the final table")

    bench = commands.add_parser(
        "bench",
        help="measure API calls, Stripe rate, latency and memory on the sandbox, against a naive baseline",
        description=(
            "Start the sandbox with realistic latency and Stripe's test-mode rate limit, build a backlog of N "
            "requests, run the worker until every link is emailed and then until every payment is Paid, time "
            "single requests, run a naive one-record-at-a-time script on a sample, and print a table."
        ),
    )
    bench.add_argument("--n", type=int, default=1000, help="requests in the backlog (default: 1000)")
    bench.add_argument(
        "--baseline-n", type=int, default=100, help="requests the naive baseline runs on, scaled to N (default: 100)"
    )
    bench.add_argument("--salesforce-latency-ms", type=float, default=80, help="added to each Salesforce call")
    bench.add_argument("--stripe-latency-ms", type=float, default=150, help="added to each Stripe call")
    bench.add_argument(
        "--interval", type=float, default=30, help="the worker's POLL_INTERVAL_SECONDS (default: 30, its default)"
    )
    bench.add_argument("--latency-samples", type=int, default=20, help="single requests timed (default: 20)")
    bench.add_argument("--seed", type=int, default=1, help="seed of the sandbox's faults and the click times")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.env_file is not None:
        if not args.env_file.is_file():
            print(
                f"crm-stripe-sync: configuration error: --env-file {args.env_file}: no such file",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        _load_env_file(args.env_file)
    if args.command == "sandbox":
        from sync.sandbox.cli import serve

        return serve(args)
    if args.command == "demo":
        from sync.sandbox.demo import run_demo

        return run_demo(quiet=args.quiet)
    if args.command == "metadata":
        from sync.entry.metadata import run_metadata

        return run_metadata(out=args.out, mapping_file=args.mapping)
    if args.command == "bench":
        from sync.sandbox.bench import main as run_bench

        return run_bench(args)
    return _worker_command(args)


def _load_env_file(path: Path) -> None:
    """Values from the file fill in what the environment does not already set."""
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        os.environ.setdefault(name.strip(), value.strip().strip("'\""))


def _worker_command(args: argparse.Namespace) -> int:
    from sync.config.settings import load_settings
    from sync.domain.errors import ConfigError, PermanentError, RetryableError
    from sync.runtime.logs import configure_logging, log

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"crm-stripe-sync: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    try:
        if args.command == "check":
            from sync.entry.check import run_check

            return run_check(settings)
        if args.command == "reconcile":
            from sync.entry.reconcile import run_reconcile

            return run_reconcile(settings, include_settled=args.all)
        return _run(settings, once=args.once)
    except ConfigError as exc:
        log.error("worker.config_error", error=str(exc))
        print(f"crm-stripe-sync: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RetryableError as exc:
        log.error("worker.unreachable", error=str(exc))
        print(f"crm-stripe-sync: could not reach Salesforce: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    except PermanentError as exc:  # the org refused something the worker cannot do without
        log.error("worker.refused", error=str(exc))
        print(f"crm-stripe-sync: stopped: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS


def _run(settings: object, *, once: bool) -> int:
    import threading

    from sync.entry.bootstrap import build_app
    from sync.entry.startup import start_up
    from sync.entry.worker import alongside, run_loop, run_until_signalled
    from sync.runtime.logs import log

    def work(stop: threading.Event) -> None:
        app = build_app(settings, stop=stop)  # type: ignore[arg-type]
        if not start_up(app, stop, keep_trying=not once, check_org=True):
            return  # stopped while Salesforce was still unreachable
        log.info("worker.started", once=once, poll_interval_seconds=app.settings.poll_interval_seconds)
        if once:
            report = app.runner.run_cycle()
            result.append(EXIT_OK if report.all_stable else EXIT_UNSETTLED)
            return
        events_every = app.settings.stripe_events_interval_seconds
        if not events_every:
            run_loop(app.runner.run_cycle, interval=app.settings.poll_interval_seconds, stop=stop,
                     slowdown=app.budget.slowdown)  # fmt: skip
            return
        app.runner.read_events_apart()
        with alongside(lambda: run_loop(app.runner.run_events, interval=events_every, stop=stop), stop, "events"):
            run_loop(app.runner.run_cycle, interval=app.settings.poll_interval_seconds, stop=stop,
                     slowdown=app.budget.slowdown)  # fmt: skip

    result: list[int] = []
    code = run_until_signalled(work)
    return result[0] if result else code


if __name__ == "__main__":
    raise SystemExit(main())

"""A sandbox shared by a whole module, and the worker run in-process against it, one cycle at a time.

Starting a sandbox and logging in costs about half a second; the bad-input table has dozens of rows,
each with Projects of its own, so one org and one long-lived worker serve them all, as in production,
where one worker meets every malformed record in turn.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from sync.config.settings import Settings, load_settings
from sync.entry.bootstrap import build_app
from sync.sandbox.environment import REPO_ROOT, Sandbox
from sync.sandbox.salesforce.values import truncate_ms
from sync.service.runner import Runner

GOOD_AMOUNT = "250.00"


def clean_environment() -> dict[str, str]:
    """This process's environment without any worker setting a developer's shell may carry."""
    settings = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in settings}


def in_process_runner(sandbox: Sandbox) -> Runner:
    """The worker as `sync run` builds it (same composition root), logged in, without its process."""
    env = sandbox.worker_env()
    with pytest.MonkeyPatch.context() as mp:
        for name in set(os.environ) - set(clean_environment()):
            mp.delenv(name)
        settings = load_settings(_env_file=None, **{k.lower(): v for k, v in env.items()})
    app = build_app(settings)
    app.crm.connect()
    return app.runner


def raw_write(sandbox: Sandbox, record_id: str, **api_values: Any) -> None:
    """Store values straight in the org, past the checks a save makes today.

    For what a record can hold although a save would refuse it now: a picklist value an admin
    deactivated or deleted after records took it (Salesforce keeps it on those records), or one
    written while the picklist was unrestricted.
    """
    org = sandbox.salesforce
    with org.db.transaction() as conn:
        row = org.store.get(conn, record_id)
        assert row is not None, record_id
        row.values.update(api_values)
        row.values["LastModifiedDate"] = row.values["SystemModstamp"] = truncate_ms(sandbox.clock.now())
        org.store.save(conn, row)


def secrets_of(sandbox: Sandbox) -> list[str]:
    """Every credential the sandbox holds: the org's client secret and tokens, both Stripe keys."""
    c = sandbox.credentials
    with sandbox.salesforce.db.transaction() as conn:
        tokens = [row["token"] for row in conn.execute("SELECT token FROM sf_tokens")]
    return [c.client_secret, c.stripe_test_key, c.stripe_live_key, *tokens]


@dataclass
class Cycle:
    """What one cycle did, as the user and Stripe saw it."""

    stripe: list[dict[str, Any]]  # the Stripe emulator's request log for this cycle

    def calls(self) -> list[tuple[str, str]]:
        return [(r["method"], r["path"]) for r in self.stripe]

    def links_made_for(self) -> Counter[str]:
        """Payment ids a POST /v1/payment_links was sent for (replays included)."""
        return Counter(
            (r["params"].get("metadata") or {}).get("crm_payment_id", "?")
            for r in self.stripe
            if r["method"] == "POST" and r["path"] == "/v1/payment_links"
        )

    def refunds_posted(self) -> list[dict[str, Any]]:
        return [r["params"] for r in self.stripe if r["method"] == "POST" and r["path"] == "/v1/refunds"]


class World:
    """One org and one worker for a module; each row makes its own Projects."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.runner = in_process_runner(sandbox)
        self._names = count(1)

    def project(
        self,
        name: str | None = None,
        *,
        customer_email: str | None = "pat@example.com",
        contract_amount: Decimal | None = Decimal("10000.00"),
        currency: str | None = "USD",
    ) -> str:
        return self.sandbox.add_project(
            name or f"Job {next(self._names)}",
            customer_email=customer_email,
            contract_amount=contract_amount,
            currency=currency,
        )

    def good_request(self) -> str:
        """A valid request staff make at the same time as the bad one: it must go out in the same cycle."""
        project = self.project(f"Good job {next(self._names)}", customer_email="good@example.com")
        self.sandbox.request_payment(project, type="progress", amount=GOOD_AMOUNT, description="Framing")
        return project

    def cycle(self) -> Cycle:
        self.sandbox.stripe.clear_request_log()
        self.runner.run_cycle()
        return Cycle(stripe=self.sandbox.stripe_requests())

    def payments_of(self, project_id: str) -> list[dict[str, Any]]:
        return [p for p in self.sandbox.payments() if p["project"] == project_id]

    def only_payment_of(self, project_id: str) -> dict[str, Any]:
        [payment] = self.payments_of(project_id)
        return payment

    def mail_for(self, payment_id: str) -> list[dict[str, Any]]:
        return [m for m in self.sandbox.outbox() if m["related_record_id"] == payment_id]

    def assert_sent(self, project_id: str, cycle: Cycle) -> dict[str, Any]:
        """The request went out in this cycle: one Payment, one link made for it, one email with that link."""
        payment = self.only_payment_of(project_id)
        assert payment["status"] == "link_sent", payment
        assert payment["sync_error"] is None
        assert cycle.links_made_for()[payment["id"]] == 1
        [mail] = self.mail_for(payment["id"])
        assert payment["link_url"] and payment["link_url"] in mail["body"]
        return payment

    def secrets(self) -> list[str]:
        return secrets_of(self.sandbox)

    def texts_staff_read(self) -> list[str]:
        """Every message the worker wrote on a record, and every email it sent."""
        texts = []
        for p in self.sandbox.payments():
            texts += [p["sync_error"] or "", p["sync_log"] or "", p["last_failure"] or ""]
        texts += [r["failure_reason"] or "" for r in self.sandbox.refunds()]
        setups = self.sandbox.salesforce.query(f"SELECT Id FROM {self.sandbox.mapping.setup.object}")["records"]  # noqa: S608 (mapping names)
        texts += [self.sandbox.setup(s["Id"])["last_error"] or "" for s in setups]
        texts += [m["subject"] + m["body"] for m in self.sandbox.outbox()]
        return texts


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """A sandbox with a good Stripe Setup, and a worker that has run its first cycle."""
    with Sandbox() as sandbox:
        sandbox.add_setup()
        made = World(sandbox)
        made.cycle()
        yield made


@pytest.fixture(scope="module")
def setup_world() -> Iterator[World]:
    """A sandbox of its own for Setup rows, whose bad Setup records would stop every other row's links."""
    with Sandbox() as sandbox:
        yield World(sandbox)


@dataclass
class WorkerRun:
    code: int
    stdout: str
    stderr: str


def run_worker(sandbox: Sandbox, *args: str, **overrides: str) -> WorkerRun:
    """`python -m sync ARGS` as ops would start it, with the sandbox's settings and `overrides`."""
    env = {**clean_environment(), **sandbox.worker_env(LOG_FORMAT="json", **overrides)}
    proc = subprocess.run(
        [sys.executable, "-m", "sync", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return WorkerRun(proc.returncode, proc.stdout, proc.stderr)


def mapping_text() -> str:
    return (REPO_ROOT / "mappings" / "default.toml").read_text(encoding="utf-8")


def write_file(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the CI chaos run, shared by test_chaos.py and test_secrets.py -------------------------------------


@pytest.fixture(scope="session")
def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One CI chaos run (seed: CHAOS_SEED, else a fixed one); its sandbox stays up for the scans."""
    from tests.reliability.chaos import DEFAULT_CI_SEED, MODES, ChaosRun, seed_from_environment

    run = ChaosRun(
        seed=seed_from_environment(DEFAULT_CI_SEED), mode=MODES["ci"], workdir=tmp_path_factory.mktemp("chaos")
    )
    with run:
        run.run()
        print(run.report.summary())
        yield run


@pytest.fixture(scope="session")
def busy_chaos_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One busy-mode chaos run (seed: CHAOS_SEED, else the CI one): the chaos on a busy org."""
    from tests.reliability.chaos import DEFAULT_CI_SEED, MODES, ChaosRun, seed_from_environment

    run = ChaosRun(
        seed=seed_from_environment(DEFAULT_CI_SEED), mode=MODES["busy"], workdir=tmp_path_factory.mktemp("busy")
    )
    with run:
        run.run()
        print(run.report.summary())
        yield run

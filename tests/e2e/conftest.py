"""The worker as a real process against the sandbox running in the test process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sync.sandbox.environment import REPO_ROOT, Sandbox


@dataclass
class WorkerRun:
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list[str]:
        import json

        out = []
        for line in self.stdout.splitlines():
            try:
                out.append(json.loads(line)["event"])
            except (ValueError, KeyError):
                continue
        return out


class Worker:
    """Start `python -m sync ...` with the sandbox's settings; keep every line it printed."""

    def __init__(self, sandbox: Sandbox, log_dir: Path) -> None:
        self.sandbox = sandbox
        self.log_dir = log_dir
        self.outputs: list[str] = []
        self._count = 0

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "STRIPE_", "CRM_"))}
        env.update(self.sandbox.worker_env(LOG_FORMAT="json", **overrides))
        return env

    def once(self, *global_args: str, timeout: float = 60, **overrides: str) -> WorkerRun:
        return self.command(*global_args, "run", "--once", timeout=timeout, **overrides)

    def command(self, *args: str, timeout: float = 60, **overrides: str) -> WorkerRun:
        proc = subprocess.run(
            [sys.executable, "-m", "sync", *args],
            cwd=REPO_ROOT,
            env=self.env(**overrides),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.outputs.extend([proc.stdout, proc.stderr])
        return WorkerRun(proc.returncode, proc.stdout, proc.stderr)

    def start(self, **overrides: str) -> subprocess.Popen[str]:
        """Start the long-running loop; its output goes to a file read back by `collect`."""
        self._count += 1
        path = self.log_dir / f"worker-{self._count}.log"
        with path.open("w") as handle:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [sys.executable, "-m", "sync", "run"],
                cwd=REPO_ROOT,
                env=self.env(**overrides),
                stdout=handle,
                stderr=subprocess.STDOUT,
                text=True,
            )
        proc.log_path = path  # type: ignore[attr-defined]
        return proc

    def collect(self, proc: subprocess.Popen[str]) -> str:
        text = proc.log_path.read_text()  # type: ignore[attr-defined]
        self.outputs.append(text)
        return text


def wait_until(predicate: Callable[[], bool], *, timeout: float = 30, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def worker(sandbox: Sandbox, tmp_path: Path) -> Iterator[Worker]:
    w = Worker(sandbox, tmp_path)
    yield w
    secrets = _secrets(sandbox)
    for text in w.outputs:
        for secret in secrets:
            assert secret not in text, "a secret reached the worker's output"


def _secrets(sandbox: Sandbox) -> list[str]:
    c = sandbox.credentials
    with sandbox.salesforce.db.transaction() as conn:
        tokens = [row["token"] for row in conn.execute("SELECT token FROM sf_tokens")]
    return [c.client_secret, c.stripe_test_key, c.stripe_live_key, *tokens]

"""The command line as a new user meets it: --help everywhere, the demo, the standalone sandbox."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sync.sandbox.environment import REPO_ROOT


def _sync(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sync", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def _start_sandbox(folder: Path, env_file: Path) -> subprocess.Popen[str]:
    """`python -m sync sandbox` in `folder`, its settings written to `env_file`, its output unbuffered."""
    return subprocess.Popen(
        [sys.executable, "-m", "sync", "sandbox", "--env-out", str(env_file)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _run_once_in(folder: Path) -> subprocess.CompletedProcess[str]:
    """`run --once` from `folder` with no worker settings in the environment: only the folder's .env."""
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "STRIPE_", "CRM_"))}
    return subprocess.run(
        [sys.executable, "-m", "sync", "run", "--once"],
        cwd=folder,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [[], ["run"], ["check"], ["sandbox"], ["demo"]])
def test_every_command_has_help(command):
    result = _sync(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: crm-stripe-sync")
    assert len(result.stdout.splitlines()) > 3


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "crm-stripe-sync"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "run" in result.stdout and "demo" in result.stdout


def test_demo_exits_0_when_every_expected_outcome_happened():
    result = _sync("demo", "--quiet", timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Demo complete: every expected outcome happened." in result.stdout
    assert "MISSED" not in result.stdout


def test_standalone_sandbox_serves_the_worker_its_settings(tmp_path: Path):
    """In a folder with no .env, the sandbox writes one, so a plain `run --once` finds it."""
    env_file = tmp_path / "sandbox.env"
    proc = _start_sandbox(tmp_path, env_file)
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert env_file.exists(), "the sandbox never wrote its settings"
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())

        assert (tmp_path / ".env").exists()
        run = _run_once_in(tmp_path)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr

        control = settings["SALESFORCE_LOGIN_URL"] + "/__sandbox/query"
        rows = requests.post(
            control,
            data=json.dumps({"q": "SELECT Status__c, Payment_Link_URL__c FROM Payment__c"}),
            verify=settings["SALESFORCE_CA_BUNDLE"],
            timeout=10,
        ).json()["records"]
        assert [r["Status__c"] for r in rows] == ["Link Sent"]
        assert rows[0]["Payment_Link_URL__c"].startswith(settings["STRIPE_API_BASE"])
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "Salesforce org emulator: https://127.0.0.1:" in out and "Stripe API emulator:" in out
    assert not (tmp_path / ".env").exists(), "the sandbox leaves no .env behind"


def test_standalone_sandbox_never_overwrites_an_existing_env_file(tmp_path: Path):
    (tmp_path / ".env").write_text("LOG_LEVEL=debug\n")
    env_file = tmp_path / "sandbox.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "sandbox", "--env-out", str(env_file)], cwd=tmp_path, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert env_file.exists()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    assert (tmp_path / ".env").read_text() == "LOG_LEVEL=debug\n"


def test_the_sandboxs_printed_request_works_when_run_twice(tmp_path: Path):
    """Issue 17 item 3: the printed line sets the same Requested At every time; each run is a request."""
    env_file = tmp_path / "sandbox.env"
    proc = _start_sandbox(tmp_path, env_file)
    try:
        printed = []
        for line in proc.stdout or ():
            printed.append(line)
            if "curl -s" in line and "-X PATCH" in line:
                break
        words = shlex.split(printed[-1])
        url, body = words[words.index("PATCH") + 1], words[words.index("-d") + 1]
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())

        def once() -> None:
            run = _run_once_in(tmp_path)
            assert run.returncode == 0, run.stdout[-2000:] + run.stderr

        once()  # the seeded Kitchen request
        for _ in range(2):
            answer = requests.patch(url, data=body, verify=settings["SALESFORCE_CA_BUNDLE"], timeout=10)
            assert answer.ok, answer.text
            once()

        deck = url.rsplit("/", 1)[-1]
        rows = requests.post(
            settings["SALESFORCE_LOGIN_URL"] + "/__sandbox/query",
            data=json.dumps({"q": f"SELECT Status__c, Amount__c FROM Payment__c WHERE Project__c = '{deck}'"}),  # noqa: S608
            verify=settings["SALESFORCE_CA_BUNDLE"],
            timeout=10,
        ).json()["records"]
        assert [(r["Status__c"], r["Amount__c"]) for r in rows] == [("Link Sent", 1500)] * 2
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)

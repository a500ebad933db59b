"""Each adapter against the sandbox's emulators over loopback HTTP, in the test process."""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from sync.adapters.salesforce.gateway import SalesforceCrm, build_http_session
from sync.adapters.stripe.payments import StripePayments
from sync.config.mapping import load_mapping
from sync.config.settings import Settings
from sync.sandbox import environment
from sync.sandbox.environment import Sandbox
from sync.sandbox.salesforce.app import SalesforceEmulator

_WORKER_VARIABLES = ("SALESFORCE_", "STRIPE_", "CRM_", "EMAIL_TEMPLATE_", "BATCH_SIZE", "POLL_INTERVAL", "LOG_")


@pytest.fixture(autouse=True)
def _no_worker_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the sandbox only, never from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(_WORKER_VARIABLES):
            monkeypatch.delenv(name)


# A Sandbox takes about a second to stop (each server's serve_forever polls every 0.5 s), so the
# servers are stopped on background threads that are all joined once, at the end of the session.
_stopping: list[threading.Thread] = []


@pytest.fixture(scope="session", autouse=True)
def _join_stopping_sandboxes() -> Iterator[None]:
    yield
    for thread in _stopping:
        thread.join(timeout=10)


def _stop_later(sandbox: Sandbox) -> None:
    thread = threading.Thread(target=sandbox.stop, name="sandbox-stop")
    thread.start()
    _stopping.append(thread)


@pytest.fixture
def start_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start a Sandbox with the given constructor arguments; it stops after the test."""
    started: list[Sandbox] = []

    def start(**kwargs: Any) -> Sandbox:
        sandbox = Sandbox(**kwargs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        _stop_later(sandbox)


@pytest.fixture
def sandbox(start_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return start_sandbox()


@pytest.fixture
def small_batch_sandbox(start_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A sandbox whose org answers queries 2 records a page (Salesforce's default is 2000)."""
    monkeypatch.setattr(environment, "SalesforceEmulator", functools.partial(SalesforceEmulator, batch_size=2))
    return start_sandbox()


@pytest.fixture
def paged_subqueries_sandbox(start_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A sandbox whose org pages parents and each parent's child rows 2 at a time (a real org: 2000
    and 499; 200 and 199 with long text fields), so the worker's child paging runs on small data."""
    emulator = functools.partial(SalesforceEmulator, batch_size=2, subquery_batch_size=2)
    monkeypatch.setattr(environment, "SalesforceEmulator", emulator)
    return start_sandbox()


def settings_for(sandbox: Sandbox, **overrides: str) -> Settings:
    """The worker's settings for `sandbox`, as the worker reads them (no .env file)."""
    env = sandbox.worker_env(**overrides)
    return Settings(_env_file=None, **{name.lower(): value for name, value in env.items()})  # type: ignore[call-arg]


class SentRequests(list[requests.PreparedRequest]):
    """Every request a session sent and got an answer to, in order (a response hook)."""

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.append(response.request)
        return response

    def to(self, path_end: str) -> list[requests.PreparedRequest]:
        return [r for r in self if (r.path_url or "").split("?")[0].rstrip("/").endswith(path_end)]


@pytest.fixture
def sent() -> SentRequests:
    return SentRequests()


@pytest.fixture
def crm_for(sent: SentRequests) -> Iterator[Callable[[Settings], SalesforceCrm]]:
    """Build a SalesforceCrm as the composition root does, on a session that records and gets closed."""
    sessions: list[requests.Session] = []

    def build(settings: Settings) -> SalesforceCrm:
        http = build_http_session(settings)
        http.hooks["response"].append(sent.hook)
        sessions.append(http)
        return SalesforceCrm(settings=settings, mapping=load_mapping(settings.crm_mapping_file), http=http)

    yield build
    for http in sessions:
        http.close()


@pytest.fixture
def crm(sandbox: Sandbox, crm_for: Callable[[Settings], SalesforceCrm]) -> SalesforceCrm:
    return crm_for(settings_for(sandbox))


def stripe_for(sandbox: Sandbox, *, key: str | None = None, timeout: float = 10) -> StripePayments:
    return StripePayments(
        key=SecretStr(key if key is not None else sandbox.credentials.stripe_test_key),
        api_base=sandbox.stripe_url,
        timeout=timeout,
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes them) but never answers a byte."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nothing else takes it) but not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]

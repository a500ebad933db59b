"""No secret anywhere: after the CI chaos and a few bad-input rows that put other secrets in play, every
credential the sandbox holds and every access token the org ever issued is looked for in every line
every worker process printed, every field of every CRM record (deleted ones too), every email, every
Stripe object, event, stored answer and logged request, and every cassette file.

A secret is looked for whole and in 16-character pieces of its random part, so a truncated or partly
masked one is found too. The one place a key belongs, the Stripe Setup record's Secret Key field, is
left out. The scan also counts what it read, so that it cannot pass by reading nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sync.sandbox.environment import Sandbox
from tests.integration.test_cassettes import CASSETTES, secret_hits
from tests.jwt_keys import key_and_certificate

pytestmark = pytest.mark.timeout(420)  # may be the first test to need the session's chaos run

JWT_APP = "3MVG9secretscanjwt"
JWT_USER = "jwt-secret-scan@sandbox.invalid"
PIECE = 16  # characters of a secret's random part that count as a leak on their own


# --- the rows: bad input that puts secrets where a careless worker would echo them ------------------


@dataclass(frozen=True)
class Row:
    """One `run --once` with a Stripe Setup key and worker settings; what it must do; its secrets."""

    name: str
    key: Callable[[Sandbox], str] | None = None  # the Setup's Secret Key as the admin typed it
    mode: str = "test"
    env: dict[str, str] = field(default_factory=dict)
    code: int = 0
    status: str | None = "Connected"  # the Setup's Connection Status afterwards; None: not looked at


def _registered(sandbox: Sandbox, *, revoked: bool) -> str:
    key = "rk_test_" + secrets.token_hex(16)
    sandbox.stripe.add_api_key(key)
    if revoked:
        sandbox.stripe.revoke_api_key(key)
    return key


def rows(tmp: Path, sandbox: Sandbox) -> tuple[list[Row], list[str]]:
    """The rows, and the secrets they bring in (their keys, a wrong client secret, JWT private keys)."""
    unknown_key = "rk_test_" + secrets.token_hex(16)
    revoked_key = _registered(sandbox, revoked=True)
    wrong_secret = "wrong" + secrets.token_hex(20)
    good = sandbox.credentials.stripe_test_key
    key_file, certificate = key_and_certificate(tmp, filename="jwt.key")
    sandbox.salesforce.register_jwt_app(consumer_key=JWT_APP, certificate_pem=certificate, username=JWT_USER)
    (tmp / "other").mkdir()
    other_key_file, _ = key_and_certificate(tmp / "other", filename="jwt.key")
    jwt = {"SALESFORCE_AUTH": "jwt", "SALESFORCE_CLIENT_ID": JWT_APP, "SALESFORCE_USERNAME": JWT_USER}
    made = [
        Row("live key on a Test setup", key=lambda s: s.credentials.stripe_live_key, status="Mode Mismatch"),
        Row("test key on a Live setup", key=lambda s: good, mode="live", status="Mode Mismatch"),
        Row("a key Stripe does not know", key=lambda s: unknown_key, status="Invalid Key"),
        Row("a revoked key", key=lambda s: revoked_key, status="Invalid Key"),
        Row("a space inside the key", key=lambda s: good[:12] + " " + good[12:], status="Invalid Key"),
        Row("the key pasted with a space and a newline", key=lambda s: " " + good + "\n"),
        Row("a wrong client secret", env={"SALESFORCE_CLIENT_SECRET": wrong_secret}, code=2, status=None),
        Row("a JWT login", key=lambda s: good, env={**jwt, "SALESFORCE_PRIVATE_KEY_FILE": str(key_file)}),
        Row(
            "a JWT signed with a key the app does not know",
            env={**jwt, "SALESFORCE_PRIVATE_KEY_FILE": str(other_key_file)},
            code=2,
            status=None,
        ),
        Row("the admin fixes the Setup", key=lambda s: good),
    ]
    private_keys = [_pem_body(path.read_text()) for path in (key_file, other_key_file)]
    return made, [unknown_key, revoked_key, wrong_secret, *private_keys]


def _pem_body(pem: str) -> str:
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


# --- what a leak looks like --------------------------------------------------------------------------


def pieces(secret: str) -> list[str]:
    """The secret and PIECE-long slices of its random part (after a key's prefix or a token's '!')."""
    core = secret.split("!", 1)[-1]
    for prefix in ("rk_test_sandbox", "rk_live_sandbox", "rk_test_", "rk_live_", "sk_test_", "sk_live_"):
        core = core.removeprefix(prefix)
    core = "".join(core.split())  # a PEM body: its lines joined
    slices = [core[i : i + PIECE] for i in range(0, len(core) - PIECE + 1, PIECE)]
    return [secret.strip(), *slices]


@dataclass
class Scan:
    needles: dict[str, str]  # piece -> which secret it belongs to
    counts: dict[str, int] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def look(self, where: str, texts: Iterable[str]) -> None:
        n = 0
        for text in texts:
            n += 1
            for needle, owner in self.needles.items():
                if needle in text:
                    self.hits.append(f"{owner} in {where}: …{_around(text, needle)}…")
        self.counts[where] = self.counts.get(where, 0) + n


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 40) : at].replace("\n", " ") + "[SECRET]"


# --- where to look ----------------------------------------------------------------------------------


def log_lines(paths: Iterable[Path]) -> Iterator[str]:
    for path in paths:
        yield from path.read_text(errors="replace").splitlines()


def crm_values(sandbox: Sandbox) -> Iterator[str]:
    """Every non-blank field value of every record of every object, deleted ones too; not the Secret Key."""
    org = sandbox.salesforce
    setup = sandbox.mapping.setup
    for sobject in org.catalog.objects:
        names = [f.name for f in org.catalog.fields(sobject, admin=True)]
        soql = f"SELECT {', '.join(names)} FROM {sobject.name}"  # noqa: S608 (names from the org's schema)
        for record in org.query(soql, include_deleted=True)["records"]:
            for name, value in record.items():
                if name == "attributes" or value in (None, "", False):
                    continue
                if sobject.name == setup.object and name == setup.fields.secret_key:
                    continue  # where the admin keeps the key: the one place it belongs
                yield str(value)


def emails(sandbox: Sandbox) -> Iterator[str]:
    for mail in sandbox.outbox():
        yield "\n".join([*mail["to"], mail["subject"] or "", mail["body"] or ""])


def stripe_texts(sandbox: Sandbox) -> Iterator[str]:
    """Every stored Stripe object, event and idempotent answer, and every request the worker sent."""
    with sandbox.stripe.db.transaction() as conn:
        rows = [
            *(r[0] + r[1] for r in conn.execute("SELECT body, internal FROM objects")),
            *(r[0] for r in conn.execute("SELECT body FROM events")),
            *(r[0] for r in conn.execute("SELECT body FROM idempotency WHERE body IS NOT NULL")),
        ]
    yield from (str(r) for r in rows)
    yield from (json.dumps(entry, default=str) for entry in sandbox.stripe_requests())


def cassette_lines() -> Iterator[str]:
    for path in sorted(CASSETTES.rglob("*")):
        if path.is_file():
            yield from path.read_text(errors="replace").splitlines()


# --- the test ---------------------------------------------------------------------------------------


def test_no_secret_or_token_anywhere_after_the_chaos_and_bad_input(chaos_run: Any, tmp_path: Path):
    sandbox: Sandbox = chaos_run.sandbox
    workers = chaos_run.workers
    setup_id = sandbox.salesforce.query(f"SELECT Id FROM {sandbox.mapping.setup.object}")["records"][0]["Id"]  # noqa: S608
    made, brought = rows(tmp_path, sandbox)
    for row in made:
        if row.key is not None:
            sandbox.update_setup(setup_id, secret_key=row.key(sandbox), mode=row.mode)
        code = workers.once(**row.env)
        assert code == row.code, f"{row.name}: exit {code}"
        if row.status is not None:
            assert sandbox.setup(setup_id)["connection_status"] == row.status, row.name

    c = sandbox.credentials
    tokens = sandbox.salesforce.issued_tokens()
    credentials = {
        "the client secret": c.client_secret,
        "the client id": c.client_id,
        "the Stripe test key": c.stripe_test_key,
        "the Stripe live key": c.stripe_live_key,
        **{f"row secret {i}": s for i, s in enumerate(brought)},
        **{f"access token {i}": t for i, t in enumerate(tokens)},
    }
    scan = Scan(needles={piece: owner for owner, secret in credentials.items() for piece in pieces(secret)})
    scan.look("worker output", log_lines(workers.log_paths()))
    scan.look("CRM fields", crm_values(sandbox))
    scan.look("emails", emails(sandbox))
    scan.look("Stripe objects, events and requests", stripe_texts(sandbox))
    scan.look("cassettes", cassette_lines())
    shaped = [f"{path.name}: {hit}" for path in CASSETTES.rglob("*.yaml") for hit in secret_hits(path.read_text())]

    print(f"secrets scan: {len(credentials)} secrets ({len(tokens)} tokens), {len(scan.needles)} pieces")
    print(f"read: {scan.counts}")
    assert scan.hits == [], "\n".join(scan.hits[:20])
    assert shaped == [], shaped
    # The scan read enough to mean something: many worker processes, a busy org and Stripe account,
    # and the org issued many tokens (every start, every injected expired session).
    assert len(tokens) >= 20, f"only {len(tokens)} access tokens were issued"
    assert workers.log_paths() and len(workers.all) >= 30
    least = {
        "worker output": 500,
        "CRM fields": 2_000,
        "emails": 50,
        "Stripe objects, events and requests": 1_000,
        "cassettes": 100,
    }
    for where, n in least.items():
        assert scan.counts[where] >= n, f"the scan read only {scan.counts[where]} of {where}"

"""Connected apps, users and access tokens, and the OAuth token endpoint (client credentials and JWT)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..clock import SandboxClock
from ..db import Database
from .ids import make_id

_TABLES = """
CREATE TABLE IF NOT EXISTS sf_users (id TEXT PRIMARY KEY, username TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS sf_apps (
    consumer_key TEXT PRIMARY KEY, kind TEXT NOT NULL, secret TEXT, public_key TEXT, username TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sf_tokens (
    token TEXT PRIMARY KEY, user_id TEXT NOT NULL, consumer_key TEXT NOT NULL, last_used REAL NOT NULL
);
-- Every token ever issued, kept after its session ends: what a secrets scan looks for.
CREATE TABLE IF NOT EXISTS sf_tokens_issued (token TEXT PRIMARY KEY, issued_at REAL NOT NULL);
"""
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# simple-salesforce signs for https://{domain}.salesforce.com; the emulator also takes its own URL.
ORG_ID = make_id("00D", 1)
ADMIN_USER_ID = make_id("005", 1)
ADMIN_USERNAME = "admin@sandbox.example.com"


class OAuthError(Exception):
    """A token-endpoint failure: `{"error", "error_description"}` with HTTP 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class Session:
    user_id: str
    consumer_key: str


class Accounts:
    """Users, registered apps and live sessions, stored next to the records."""

    def __init__(self, db: Database, *, clock: SandboxClock, token_ttl_seconds: int) -> None:
        self.db = db
        self.clock = clock
        self.token_ttl_seconds = token_ttl_seconds
        self.sandbox_org = False  # a Salesforce sandbox (its JWTs are for test.salesforce.com), not production
        db.executescript(_TABLES)
        with db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO sf_users VALUES (?, ?)", (ADMIN_USER_ID, ADMIN_USERNAME))

    # -- control ----------------------------------------------------------------------------------

    def user_id(self, conn: sqlite3.Connection, username: str) -> str:
        """Return the user's id, creating the user on first mention."""
        found = conn.execute("SELECT id FROM sf_users WHERE username = ?", (username,)).fetchone()
        if found:
            return str(found[0])
        count = conn.execute("SELECT COUNT(*) FROM sf_users").fetchone()[0]
        new_id = make_id("005", int(count) + 1)
        conn.execute("INSERT INTO sf_users VALUES (?, ?)", (new_id, username))
        return new_id

    def is_user(self, conn: sqlite3.Connection, user_id: str) -> bool:
        return conn.execute("SELECT 1 FROM sf_users WHERE id = ?", (user_id,)).fetchone() is not None

    def register_client_credentials_app(self, *, consumer_key: str, consumer_secret: str, username: str) -> str:
        """Register an app for the client-credentials flow running as `username`; returns the user id."""
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sf_apps VALUES (?, 'client_credentials', ?, NULL, ?)",
                (consumer_key, consumer_secret, username),
            )
            return self.user_id(conn, username)

    def register_jwt_app(self, *, consumer_key: str, certificate_pem: str, username: str) -> str:
        """Register an app for the JWT bearer flow; `certificate_pem` is a certificate or a public key."""
        _load_public_key(certificate_pem)  # fail at registration, not at the first login
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sf_apps VALUES (?, 'jwt', NULL, ?, ?)",
                (consumer_key, certificate_pem, username),
            )
            return self.user_id(conn, username)

    def expire_all_tokens(self) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM sf_tokens")

    def revoke(self, authorization: str | None) -> None:
        """End the session of one `Authorization` header, as an expiry would; later calls get 401."""
        token = _bearer(authorization)
        if token is not None:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM sf_tokens WHERE token = ?", (token,))

    def issued_tokens(self) -> list[str]:
        """Every access token issued so far, live, expired or revoked alike, oldest first."""
        with self.db.transaction() as conn:
            return [row[0] for row in conn.execute("SELECT token FROM sf_tokens_issued ORDER BY issued_at")]

    # -- sessions ---------------------------------------------------------------------------------

    def session(self, authorization: str | None) -> Session | None:
        """The live session for an `Authorization: Bearer …` header, refreshed by use; None if invalid."""
        token = _bearer(authorization)
        if token is None:
            return None
        now = self.clock.time()
        with self.db.transaction() as conn:
            found = conn.execute("SELECT * FROM sf_tokens WHERE token = ?", (token,)).fetchone()
            if found is None:
                return None
            # A Salesforce session times out after inactivity, and each call extends it.
            if now - found["last_used"] > self.token_ttl_seconds:
                conn.execute("DELETE FROM sf_tokens WHERE token = ?", (token,))
                return None
            conn.execute("UPDATE sf_tokens SET last_used = ? WHERE token = ?", (now, token))
            return Session(found["user_id"], found["consumer_key"])

    # -- token endpoint ---------------------------------------------------------------------------

    def token(self, *, body: bytes, authorization: str | None, base_url: str) -> dict[str, Any]:
        """Answer POST /services/oauth2/token, or raise OAuthError."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return self._client_credentials(form, authorization, base_url)
        if grant == JWT_GRANT:
            return self._jwt_bearer(form, base_url)
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client_credentials(self, form: dict[str, str], authorization: str | None, base_url: str) -> dict[str, Any]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
            client_id, _, client_secret = decoded.partition(":")
        app = self._app(client_id)
        if app["kind"] != "client_credentials":
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        if not hmac.compare_digest(str(app["secret"]), client_secret or ""):
            raise OAuthError("invalid_client", "invalid client credentials")
        return self._issue(app, base_url, signing_key=str(app["secret"]), with_signature=True)

    def _jwt_bearer(self, form: dict[str, str], base_url: str) -> dict[str, Any]:
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        app = self._app(claims.get("iss"))
        if app["kind"] != "jwt":
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            # exp is checked below against the sandbox clock, not the wall clock PyJWT would use.
            claims = jwt.decode(
                assertion, _load_public_key(app["public_key"]), algorithms=["RS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False},
            )  # fmt: skip
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        # A production org takes login.salesforce.com, a sandbox org test.salesforce.com; either
        # takes its own URL (as a My Domain or site login does).
        login = "https://test.salesforce.com" if self.sandbox_org else "https://login.salesforce.com"
        accepted = {login, base_url.rstrip("/")}
        if not any(isinstance(a, str) and a.rstrip("/") in accepted for a in audiences):
            raise OAuthError("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp < self.clock.time():
            raise OAuthError("invalid_grant", "expired authorization code")
        if claims.get("sub") != app["username"]:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return self._issue(app, base_url, signing_key=str(app["consumer_key"]), with_signature=False)

    def _app(self, consumer_key: str | None) -> sqlite3.Row:
        with self.db.transaction() as conn:
            app = conn.execute("SELECT * FROM sf_apps WHERE consumer_key = ?", (consumer_key or "",)).fetchone()
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        return app

    def _issue(self, app: sqlite3.Row, base_url: str, *, signing_key: str, with_signature: bool) -> dict[str, Any]:
        now = self.clock.time()
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        with self.db.transaction() as conn:
            user_id = self.user_id(conn, app["username"])
            conn.execute("INSERT INTO sf_tokens VALUES (?, ?, ?, ?)", (token, user_id, app["consumer_key"], now))
            conn.execute("INSERT INTO sf_tokens_issued VALUES (?, ?)", (token, now))
        identity = f"{base_url}/id/{ORG_ID}/{user_id}"
        issued_at = str(int(now * 1000))
        if not with_signature:
            # The JWT bearer answer has no refresh token, signature or issued_at.
            return {
                "access_token": token,
                "scope": "api",
                "instance_url": base_url,
                "id": identity,
                "token_type": "Bearer",
            }
        digest = hmac.new(signing_key.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        return {
            "access_token": token, "signature": base64.b64encode(digest).decode(), "scope": "api",
            "instance_url": base_url, "id": identity, "token_type": "Bearer", "issued_at": issued_at,
        }  # fmt: skip


def _bearer(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (or `OAuth <token>`); None if there is none."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token.strip():
        return None
    return token.strip()


def _load_public_key(pem: str) -> Any:
    data = pem.encode()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)

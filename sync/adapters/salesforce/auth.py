"""OAuth 2.0 login for the worker: client credentials or JWT bearer (never the SOAP password login).

simple-salesforce would build the token URL from a `domain` (always https://{domain}.salesforce.com),
so the worker requests the token itself from SALESFORCE_LOGIN_URL and hands simple-salesforce the
access token and instance URL.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import requests

from sync.config.settings import SalesforceAuth, Settings
from sync.domain.errors import ConfigError, RetryableError
from sync.runtime.logs import mask_secrets

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class AccessToken:
    value: str
    instance_url: str
    # The integration user's id: the last part of the identity URL the token answer carries in `id`
    # (https://login.salesforce.com/id/<org id>/<user id>; help.salesforce.com "Identity URLs").
    user_id: str | None = None

    def __repr__(self) -> str:  # keep the token out of tracebacks and logs
        return f"AccessToken(instance_url={self.instance_url!r})"


def fetch_token(settings: Settings, http: requests.Session) -> AccessToken:
    """Log in and return a fresh access token; ConfigError if the credentials are refused."""
    url = str(settings.salesforce_login_url).rstrip("/") + "/services/oauth2/token"
    client_id = settings.salesforce_client_id.get_secret_value()
    if settings.salesforce_auth is SalesforceAuth.CLIENT_CREDENTIALS:
        assert settings.salesforce_client_secret is not None
        secret = settings.salesforce_client_secret.get_secret_value()
        form = {"grant_type": "client_credentials"}
        auth: tuple[str, str] | None = (client_id, secret)
    else:
        assert settings.salesforce_private_key_file is not None
        key = settings.salesforce_private_key_file.read_text(encoding="utf-8")
        claims = {
            "iss": client_id,
            "sub": settings.salesforce_username,
            "aud": jwt_audience(settings),
            "exp": int(time.time()) + 180,  # Salesforce allows at most 3 minutes
        }
        form = {"grant_type": JWT_GRANT, "assertion": jwt.encode(claims, key, algorithm="RS256")}
        auth = None
    try:
        response = http.post(url, data=form, auth=auth, timeout=settings.salesforce_timeout_seconds)
    except requests.RequestException as exc:
        raise RetryableError(f"Salesforce login at {url} failed: {type(exc).__name__}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise RetryableError(f"Salesforce login answered HTTP {response.status_code}")
    body = _json_or_empty(response)
    if response.status_code != 200 or "access_token" not in body:
        error = mask_secrets(str(body.get("error", f"HTTP {response.status_code}")))
        detail = mask_secrets(str(body.get("error_description", "")))[:200]
        raise ConfigError(
            f"Salesforce refused the worker's login ({error}: {detail}). Check SALESFORCE_CLIENT_ID and "
            + (
                "SALESFORCE_CLIENT_SECRET"
                if settings.salesforce_auth is SalesforceAuth.CLIENT_CREDENTIALS
                else "SALESFORCE_USERNAME and SALESFORCE_PRIVATE_KEY_FILE"
            )
            + "."
        )
    instance_url = str(settings.salesforce_instance_url or body.get("instance_url") or "").rstrip("/")
    if not instance_url:
        raise ConfigError("Salesforce's login answer had no instance_url: set SALESFORCE_INSTANCE_URL.")
    identity = str(body.get("id") or "").rstrip("/").rsplit("/", 1)[-1]
    user_id = identity if identity.startswith("005") and identity.isalnum() else None
    return AccessToken(value=body["access_token"], instance_url=instance_url, user_id=user_id)


def jwt_audience(settings: Settings) -> str:
    """The JWT's `aud`: SALESFORCE_JWT_AUDIENCE, or else the login server the login URL names.

    Salesforce takes https://login.salesforce.com for production, https://test.salesforce.com for
    a sandbox, or an Experience Cloud site's URL (help.salesforce.com, "OAuth 2.0 JWT Bearer Flow for
    Server-to-Server Integration", remoteaccess_oauth_jwt_flow.htm). A My Domain login URL belongs
    to one or the other (sandbox My Domains end in .sandbox.my.salesforce.com); any other host (a
    site, a proxy, the sandbox emulator) is its own audience.
    """
    if settings.salesforce_jwt_audience:
        return settings.salesforce_jwt_audience
    url = str(settings.salesforce_login_url).rstrip("/")
    host = (urlsplit(url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host == "login.salesforce.com" or host.endswith(".my.salesforce.com"):
        return "https://login.salesforce.com"
    return url


def _json_or_empty(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

"""The JWT bearer login, end to end: the worker signs an assertion with its key; the org checks it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sync.sandbox.environment import Sandbox
from tests.e2e.conftest import Worker


def _key_and_certificate(directory: Path) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "crm-stripe-sync worker")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path = directory / "jwt.key"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path, cert.public_bytes(serialization.Encoding.PEM).decode()


def test_worker_logs_in_with_a_jwt_and_does_the_intake_and_link_path(sandbox: Sandbox, worker: Worker, tmp_path):
    key_file, certificate = _key_and_certificate(tmp_path)
    sandbox.salesforce.register_jwt_app(
        consumer_key="3MVG9jwtapp", certificate_pem=certificate, username="jwt-integration@sandbox.invalid"
    )
    sandbox.add_setup()
    project = sandbox.add_project("Kitchen", customer_email="pat@example.com", contract_amount=Decimal("40000"))
    sandbox.request_payment(project, type="deposit")

    run = worker.once(
        SALESFORCE_AUTH="jwt",
        SALESFORCE_CLIENT_ID="3MVG9jwtapp",
        SALESFORCE_USERNAME="jwt-integration@sandbox.invalid",
        SALESFORCE_PRIVATE_KEY_FILE=str(key_file),
    )

    assert run.code == 0, run.stderr
    assert [p["status"] for p in sandbox.payments()] == ["link_sent"]


def test_a_key_the_app_does_not_know_is_refused_with_exit_2(sandbox: Sandbox, worker: Worker, tmp_path):
    _, certificate = _key_and_certificate(tmp_path)
    sandbox.salesforce.register_jwt_app(
        consumer_key="3MVG9jwtapp", certificate_pem=certificate, username="jwt-integration@sandbox.invalid"
    )
    (tmp_path / "other").mkdir()
    other_key, _ = _key_and_certificate(tmp_path / "other")

    run = worker.once(
        SALESFORCE_AUTH="jwt",
        SALESFORCE_CLIENT_ID="3MVG9jwtapp",
        SALESFORCE_USERNAME="jwt-integration@sandbox.invalid",
        SALESFORCE_PRIVATE_KEY_FILE=str(other_key),
    )

    assert run.code == 2
    assert "Salesforce refused the worker's login (invalid_grant" in run.stderr
    assert "SALESFORCE_PRIVATE_KEY_FILE" in run.stderr

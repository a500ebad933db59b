"""The org emulator over real HTTPS loopback, driven by simple-salesforce 1.12.10 and plain requests."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sync.sandbox.clock import SandboxClock
from sync.sandbox.httpserver import Request, Response, SandboxServer
from sync.sandbox.salesforce import FieldSchema, OrgSchema, SalesforceEmulator, SObjectSchema
from sync.sandbox.salesforce.validation_rules import ValidationRule
from sync.sandbox.tls import TlsFiles, make_tls_files

VERSION = "64.0"
CLIENT_ID, CLIENT_SECRET, USERNAME = "cc-key", "cc-secret", "integration@example.com"

SCHEMA = OrgSchema(
    objects=(
        SObjectSchema(
            "Contact",
            "Contact",
            "003",
            fields=(
                FieldSchema("FirstName", "string", "First Name", length=40),
                FieldSchema("LastName", "string", "Last Name", length=80, required=True),
                FieldSchema("Email", "email", "Email"),
                FieldSchema("Description", "textarea", "Description", length=32000),  # standard long text
            ),
        ),
        SObjectSchema(
            "Project__c",
            "Project",
            "a0P",
            fields=(
                FieldSchema(
                    "Customer_Contact__c",
                    "reference",
                    "Customer Contact",
                    reference_to="Contact",
                    relationship_name="Customer_Contact__r",
                    child_relationship_name="Projects__r",
                ),
                FieldSchema("Contract_Amount__c", "currency", "Contract Amount", precision=16, scale=2),
                FieldSchema("Scope__c", "textarea", "Scope", length=32768),
            ),
        ),
        SObjectSchema(
            "Payment__c",
            "Payment",
            "a0Q",
            name_field_autonumber="PAY-{00000}",
            fields=(
                FieldSchema(
                    "Project__c",
                    "reference",
                    "Project",
                    reference_to="Project__c",
                    relationship_name="Project__r",
                    child_relationship_name="Payments__r",
                    required=True,
                ),
                FieldSchema("Type__c", "picklist", "Type", picklist_values=("Deposit", "Progress", "Final")),
                FieldSchema("Amount__c", "currency", "Amount", precision=16, scale=2),
                FieldSchema(
                    "Status__c",
                    "picklist",
                    "Status",
                    default="Draft",
                    picklist_values=("Draft", "Request Payment", "Link Created", "Paid", "Error"),
                ),
                FieldSchema("Description__c", "string", "Description", length=20),
                FieldSchema(
                    "Idempotency_Key__c",
                    "string",
                    "Idempotency Key",
                    length=80,
                    external_id=True,
                    unique=True,
                ),
                FieldSchema("Sync_Error__c", "textarea", "Sync Error", length=32768),
                FieldSchema("Sync_Log__c", "textarea", "Sync Log", length=32768),
                FieldSchema("Short_Note__c", "textarea", "Short Note", length=255),  # a Text Area, not long
                FieldSchema("Paid_At__c", "datetime", "Paid At"),
                FieldSchema("Link_Sent_To__c", "email", "Link Sent To"),
                FieldSchema("Sync_Attempts__c", "double", "Sync Attempts", precision=3, scale=0),
                FieldSchema("Secret_Note__c", "encryptedstring", "Secret Note", length=175),
            ),
        ),
    )
)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock()


class _Current:
    """Lets one server (stopping one takes ~0.5 s) serve a fresh emulator in each test."""

    emulator: SalesforceEmulator | None = None

    def app(self, request: Request) -> Response:
        assert self.emulator is not None
        return self.emulator.app(request)


@pytest.fixture(scope="module")
def server(tls: TlsFiles) -> Iterator[tuple[SandboxServer, _Current]]:
    current = _Current()
    running = SandboxServer(current.app, certfile=str(tls.certfile), keyfile=str(tls.keyfile)).start()
    yield running, current
    running.stop()


@pytest.fixture
def org(server: tuple[SandboxServer, _Current], clock: SandboxClock) -> Iterator[SalesforceEmulator]:
    running, current = server
    emulator = SalesforceEmulator(SCHEMA, clock=clock, batch_size=2000)
    emulator.base_url = running.url
    emulator.register_client_credentials_app(consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET, username=USERNAME)
    current.emulator = emulator
    yield emulator
    current.emulator = None
    emulator.close()


@pytest.fixture
def session(tls: TlsFiles) -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.verify = str(tls.ca_bundle)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override session.verify; ignore the environment.
        s.trust_env = False
        yield s


def client_credentials_token(org: SalesforceEmulator, session: requests.Session) -> dict:
    response = session.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def sf(org: SalesforceEmulator, session: requests.Session) -> Salesforce:
    token = client_credentials_token(org, session)
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session, version=VERSION
    )


def seed(org: SalesforceEmulator, payments: int = 2) -> tuple[str, str, list[str]]:
    contact = org.create_record("Contact", {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"})
    project = org.create_record("Project__c", {"Name": "Kitchen", "Customer_Contact__c": contact})
    ids = [
        org.create_record("Payment__c", {"Project__c": project, "Amount__c": 100 * (i + 1), "Type__c": "Deposit"})
        for i in range(payments)
    ]
    return contact, project, ids


# -- OAuth ------------------------------------------------------------------------------------------


def test_client_credentials_token_has_salesforce_shape(org: SalesforceEmulator, session: requests.Session) -> None:
    token = client_credentials_token(org, session)
    assert set(token) == {
        "access_token",
        "signature",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
    }
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == org.url
    assert token["id"].startswith(f"{org.url}/id/00D")
    assert token["id"].rsplit("/", 1)[1].startswith("005")
    assert token["issued_at"].isdigit()


def test_wrong_client_secret_is_invalid_client(org: SalesforceEmulator, session: requests.Session) -> None:
    response = session.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, "nope"),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


def test_unknown_grant_type_is_refused(org: SalesforceEmulator, session: requests.Session) -> None:
    response = session.post(f"{org.url}/services/oauth2/token", data={"grant_type": "password"}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def _rsa_key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


def test_jwt_bearer_login_then_query(org: SalesforceEmulator, session: requests.Session) -> None:
    private, public = _rsa_key()
    org.register_jwt_app(consumer_key="jwt-key", certificate_pem=public, username="jwt@example.com")
    claims = {
        "iss": "jwt-key",
        "sub": "jwt@example.com",
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": jwt.encode(claims, private, "RS256"),
    }
    response = session.post(f"{org.url}/services/oauth2/token", data=form, timeout=10)
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    sf = Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session, version=VERSION
    )
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0

    other_private, _ = _rsa_key()
    forged = {**form, "assertion": jwt.encode(claims, other_private, "RS256")}
    refused = session.post(f"{org.url}/services/oauth2/token", data=forged, timeout=10)
    assert refused.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}
    stale = {**form, "assertion": jwt.encode({**claims, "exp": int(time.time()) - 5}, private, "RS256")}
    assert session.post(f"{org.url}/services/oauth2/token", data=stale, timeout=10).json()["error"] == "invalid_grant"
    wrong_aud = {**form, "assertion": jwt.encode({**claims, "aud": "https://evil.example"}, private, "RS256")}
    answer = session.post(f"{org.url}/services/oauth2/token", data=wrong_aud, timeout=10).json()
    assert answer == {"error": "invalid_grant", "error_description": "audience is invalid"}


def test_token_expiry_raises_expired_session(org: SalesforceEmulator, sf: Salesforce, clock: SandboxClock) -> None:
    sf.query("SELECT Id FROM Contact")
    clock.advance(timedelta(seconds=7201))
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_expire_all_tokens_control(org: SalesforceEmulator, sf: Salesforce) -> None:
    org.expire_all_tokens()
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact")


# -- queries ----------------------------------------------------------------------------------------


def test_query_returns_parent_paths_as_nested_records(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, _, payment_ids = seed(org, payments=1)
    orphan_project = org.create_record("Project__c", {"Name": "Shed"})
    org.create_record("Payment__c", {"Project__c": orphan_project, "Amount__c": "5000"})
    result = sf.query(
        "select Id, Name, amount__c, Project__r.Name, Project__r.Customer_Contact__r.Email "
        "FROM Payment__c ORDER BY Amount__c"
    )
    assert result["totalSize"] == 2 and result["done"] is True
    first, second = result["records"]
    assert list(first) == ["attributes", "Id", "Name", "Amount__c", "Project__r"]
    assert first["attributes"] == {
        "type": "Payment__c",
        "url": f"/services/data/v{VERSION}/sobjects/Payment__c/{payment_ids[0]}",
    }
    assert first["Name"] == "PAY-00001"
    assert first["Amount__c"] == 100.0
    assert first["Project__r"]["Name"] == "Kitchen"
    assert first["Project__r"]["attributes"]["type"] == "Project__c"
    assert first["Project__r"]["Customer_Contact__r"]["Email"] == "ada@example.com"
    assert second["Project__r"]["Customer_Contact__r"] is None
    assert second["Amount__c"] == 5000.0


def test_currency_is_written_as_a_number_with_exact_decimals(org: SalesforceEmulator, sf: Salesforce, session) -> None:
    _, project, _ = seed(org, payments=0)
    org.create_record("Payment__c", {"Project__c": project, "Amount__c": "0.1"})
    org.create_record("Payment__c", {"Project__c": project, "Amount__c": "1234.5"})
    raw = sf.query("SELECT Amount__c FROM Payment__c ORDER BY Amount__c DESC")
    assert [r["Amount__c"] for r in raw["records"]] == [1234.5, 0.1]
    text = session.get(
        f"{org.url}/services/data/v{VERSION}/query/",
        params={"q": "SELECT Amount__c FROM Payment__c ORDER BY Amount__c"},
        headers={"Authorization": f"Bearer {sf.session_id}"},
        timeout=10,
    ).text
    assert '"Amount__c":0.1}' in text and '"Amount__c":1234.5}' in text


def test_subquery_returns_nested_result_or_null(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, payment_ids = seed(org, payments=3)
    empty_project = org.create_record("Project__c", {"Name": "Empty"})
    result = sf.query(
        "SELECT Name, (SELECT Id, Amount__c FROM Payments__r WHERE Amount__c > 100 "
        "ORDER BY Amount__c DESC LIMIT 5) FROM Project__c ORDER BY Name"
    )
    empty, kitchen = result["records"]
    assert empty["Payments__r"] is None
    nested = kitchen["Payments__r"]
    assert nested["totalSize"] == 2 and nested["done"] is True
    assert [r["Id"] for r in nested["records"]] == [payment_ids[2], payment_ids[1]]
    assert empty_project and project


def test_semi_join_like_and_not_in(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, _ = seed(org, payments=1)
    org.create_record("Project__c", {"Name": "Bathroom"})
    with_payments = sf.query("SELECT Name FROM Project__c WHERE Id IN (SELECT Project__c FROM Payment__c)")
    assert [r["Name"] for r in with_payments["records"]] == ["Kitchen"]
    without = sf.query("SELECT Name FROM Project__c WHERE Id NOT IN (SELECT Project__c FROM Payment__c)")
    assert [r["Name"] for r in without["records"]] == ["Bathroom"]
    assert sf.query("SELECT Id FROM Project__c WHERE Name LIKE 'kit%'")["totalSize"] == 1
    assert sf.query("SELECT Id FROM Project__c WHERE Name NOT IN ('Kitchen', 'Nope')")["totalSize"] == 1
    by_short_id = f"SELECT Id FROM Project__c WHERE Id = '{project[:15]}'"  # noqa: S608 - SOQL
    assert sf.query(by_short_id)["totalSize"] == 1


def test_query_all_iter_pages_through_three_batches(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, _ = seed(org, payments=0)
    for i in range(450):
        org.create_record("Payment__c", {"Project__c": project, "Amount__c": i})
    first = sf.query("SELECT Id FROM Payment__c", headers={"Sforce-Query-Options": "batchSize=200"})
    assert first["done"] is False and len(first["records"]) == 200 and first["totalSize"] == 450
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{VERSION}/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    org.reset_api_calls()
    amounts = [
        r["Amount__c"]
        for r in sf.query_all_iter(
            "SELECT Amount__c FROM Payment__c ORDER BY Amount__c",
            headers={"Sforce-Query-Options": "batchSize=200"},
        )
    ]
    assert amounts == [float(i) for i in range(450)]
    assert org.api_calls()["by_endpoint"] == {"GET query": 3}


def _payments(org: SalesforceEmulator, n: int) -> str:
    _, project, _ = seed(org, payments=0)
    for i in range(n):
        org.create_record("Payment__c", {"Project__c": project, "Amount__c": i})
    return project


def _page_sizes(sf: Salesforce, soql: str, headers: dict[str, str] | None = None) -> list[int]:
    """The size of each batch a query comes back in, following nextRecordsUrl to the end."""
    page = sf.query(soql, headers=headers or {})
    sizes = [len(page["records"])]
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers or {})
        sizes.append(len(page["records"]))
    return sizes


def test_a_query_selecting_two_custom_long_text_fields_comes_back_200_records_a_batch(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    _payments(org, 450)
    soql = "SELECT Amount__c, Sync_Error__c, Sync_Log__c FROM Payment__c"
    first = sf.query(soql)
    assert first["totalSize"] == 450 and first["done"] is False
    assert len(first["records"]) == 200 and first["nextRecordsUrl"].endswith("-200")
    assert _page_sizes(sf, soql) == [200, 200, 50]
    org.reset_api_calls()
    amounts = [r["Amount__c"] for r in sf.query_all_iter(soql)]
    assert sorted(amounts) == [float(i) for i in range(450)]
    assert org.api_calls()["by_endpoint"] == {"GET query": 3}


def test_a_query_without_two_custom_long_text_fields_comes_back_2000_records_a_batch(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    _payments(org, 2001)
    for soql in (
        "SELECT Id FROM Payment__c",
        "SELECT Id, Sync_Error__c FROM Payment__c",  # one long text field is not enough
        "SELECT Id, Sync_Error__c, Short_Note__c FROM Payment__c",  # a 255-character Text Area is not long
        "SELECT Id, Sync_Error__c, Project__r.Customer_Contact__r.Description FROM Payment__c",  # standard
    ):
        assert _page_sizes(sf, soql) == [2000, 1], soql


def test_long_text_fields_of_a_parent_path_or_a_subquery_count_toward_the_200_cap(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    _payments(org, 250)
    for i in range(249):
        org.create_record("Project__c", {"Name": f"P{i}"})
    assert _page_sizes(sf, "SELECT Id, Sync_Error__c, Project__r.Scope__c FROM Payment__c") == [200, 50]
    with_children = "SELECT Id, Scope__c, (SELECT Id, Sync_Error__c FROM Payments__r) FROM Project__c"
    assert _page_sizes(sf, with_children) == [200, 50]
    assert _page_sizes(sf, "SELECT Id, Scope__c, (SELECT Id FROM Payments__r) FROM Project__c") == [250]


def test_a_parents_child_rows_past_499_come_back_as_a_nested_query_result_with_its_own_locator(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    _payments(org, 1200)
    org.create_record("Project__c", {"Name": "Empty"})
    page = sf.query("SELECT Name, (SELECT Amount__c FROM Payments__r ORDER BY Amount__c) FROM Project__c ORDER BY Name")

    assert page["done"] is True  # the parents fit; the children do not
    empty, kitchen = page["records"]
    assert empty["Payments__r"] is None
    children = kitchen["Payments__r"]
    assert children["totalSize"] == 1200 and children["done"] is False and len(children["records"]) == 499
    assert re.fullmatch(rf"/services/data/v{VERSION}/query/01g[A-Za-z0-9]{{15}}-499", children["nextRecordsUrl"])
    amounts = [r["Amount__c"] for r in children["records"]]
    while not children["done"]:
        children = sf.query_more(children["nextRecordsUrl"], identifier_is_url=True)
        amounts += [r["Amount__c"] for r in children["records"]]
    assert amounts == [float(i) for i in range(1200)]


def test_long_text_fields_lower_a_subquerys_batch_to_199(org: SalesforceEmulator, sf: Salesforce) -> None:
    _payments(org, 250)
    page = sf.query("SELECT Name, (SELECT Sync_Error__c, Sync_Log__c FROM Payments__r) FROM Project__c")
    [kitchen] = page["records"]
    assert len(kitchen["Payments__r"]["records"]) == 199 and kitchen["Payments__r"]["nextRecordsUrl"].endswith("-199")


def test_paging_the_parents_on_releases_the_child_cursors_of_the_batch_before(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    org.queries.subquery_batch_size = 2
    projects = [org.create_record("Project__c", {"Name": f"P{i:03}"}) for i in range(201)]
    for project in projects[:2]:
        for i in range(3):
            org.create_record("Payment__c", {"Project__c": project, "Amount__c": i})
    soql = "SELECT Name, (SELECT Amount__c FROM Payments__r) FROM Project__c ORDER BY Name"
    first = sf.query(soql, headers={"Sforce-Query-Options": "batchSize=200"})
    early, late = (r["Payments__r"]["nextRecordsUrl"] for r in first["records"][:2])
    assert len(sf.query_more(early, identifier_is_url=True)["records"]) == 1  # read before paging on: fine

    sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_QUERY_LOCATOR"):
        sf.query_more(late, identifier_is_url=True)


def test_a_query_all_locator_is_a_query_url_that_still_includes_deleted_rows(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    _payments(org, 2001)
    doomed = sf.query("SELECT Id FROM Payment__c ORDER BY Amount__c DESC LIMIT 1")["records"][0]["Id"]
    org.delete_record("Payment__c", doomed)
    first = sf.query_all("SELECT Id FROM Payment__c", include_deleted=False)
    assert first["totalSize"] == 2000
    page = sf.query("SELECT Id FROM Payment__c ORDER BY Amount__c", include_deleted=True)
    assert re.fullmatch(rf"/services/data/v{VERSION}/query/01g[A-Za-z0-9]{{15}}-2000", page["nextRecordsUrl"])
    assert [r["Id"] for r in sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"]] == [doomed]


NODES = OrgSchema(
    objects=(
        SObjectSchema(
            "Node__c",
            "Node",
            "a0N",
            fields=(
                FieldSchema(
                    "Parent__c",
                    "reference",
                    "Parent",
                    reference_to="Node__c",
                    relationship_name="Parent__r",
                    child_relationship_name="Children__r",
                ),
            ),
        ),
    )
)


def _nested(levels: int) -> str:
    """A query of `levels` parent-to-child levels, the root counted as the first."""
    inner = "SELECT Name FROM Children__r"
    for _ in range(levels - 2):
        inner = f"SELECT Name, ({inner}) FROM Children__r"  # noqa: S608 - SOQL
    return f"SELECT Name, ({inner}) FROM Node__c" if levels > 1 else "SELECT Name FROM Node__c"  # noqa: S608


@pytest.mark.parametrize(
    ("version", "soql", "refusal"),
    [
        ("57.0", _nested(2), None),
        ("57.0", _nested(3), "more than 1 level away from the root entity object."),
        ("64.0", _nested(5), None),
        ("64.0", _nested(6), "more than 4 levels away from the root entity object."),
        ("64.0", "SELECT Parent__r.Parent__r.Parent__r.Parent__r.Name FROM Node__c", None),
        (
            "64.0",
            "SELECT Name FROM Node__c WHERE Parent__r.Parent__r.Parent__r.Parent__r.Parent__r.Name = 'x'",
            "more than 5 levels of child-to-parent relationships",
        ),
        (
            "64.0",
            "SELECT Name, " + ", ".join(["(SELECT Name FROM Children__r)"] * 21) + " FROM Node__c",  # noqa: S608
            "No more than 20 parent-to-child relationships",
        ),
    ],
)
def test_queries_past_soqls_relationship_limits_are_refused(
    server: tuple[SandboxServer, _Current], clock: SandboxClock, session: requests.Session,
    version: str, soql: str, refusal: str | None,
) -> None:  # fmt: skip
    running, current = server
    emulator = SalesforceEmulator(NODES, clock=clock)
    emulator.base_url = running.url
    emulator.register_client_credentials_app(consumer_key=CLIENT_ID, consumer_secret=CLIENT_SECRET, username=USERNAME)
    current.emulator = emulator
    try:
        root = emulator.create_record("Node__c", {"Name": "root"})
        emulator.create_record("Node__c", {"Name": "leaf", "Parent__c": root})
        token = client_credentials_token(emulator, session)
        sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                        version=version)  # fmt: skip
        if refusal is None:
            assert sf.query(soql)["totalSize"] == 2
            return
        with pytest.raises(SalesforceMalformedRequest, match="MALFORMED_QUERY") as refused:
            sf.query(soql)
        assert refusal in str(refused.value.content)
    finally:
        current.emulator = None
        emulator.close()


def test_the_query_options_header_lowers_the_batch_but_never_past_the_long_text_cap(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    _payments(org, 450)
    plain, long_text = "SELECT Id FROM Payment__c", "SELECT Id, Sync_Error__c, Sync_Log__c FROM Payment__c"

    def asking(size: int) -> dict[str, str]:
        return {"Sforce-Query-Options": f"batchSize={size}"}

    assert _page_sizes(sf, plain, asking(300)) == [300, 150]
    assert _page_sizes(sf, plain, asking(100)) == [200, 200, 50]  # the minimum is 200
    assert _page_sizes(sf, long_text, asking(1000)) == [200, 200, 50]
    assert _page_sizes(sf, long_text, asking(2000)) == [200, 200, 50]


def test_a_request_past_16384_bytes_of_uri_and_headers_is_refused_431_or_414_for_the_uri_alone(
    org: SalesforceEmulator, sf: Salesforce, session: requests.Session
) -> None:
    seed(org, payments=1)
    url = f"{sf.base_url}query/"
    org.reset_api_calls()

    def get(soql: str, **headers: str) -> requests.Response:
        return session.get(url, params={"q": soql}, headers={**sf.headers, **headers})

    padded = "SELECT Id FROM Payment__c WHERE Name != '{}'"
    fits = get(padded.format("x" * 15_000))
    assert fits.status_code == 200
    big_headers = get(padded.format("x" * 15_000), **{"X-Trace": "t" * 1_500})
    assert big_headers.status_code == 431 and "Request Header Fields Too Large" in big_headers.text
    long_uri = get(padded.format("x" * 16_400))
    assert long_uri.status_code == 414 and "URI Too Long" in long_uri.text
    assert org.api_calls()["by_endpoint"] == {"GET query": 1}  # refused before the API: no call counted


def test_count_queries(org: SalesforceEmulator, sf: Salesforce) -> None:
    seed(org, payments=3)
    assert sf.query("SELECT COUNT() FROM Payment__c WHERE Amount__c >= 200") == {
        "totalSize": 2,
        "done": True,
        "records": [],
    }
    aggregate = sf.query("SELECT COUNT(Id) FROM Payment__c")
    assert aggregate["records"] == [{"attributes": {"type": "AggregateResult"}, "expr0": 3}]


def test_deleted_rows_only_in_query_all(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, _, payment_ids = seed(org, payments=2)
    sf.Payment__c.delete(payment_ids[0])
    assert sf.query("SELECT Id FROM Payment__c")["totalSize"] == 1
    everything = sf.query_all("SELECT Id, IsDeleted FROM Payment__c ORDER BY Name", include_deleted=True)
    assert [r["IsDeleted"] for r in everything["records"]] == [True, False]


@pytest.mark.parametrize(
    ("soql", "fragment"),
    [
        ("SELECT Id FROM Payment__c GROUP BY Id", "unexpected token: 'GROUP'"),
        ("SELECT Id FROM Payment__c FOR UPDATE", "unexpected token: 'FOR'"),
        (
            "SELECT Id FROM Payment__c WHERE Amount__c > 1 AND Name = 'a' OR Name = 'b'",
            "unexpected token: 'OR'",
        ),
        ("SELECT toLabel(Status__c) FROM Payment__c", "unexpected token: '('"),
        ("SELECT Id FROM", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Payment__c WHERE Amount__c = '5'", "must be of type double"),
    ],
)
def test_unsupported_or_bad_syntax_is_malformed_query(sf: Salesforce, soql: str, fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    error = caught.value.content[0]
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert fragment in error["message"]
    assert "ERROR at Row:1:Column:" in error["message"]


def test_unknown_field_and_object(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id, Amount FROM Payment__c")
    error = caught.value.content[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"].startswith("\nSELECT Id, Amount FROM Payment__c\n           ^\nERROR at Row:1:Column:12\n")
    assert "No such column 'Amount' on entity 'Payment__c'" in error["message"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Invoice__c")
    assert caught.value.content[0]["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Invoice__c' is not supported." in caught.value.content[0]["message"]


# -- records ----------------------------------------------------------------------------------------


def test_create_get_update_delete(org: SalesforceEmulator, sf: Salesforce, clock: SandboxClock) -> None:
    _, project, _ = seed(org, payments=0)
    created = sf.Payment__c.create({"Project__c": project, "Amount__c": 250.5, "Type__c": "Deposit"})
    assert created["success"] is True and created["errors"] == []
    record = sf.Payment__c.get(created["id"])
    assert record["Status__c"] == "Draft"  # the field's default
    assert record["Amount__c"] == 250.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", record["CreatedDate"])
    assert "Secret_Note__c" in record
    clock.advance(timedelta(seconds=5))
    assert sf.Payment__c.update(created["id"], {"Status__c": "Paid", "Paid_At__c": "2026-11-26T15:03:09Z"}) == 204
    updated = sf.Payment__c.get(created["id"])
    assert updated["Paid_At__c"] == "2026-11-26T15:03:09.000+0000"
    assert updated["LastModifiedDate"] > record["LastModifiedDate"]
    assert updated["SystemModstamp"] == updated["LastModifiedDate"]
    only = sf.restful(f"sobjects/Payment__c/{created['id']}", params={"fields": "Id,Status__c"})
    assert list(only) == ["attributes", "Id", "Status__c"]
    assert sf.Payment__c.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Payment__c.get(created["id"])


@pytest.mark.parametrize(
    ("fields", "code", "error_fields"),
    [
        ({"Bogus__c": 1}, "INVALID_FIELD", None),
        ({"CreatedDate": "2026-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
        ({"Name": "PAY-1"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Name"]),
        ({"Description__c": "x" * 21}, "STRING_TOO_LONG", ["Description__c"]),
        ({"Type__c": "Bribe"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Type__c"]),
        ({"Amount__c": "lots"}, "JSON_PARSER_ERROR", None),
        ({"Link_Sent_To__c": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Link_Sent_To__c"]),
        ({"Project__c": None}, "REQUIRED_FIELD_MISSING", ["Project__c"]),
    ],
)
def test_create_validation_errors(
    org: SalesforceEmulator, sf: Salesforce, fields: dict, code: str, error_fields
) -> None:
    _, project, _ = seed(org, payments=0)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Payment__c.create({"Project__c": project, **fields})
    error = caught.value.content[0]
    assert error["errorCode"] == code
    if error_fields is not None:
        assert error["fields"] == error_fields
    assert org.query("SELECT COUNT() FROM Payment__c")["totalSize"] == 0


def test_duplicate_external_id_and_upsert(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, _ = seed(org, payments=0)
    created = sf.Payment__c.upsert(
        "Idempotency_Key__c/key-1", {"Project__c": project, "Amount__c": 10}, raw_response=True
    )
    assert created.status_code == 201 and created.json()["created"] is True
    updated = sf.Payment__c.upsert("Idempotency_Key__c/KEY-1", {"Amount__c": 20}, raw_response=True)
    assert updated.status_code == 200 and updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Payment__c.create({"Project__c": project, "Idempotency_Key__c": "Key-1"})
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_a_validation_rule_refuses_the_save_as_salesforce_does(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, [payment] = seed(org, payments=1)
    org.add_validation_rule(ValidationRule("Payment__c", {"Status__c": "Paid"}, "Paid needs a receipt."))
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Payment__c.update(payment, {"Status__c": "Paid"})
    # The REST error of a validation rule shown at the top of the page: no field named.
    assert caught.value.content == [
        {"message": "Paid needs a receipt.", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": []}
    ]
    with pytest.raises(SalesforceMalformedRequest):
        sf.Payment__c.create({"Project__c": project, "Status__c": "Paid"})  # on insert as on update
    assert sf.Payment__c.update(payment, {"Status__c": "Draft"}) == 204  # other saves go through


def test_failing_automation_and_a_passing_lock_set_through_the_control_api(
    org: SalesforceEmulator, sf: Salesforce, session: requests.Session
) -> None:
    _, _, [payment] = seed(org, payments=1)
    trigger = {"object": "Payment__c", "when": {"Status__c": "Paid"}, "message": "PayTrigger: boom",
               "code": "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"}  # fmt: skip
    lock = {"object": "Payment__c", "when": {}, "message": "unable to obtain exclusive access to this record",
            "code": "UNABLE_TO_LOCK_ROW", "times": 1}  # fmt: skip
    for rule in (trigger, lock):
        assert session.post(f"{org.url}/__sandbox/rules", json=rule, timeout=10).status_code == 204
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Payment__c.update(payment, {"Status__c": "Draft"})
    assert caught.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    assert sf.Payment__c.update(payment, {"Status__c": "Draft"}) == 204  # the lock was released
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Payment__c.update(payment, {"Status__c": "Paid"})
    assert caught.value.content[0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert session.delete(f"{org.url}/__sandbox/rules", timeout=10).status_code == 204
    assert sf.Payment__c.update(payment, {"Status__c": "Paid"}) == 204
    bad = session.post(f"{org.url}/__sandbox/rules", json={**lock, "code": "NOPE"}, timeout=10)
    assert bad.status_code == 400 and "NOPE" in bad.text


def test_if_unmodified_since_guards_patch(org: SalesforceEmulator, sf: Salesforce, clock: SandboxClock) -> None:
    _, _, payment_ids = seed(org, payments=1)
    read_at = clock.now()
    clock.advance(timedelta(seconds=2))
    org.update_record("Payment__c", payment_ids[0], {"Status__c": "Paid"})
    stale = {"If-Unmodified-Since": format_datetime(read_at, usegmt=True)}
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful(
            f"sobjects/Payment__c/{payment_ids[0]}",
            method="PATCH",
            json={"Status__c": "Error"},
            headers=stale,
        )
    assert caught.value.status == 412
    assert caught.value.content[0]["errorCode"] == "PRECONDITION_FAILED"
    assert org.get_record("Payment__c", payment_ids[0])["Status__c"] == "Paid"
    not_modified = {"If-Modified-Since": format_datetime(clock.now() + timedelta(seconds=1), usegmt=True)}
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful(f"sobjects/Payment__c/{payment_ids[0]}", headers=not_modified)
    assert caught.value.status == 304
    changed = {"If-Modified-Since": format_datetime(read_at, usegmt=True)}
    assert sf.restful(f"sobjects/Payment__c/{payment_ids[0]}", headers=changed)["Status__c"] == "Paid"
    fresh = {"If-Unmodified-Since": format_datetime(clock.now() + timedelta(seconds=1), usegmt=True)}
    sf.restful(f"sobjects/Payment__c/{payment_ids[0]}", method="PATCH", json={"Status__c": "Error"}, headers=fresh)
    assert org.get_record("Payment__c", payment_ids[0])["Status__c"] == "Error"


def test_fls_hidden_field_is_invalid_and_absent_from_describe(org: SalesforceEmulator, sf: Salesforce) -> None:
    seed(org, payments=1)
    org.set_field_access("Payment__c", "Secret_Note__c", readable=False)
    describe = sf.Payment__c.describe()
    assert "Secret_Note__c" not in [f["name"] for f in describe["fields"]]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Secret_Note__c FROM Payment__c")
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
    org.set_field_access("Payment__c", "Amount__c", updateable=False)
    amount = next(f for f in sf.Payment__c.describe()["fields"] if f["name"] == "Amount__c")
    assert amount["updateable"] is False and amount["createable"] is True
    payment_id = org.query("SELECT Id FROM Payment__c")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Payment__c.update(payment_id, {"Amount__c": 1})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_describe_shape(sf: Salesforce) -> None:
    describe = sf.Payment__c.describe()
    assert describe["name"] == "Payment__c" and describe["keyPrefix"] == "a0Q" and describe["custom"] is True
    fields = {f["name"]: f for f in describe["fields"]}
    assert [f["name"] for f in describe["fields"]][:4] == ["Id", "OwnerId", "IsDeleted", "Name"]
    assert fields["Name"]["autoNumber"] is True and fields["Name"]["createable"] is False
    assert fields["Amount__c"]["type"] == "currency" and fields["Amount__c"]["precision"] == 16
    assert fields["Amount__c"]["scale"] == 2
    assert fields["Project__c"]["referenceTo"] == ["Project__c"]
    assert fields["Project__c"]["relationshipName"] == "Project__r"
    assert fields["Project__c"]["nillable"] is False
    status = fields["Status__c"]["picklistValues"]
    assert {
        "active": True,
        "defaultValue": True,
        "label": "Draft",
        "validFor": None,
        "value": "Draft",
    } in status
    assert fields["Idempotency_Key__c"]["externalId"] is True and fields["Idempotency_Key__c"]["unique"] is True
    assert fields["Sync_Error__c"]["filterable"] is False
    project = sf.Project__c.describe()
    assert {
        "childSObject": "Payment__c",
        "field": "Project__c",
        "relationshipName": "Payments__r",
    }.items() <= next(r for r in project["childRelationships"] if r["childSObject"] == "Payment__c").items()
    with pytest.raises(SalesforceResourceNotFound):
        sf.Invoice__c.describe()


# -- composite --------------------------------------------------------------------------------------


def _sub(ref: str, method: str, url: str, body: dict | None = None, headers: dict | None = None) -> dict:
    request = {"method": method, "url": f"/services/data/v{VERSION}/{url}", "referenceId": ref}
    if body is not None:
        request["body"] = body
    if headers is not None:
        request["httpHeaders"] = headers
    return request


ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."


def test_composite_all_or_none_rolls_back_everything(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, payment_ids = seed(org, payments=1)
    before = org.query("SELECT Id, Status__c, Amount__c FROM Payment__c")
    org.reset_api_calls()
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": True,
            "compositeRequest": [
                _sub("newPayment", "POST", "sobjects/Payment__c", {"Project__c": project, "Amount__c": 5}),
                _sub("touch", "PATCH", f"sobjects/Payment__c/{payment_ids[0]}", {"Status__c": "Paid"}),
                _sub("bad", "PATCH", "sobjects/Payment__c/@{newPayment.id}", {"Type__c": "Bribe"}),
                _sub("after", "GET", f"sobjects/Payment__c/{payment_ids[0]}"),
            ],
        },
    )
    results = {r["referenceId"]: r for r in answer["compositeResponse"]}
    assert results["bad"]["httpStatusCode"] == 400
    assert results["bad"]["body"][0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    for ref in ("newPayment", "touch", "after"):
        assert results[ref]["httpStatusCode"] == 400
        assert results[ref]["body"] == [
            {
                "errorCode": "PROCESSING_HALTED",
                "message": ROLLED_BACK,
            }
        ]
    assert org.query("SELECT Id, Status__c, Amount__c FROM Payment__c") == before
    assert org.api_calls()["total"] == 1


def test_composite_without_all_or_none_skips_dependents(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, _ = seed(org, payments=0)
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                _sub("broken", "POST", "sobjects/Payment__c", {"Amount__c": 5}),
                _sub("dependent", "PATCH", "sobjects/Payment__c/@{broken.id}", {"Status__c": "Paid"}),
                _sub("fine", "POST", "sobjects/Payment__c", {"Project__c": project, "Amount__c": 7}),
                _sub("lookup", "GET", "query/?q=SELECT+Id+FROM+Payment__c"),
                _sub("chained", "PATCH", "sobjects/Payment__c/@{lookup.records[0].Id}", {"Status__c": "Paid"}),
            ]
        },
    )
    codes = {r["referenceId"]: r["httpStatusCode"] for r in answer["compositeResponse"]}
    assert codes == {"broken": 400, "dependent": 400, "fine": 201, "lookup": 200, "chained": 204}
    dependent = answer["compositeResponse"][1]["body"][0]
    assert dependent == {
        "errorCode": "PROCESSING_HALTED",
        "message": "Invalid reference specified. No value for broken.id found in broken.",
    }
    fine = answer["compositeResponse"][2]
    assert fine["httpHeaders"]["Location"].endswith(fine["body"]["id"])
    assert org.query("SELECT Status__c FROM Payment__c")["records"][0]["Status__c"] == "Paid"


def test_composite_honours_subrequest_headers(org: SalesforceEmulator, sf: Salesforce, clock: SandboxClock) -> None:
    _, _, payment_ids = seed(org, payments=2)
    stale = format_datetime(clock.now() - timedelta(minutes=1), usegmt=True)
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                _sub(
                    "guarded",
                    "PATCH",
                    f"sobjects/Payment__c/{payment_ids[0]}",
                    {"Status__c": "Paid"},
                    {"If-Unmodified-Since": stale},
                ),
                _sub("free", "PATCH", f"sobjects/Payment__c/{payment_ids[1]}", {"Status__c": "Paid"}),
            ]
        },
    )
    assert [r["httpStatusCode"] for r in answer["compositeResponse"]] == [412, 204]
    statuses = org.query("SELECT Status__c FROM Payment__c ORDER BY Name")["records"]
    assert [r["Status__c"] for r in statuses] == ["Draft", "Paid"]


def test_composite_rejects_more_than_25_subrequests(sf: Salesforce) -> None:
    requests_ = [_sub(f"r{i}", "GET", "limits") for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": requests_})


def test_collections_report_each_record_in_order(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, payment_ids = seed(org, payments=2)
    org.reset_api_calls()
    saved = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Payment__c"}, "id": payment_ids[0], "Status__c": "Paid"},
                {"attributes": {"type": "Payment__c"}, "id": payment_ids[1], "Status__c": "Nonsense"},
                {"attributes": {"type": "Payment__c"}, "Status__c": "Paid"},
            ],
        },
    )
    assert saved[0] == {"id": payment_ids[0], "success": True, "errors": []}
    assert saved[1]["success"] is False and saved[1]["id"] == payment_ids[1]
    assert saved[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert saved[1]["errors"][0]["fields"] == ["Status__c"]
    assert saved[2] == {
        "success": False,
        "errors": [{"statusCode": "MISSING_ARGUMENT", "message": "Id not specified in an update call", "fields": []}],
    }
    assert org.api_calls() == {"total": 1, "by_endpoint": {"PATCH composite/sobjects": 1}}
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Payment__c"}, "Project__c": project, "Amount__c": 1},
                {"attributes": {"type": "Payment__c"}, "Amount__c": 2},
            ],
        },
    )
    assert created[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert org.query("SELECT COUNT() FROM Payment__c")["totalSize"] == 2


def test_collections_refuse_more_than_200_records(org: SalesforceEmulator, sf: Salesforce) -> None:
    records = [{"attributes": {"type": "Contact"}, "LastName": f"L{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert org.query("SELECT COUNT() FROM Contact")["totalSize"] == 0


def test_graph_rolls_back_only_the_failing_graph(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, project, _ = seed(org, payments=0)
    good = {
        "graphId": "good",
        "compositeRequest": [_sub("p", "POST", "sobjects/Payment__c", {"Project__c": project})],
    }
    bad = {
        "graphId": "bad",
        "compositeRequest": [
            _sub("p1", "POST", "sobjects/Payment__c", {"Project__c": project}),
            _sub("p2", "POST", "sobjects/Payment__c", {"Project__c": "a0Qbogusbogus12"}),
        ],
    }
    answer = sf.restful("composite/graph", method="POST", json={"graphs": [good, bad]})
    assert [g["isSuccessful"] for g in answer["graphs"]] == [True, False]
    assert org.query("SELECT COUNT() FROM Payment__c")["totalSize"] == 1


def test_past_fourteen_failed_graphs_the_rest_of_the_call_is_halted(org: SalesforceEmulator, sf: Salesforce) -> None:
    # Composite Graph Limits: "if the number of graph failures exceeds the maximum limit of 14,
    # processing is halted for the remaining graphs ... shown as PROCESSING_HALTED".
    _, project, _ = seed(org, payments=0)

    def graph(graph_id: str, project_id: str) -> dict:
        node = _sub("p", "POST", "sobjects/Payment__c", {"Project__c": project_id})
        return {"graphId": graph_id, "compositeRequest": [node]}

    bad = [graph(f"bad{n}", "a0Qbogusbogus12") for n in range(16)]
    good = [graph(f"good{n}", project) for n in range(3)]
    answer = sf.restful("composite/graph", method="POST", json={"graphs": [good[0], *bad, *good[1:]]})
    graphs = {g["graphId"]: g for g in answer["graphs"]}
    assert graphs["good0"]["isSuccessful"] is True
    tried = [graphs[f"bad{n}"]["graphResponse"]["compositeResponse"][0]["body"][0]["errorCode"] for n in range(15)]
    assert "PROCESSING_HALTED" not in tried  # the 15th failure exceeds the limit of 14
    for halted in ("bad15", "good1", "good2"):
        [node] = graphs[halted]["graphResponse"]["compositeResponse"]
        assert graphs[halted]["isSuccessful"] is False and node["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert org.query("SELECT COUNT() FROM Payment__c")["totalSize"] == 1


def test_a_graph_payload_of_more_than_fifteen_different_nodes_is_refused(
    org: SalesforceEmulator, sf: Salesforce
) -> None:
    # "Nodes are considered different if they use resources from different API versions, a
    # different HTTP method, or different types of objects" (Composite Graph Limits): 16 here.
    nodes = [
        {"method": "GET", "url": f"/services/data/v{version}/sobjects/{sobject}/003000000000001", "referenceId": ref}
        for ref, (version, sobject) in enumerate(
            [
                (v, o)
                for v in ("62.0", "63.0", "64.0", "61.0")
                for o in ("Contact", "Payment__c", "Project__c", "Account")
            ]
        )
    ]
    graphs = [{"graphId": "g0", "compositeRequest": [{**n, "referenceId": f"r{n['referenceId']}"} for n in nodes]}]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/graph", method="POST", json={"graphs": graphs})
    assert (
        caught.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
        and "different nodes" in caught.value.content[0]["message"]
    )


def test_a_graph_deeper_than_fifteen_nodes_of_references_is_refused(org: SalesforceEmulator, sf: Salesforce) -> None:
    # "Maximum depth of a graph: 15" (Composite Graph Limits): a chain of nodes each using the one before.
    _, project, _ = seed(org, payments=0)

    def chain(length: int) -> dict:
        nodes = [
            {"method": "GET", "url": f"/services/data/v{VERSION}/sobjects/Project__c/{project}", "referenceId": "n0"}
        ]
        nodes += [
            {
                "method": "GET",
                "url": f"/services/data/v{VERSION}/sobjects/Project__c/@{{n{i - 1}.Id}}",
                "referenceId": f"n{i}",
            }
            for i in range(1, length)
        ]
        return {"graphs": [{"graphId": "g0", "compositeRequest": nodes}]}

    [fine] = sf.restful("composite/graph", method="POST", json=chain(15))["graphs"]
    assert fine["isSuccessful"] is True
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/graph", method="POST", json=chain(16))
    refusal = caught.value.content[0]
    assert refusal["errorCode"] == "LIMIT_EXCEEDED" and "depth" in refusal["message"]


# -- email, limits, misc ----------------------------------------------------------------------------


_MIXED_INPUTS = [
    {"emailAddresses": "ada@example.com", "emailSubject": "Pay", "emailBody": "link", "relatedRecordId": None},
    {"emailAddresses": "not an address", "emailSubject": "Pay", "emailBody": "link"},
    {"emailAddresses": "bob@example.com", "emailBody": "no subject"},
]


def test_email_simple_delivers_valid_inputs_to_outbox(org: SalesforceEmulator, sf: Salesforce) -> None:
    _, _, payment_ids = seed(org, payments=1)
    inputs = [{**_MIXED_INPUTS[0], "relatedRecordId": payment_ids[0]}]
    answer = sf.restful("actions/standard/emailSimple", method="POST", json={"inputs": inputs})
    assert answer == [{"actionName": "emailSimple", "errors": None, "isSuccess": True, "outputValues": None}]
    outbox = org.outbox()
    assert len(outbox) == 1
    assert outbox[0]["to"] == ["ada@example.com"] and outbox[0]["related_record_id"] == payment_ids[0]


@pytest.mark.parametrize("partial_save", [False, True])
def test_an_email_call_with_a_failing_input_is_answered_400_with_every_result(
    org: SalesforceEmulator, sf: Salesforce, partial_save: bool
) -> None:
    _, _, payment_ids = seed(org, payments=1)
    org.set_partial_save(partial_save)
    inputs = [{**_MIXED_INPUTS[0], "relatedRecordId": payment_ids[0]}, *_MIXED_INPUTS[1:]]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("actions/standard/emailSimple", method="POST", json={"inputs": inputs})
    answer = caught.value.content
    assert caught.value.status == 400 and len(answer) == 3
    assert answer[1]["isSuccess"] is False and answer[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert answer[2]["isSuccess"] is False and "emailSubject" in answer[2]["errors"][0]["message"]
    if partial_save:  # the good input is kept
        assert answer[0]["isSuccess"] is True and len(org.outbox()) == 1
    else:  # the whole call is rolled back, and the good input says so
        assert answer[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK" and org.outbox() == []


def test_limit_info_header_and_api_usage(org: SalesforceEmulator, sf: Salesforce, session: requests.Session) -> None:
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (2, 100_000)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 100_000, "Remaining": 100_000 - 3}
    versions = session.get(f"{org.url}/services/data/", timeout=10)
    assert "Sforce-Limit-Info" not in versions.headers
    assert {"label": "Summer '25", "url": "/services/data/v64.0", "version": "64.0"} in versions.json()


def test_daily_limit_refuses_with_request_limit_exceeded(org: SalesforceEmulator, sf: Salesforce) -> None:
    org.set_api_limit(daily_limit=10, used=9)
    sf.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_unsupported_version_and_bad_json(org: SalesforceEmulator, sf: Salesforce, session: requests.Session) -> None:
    auth = {"Authorization": f"Bearer {sf.session_id}"}
    old = session.get(f"{org.url}/services/data/v40.0/limits", headers=auth, timeout=10)
    assert old.status_code == 404 and old.json()[0]["errorCode"] == "NOT_FOUND"
    bad = session.post(f"{org.url}/services/data/v{VERSION}/sobjects/Contact/", data=b"{nope", headers=auth, timeout=10)
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    missing = session.get(f"{org.url}/services/data/v{VERSION}/sobjects/Contact/", timeout=10)
    assert missing.status_code == 401


def test_control_api_over_http(org: SalesforceEmulator, session: requests.Session) -> None:
    created = session.post(f"{org.url}/__sandbox/records/Contact", json={"LastName": "Hopper"}, timeout=10)
    assert created.status_code == 200
    record = session.get(f"{org.url}/__sandbox/records/Contact/{created.json()['id']}", timeout=10).json()
    assert record["Name"] == "Hopper"
    found = session.post(f"{org.url}/__sandbox/query", json={"q": "SELECT LastName FROM Contact"}, timeout=10).json()
    assert found["records"][0]["LastName"] == "Hopper"
    refused = session.post(f"{org.url}/__sandbox/records/Contact", json={"Email": "x@y.z"}, timeout=10)
    assert refused.status_code == 400 and refused.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"

"""The benchmark's baseline: the same job done the way a simple script or an iPaaS flow does it,
one record at a time, one Salesforce call per read and per write, one Stripe call at a time.

Per request: read a flagged Project, create its Payment, clear the flag, create the link, write
the link, email it, mark it sent (6 Salesforce calls, 1 Stripe call). Per payment: read the
Payment, list its link's Checkout Sessions, mark it paid (2 Salesforce calls, 1 Stripe call).
It is a yardstick, not a second worker: no retries, no validation, no idempotency keys.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import requests
import stripe

from sync.sandbox.environment import Sandbox

API = "v64.0"


class NaiveScript:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._m = sandbox.mapping
        c = sandbox.credentials
        self._http = requests.Session()
        # Per request, not Session.verify, which REQUESTS_CA_BUNDLE overrides (psf/requests#3829).
        self._ca = str(sandbox.tls.ca_bundle)
        token = self._http.post(
            f"{sandbox.salesforce_url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": c.client_id, "client_secret": c.client_secret},
            timeout=30,
            verify=self._ca,
        ).json()
        self._http.headers["Authorization"] = f"Bearer {token['access_token']}"
        self._base = f"{token['instance_url']}/services/data/{API}"
        self._stripe = stripe.StripeClient(c.stripe_test_key, base_addresses={"api": sandbox.stripe_url})

    def run(self, projects: list[str]) -> list[Any]:
        """Both phases over these flagged Projects; returns their Phase figures (see sync.sandbox.bench)."""
        from sync.sandbox.bench import Phase

        sandbox = self._sandbox
        sandbox.salesforce.reset_api_calls()
        sandbox.stripe.clear_request_log()
        started = time.monotonic()
        made = [self._one_request() for _ in projects]
        links = Phase("requests → links emailed", records=len(projects), seconds=time.monotonic() - started)
        links.salesforce_calls = sandbox.salesforce.api_calls()["total"]
        links.stripe_calls = len(sandbox.stripe.request_log())

        for _, url in made:
            sandbox.pay(url)
        sandbox.salesforce.reset_api_calls()
        sandbox.stripe.clear_request_log()
        started = time.monotonic()
        for payment_id, _ in made:
            self._one_payment(payment_id)
        paid = Phase("links paid → Paid", records=len(projects), seconds=time.monotonic() - started)
        paid.salesforce_calls = sandbox.salesforce.api_calls()["total"]
        paid.stripe_calls = len(sandbox.stripe.request_log())
        return [links, paid]

    def _one_request(self) -> tuple[str, str]:
        pf, pay = self._m.project.fields, self._m.payment
        f = pay.fields
        soql = (  # SOQL over the mapping's names, not SQL
            f"SELECT Id, {pf.requested_amount}, {pf.request_description}, {pf.customer_email} "
            f"FROM {self._m.project.object} WHERE {pf.request_payment} = true LIMIT 1"
        )
        project = self._get("query", params={"q": soql})["records"][0]
        amount = project[pf.requested_amount]
        payment_id = self._send(
            "POST",
            f"sobjects/{pay.object}",
            {
                f.project: project["Id"],
                f.request_key: f"naive:{project['Id']}",
                f.amount: amount,
                f.currency: "USD",
                f.description: project[pf.request_description],
                f.customer_email: project.get(pf.customer_email),
                f.status: pay.status.requested,
            },
        )["id"]
        self._send("PATCH", f"sobjects/{self._m.project.object}/{project['Id']}", {pf.request_payment: False})
        link = self._stripe.v1.payment_links.create(
            params={
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": int(Decimal(str(amount)) * 100),
                            "product_data": {"name": project[pf.request_description] or "Payment"},
                        },
                        "quantity": 1,
                    }
                ],
                "metadata": {"crm_payment_id": payment_id},
            }
        )
        self._send("PATCH", f"sobjects/{pay.object}/{payment_id}", {f.link_url: link.url, f.payment_link_id: link.id})
        self._send(
            "POST",
            "actions/standard/emailSimple",
            {
                "inputs": [
                    {
                        "emailAddresses": project.get(pf.customer_email) or "nobody@example.com",
                        "emailSubject": "Your payment link",
                        "emailBody": link.url,
                        "senderType": "CurrentUser",
                    }
                ]
            },
        )
        self._send("PATCH", f"sobjects/{pay.object}/{payment_id}", {f.status: pay.status.link_sent})
        return payment_id, link.url

    def _one_payment(self, payment_id: str) -> None:
        pay = self._m.payment
        f = pay.fields
        record = self._get(f"sobjects/{pay.object}/{payment_id}")
        sessions = self._stripe.v1.checkout.sessions.list(params={"payment_link": record[f.payment_link_id]})
        if any(s.payment_status == "paid" for s in sessions.data):
            self._send("PATCH", f"sobjects/{pay.object}/{payment_id}", {f.status: pay.status.paid})

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = self._http.get(f"{self._base}/{path}", params=params, timeout=30, verify=self._ca)
        response.raise_for_status()
        return response.json()

    def _send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        response = self._http.request(method, f"{self._base}/{path}", json=body, timeout=30, verify=self._ca)
        response.raise_for_status()
        return response.json() if response.content else None

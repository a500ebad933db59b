"""A small, believable org for the demo and `sync sandbox`: projects, customers, a Stripe Setup."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sync.sandbox.environment import Sandbox


@dataclass(frozen=True)
class SeededOrg:
    kitchen: str
    roof: str
    bathroom: str
    deck: str


def seed_projects(sandbox: Sandbox) -> SeededOrg:
    """Four projects; the roof's customer has no email on file."""
    return SeededOrg(
        kitchen=sandbox.add_project(
            "Kitchen remodel – 14 Elm St", customer_email="pat.lee@example.com", contract_amount=Decimal("40000.00")
        ),
        roof=sandbox.add_project(
            "Roof replacement – 3 Oak Ave", customer_email=None, contract_amount=Decimal("18500.00")
        ),
        bathroom=sandbox.add_project(
            "Bathroom refit – 9 Pine Rd", customer_email="sam.ortiz@example.com", contract_amount=Decimal("12000.00")
        ),
        deck=sandbox.add_project(
            "Deck and porch – 27 Birch Ln", customer_email="jo.kim@example.com", contract_amount=Decimal("9800.00")
        ),
    )

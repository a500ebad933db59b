"""Seeded fault injection for both emulators: error answers in each service's real wire format,
dropped and held connections, latency, outages, and Stripe's per-second rate limit.

`Sandbox` puts a `FaultInjector` in front of each emulator's app; tests configure it in process
(`sandbox.faults("stripe")`) and other processes over HTTP (`/__sandbox/faults`, see `control`).
"""

from .injector import FaultInjector
from .rules import DEFAULT_HOLD_SECONDS, FaultRule
from .salesforce_wire import SalesforceWire
from .stripe_wire import StripeWire

__all__ = ["DEFAULT_HOLD_SECONDS", "FaultInjector", "FaultRule", "SalesforceWire", "StripeWire"]

"""A local emulator of the Stripe API subset the worker uses, speaking Stripe's wire format."""

from .app import DEFAULT_API_VERSION, StripeEmulator

__all__ = ["DEFAULT_API_VERSION", "StripeEmulator"]

"""The sandbox wing: local emulators of Salesforce and Stripe, the demo and the benchmark.

One way: the worker never imports this package (only the CLI does, for `sandbox`, `demo` and
`bench`); it reaches the emulators through its ordinary settings (an instance URL, a Stripe API
base). `Sandbox` is its public API, for tests of your own against it.
"""

from sync.sandbox.environment import Sandbox

__all__ = ["Sandbox"]

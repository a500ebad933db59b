"""Local emulators of Salesforce and Stripe for tests and the demo.

Production code never imports this package: the worker reaches the emulators only through its
ordinary settings (an instance URL, a Stripe API base).
"""

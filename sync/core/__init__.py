"""The pure core: given what the CRM and Stripe say (and `now`), decide what to do.

Nothing here imports an SDK, reads a clock or does I/O; it is tested with plain tables.
"""

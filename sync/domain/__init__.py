"""The pure domain: values (models, money, errors) and what to do, given CRM state and Stripe's (and `now`).

Nothing here imports an SDK, reads a clock, logs or does I/O, and nothing of ours but the domain;
it is tested with plain tables. One decision module per flow: requests, stripe_results, staff_actions,
refunds, stripe_setup (with ownership, validation, actions and the staff-facing messages).
"""

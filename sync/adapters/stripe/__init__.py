"""The Stripe adapter: the payments gateway (`payments`) and the reading of a Payment's state (`payment_state`)."""

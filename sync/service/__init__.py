"""The service layer: one module per flow, each applying what the domain decided through the ports.

Requests (`runner`), Stripe results (`stripe_results`), staff actions (`staff_actions`), refunds
(`refunds`) and the Stripe connection (`stripe_connection`). It never imports an adapter or an SDK.
"""

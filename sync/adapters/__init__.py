"""The imperative shell's edges: the only modules that speak to Salesforce and Stripe."""

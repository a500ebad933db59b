"""crm-stripe-sync: payment requests in a Salesforce CRM become Stripe payment links."""

__version__ = "0.1.0"

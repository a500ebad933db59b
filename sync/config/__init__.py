"""What the worker is configured with: settings (environment), the CRM mapping, the email templates."""

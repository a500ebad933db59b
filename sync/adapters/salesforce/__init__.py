"""The Salesforce adapter: the CRM gateway, login (`auth`), the record codec (`records`), SOQL (`queries`)."""

"""A local Salesforce org speaking the REST wire format that simple-salesforce expects."""

from .app import SalesforceEmulator
from .errors import ApiError
from .schema import FieldSchema, OrgSchema, SObjectSchema

__all__ = ["ApiError", "FieldSchema", "OrgSchema", "SObjectSchema", "SalesforceEmulator"]

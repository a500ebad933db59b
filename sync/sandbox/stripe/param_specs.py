"""The parameters each emulated endpoint accepts, as stripe-python 16.1.0's TypedDicts list them.

Names, nesting, required keys and enums follow `stripe/params/_payment_link_create_params.py` and
its siblings (API 2026-10-28.endive); string lengths follow Stripe's OpenAPI spec (2023-08-16) where
it has them. `tests/sandbox/test_stripe_forms.py` checks these names against the installed SDK.
"""

from __future__ import annotations

from .schema import Arr, Bool, Dec, Float, Int, IntOrRange, Metadata, Obj, Str, enum, obj

# Stripe's own limit on amounts: "up to eight digits" (https://docs.stripe.com/currencies).
MAX_AMOUNT = 99_999_999

PAYMENT_METHOD_TYPES = (
    "affirm", "afterpay_clearpay", "alipay", "alma", "au_becs_debit", "bacs_debit", "bancontact",
    "billie", "bizum", "blik", "boleto", "card", "cashapp", "eps", "fpx", "giropay", "grabpay", "ideal",
    "klarna", "konbini", "link", "mb_way", "mobilepay", "multibanco", "oxxo", "p24", "pay_by_bank",
    "paynow", "paypal", "paypay", "payto", "pix", "promptpay", "satispay", "scalapay", "sepa_debit",
    "sequra", "sofort", "sunbit", "swish", "twint", "upi", "us_bank_account", "wechat_pay", "zip",
)  # fmt: skip

EXPAND = Arr(Str())

_ISSUER = obj(("type",), account=Str(), type=enum("account", "self"))
_ADJUSTABLE_QUANTITY = obj(
    ("enabled",), enabled=Bool(), maximum=Int(minimum=1, maximum=999), minimum=Int(minimum=0, maximum=999)
)
_AFTER_COMPLETION = obj(
    ("type",),
    hosted_confirmation=obj(custom_message=Str(max_length=500)),
    redirect=obj(("url",), url=Str(max_length=2048)),
    type=enum("hosted_confirmation", "redirect"),
)
_AUTOMATIC_TAX = obj(("enabled",), enabled=Bool(), liability=_ISSUER)
_CONSENT_COLLECTION = obj(
    payment_method_reuse_agreement=obj(("position",), position=enum("auto", "hidden")),
    promotions=enum("auto", "none"),
    terms_of_service=enum("none", "required"),
)
_LENGTH_LIMITS = {"default_value": Str(), "maximum_length": Int(), "minimum_length": Int()}
_CUSTOM_FIELD = obj(
    ("key", "label", "type"),
    dropdown=obj(
        ("options",),
        default_value=Str(),
        options=Arr(obj(("label", "value"), label=Str(max_length=100), value=Str(max_length=100)), 200),
    ),
    key=Str(max_length=200),
    label=obj(("custom", "type"), custom=Str(max_length=50), type=enum("custom")),
    numeric=obj(**_LENGTH_LIMITS),
    optional=Bool(),
    text=obj(**_LENGTH_LIMITS),
    type=enum("dropdown", "numeric", "text"),
)
_MESSAGE = obj(("message",), emptyable=True, message=Str(max_length=1000))
_CUSTOM_TEXT = obj(
    after_submit=_MESSAGE, shipping_address=_MESSAGE, submit=_MESSAGE, terms_of_service_acceptance=_MESSAGE
)
_INVOICE_CUSTOM_FIELDS = Arr(obj(("name", "value"), name=Str(max_length=30), value=Str(max_length=30)), 4, True)
_INVOICE_CREATION = obj(
    ("enabled",),
    enabled=Bool(),
    invoice_data=obj(
        account_tax_ids=Arr(Str(), emptyable=True),
        custom_fields=_INVOICE_CUSTOM_FIELDS,
        description=Str(max_length=1500),
        footer=Str(max_length=5000),
        issuer=_ISSUER,
        metadata=Metadata(),
        rendering_options=obj(
            emptyable=True,
            amount_tax_display=enum("exclude_tax", "include_inclusive_tax", emptyable=True),
            template=Str(),
        ),
    ),
)
_NAME_PART = obj(("enabled",), enabled=Bool(), optional=Bool())
_OPTIONAL_ITEM = obj(
    ("price", "quantity"), adjustable_quantity=_ADJUSTABLE_QUANTITY, price=Str(), quantity=Int(minimum=0)
)
_CARD_BRANDS = enum("american_express", "discover_global_network", "mastercard", "visa")
_PHONE = obj(("enabled",), enabled=Bool())
_RESTRICTIONS = obj(("completed_sessions",), completed_sessions=obj(("limit",), limit=Int(minimum=1)))
# Country codes are not checked against Stripe's list (238 values in the SDK's Literal).
_SHIPPING_ADDRESS = obj(("allowed_countries",), allowed_countries=Arr(Str(max_length=2)))
_SHIPPING_OPTIONS = Arr(obj(shipping_rate=Str()))
_TAX_ID = obj(("enabled",), enabled=Bool(), required=enum("if_supported", "never"))
_SUBMIT_TYPE = enum("auto", "book", "donate", "pay", "subscribe")
_CUSTOMER_CREATION = enum("always", "if_required")
_BILLING_ADDRESS = enum("auto", "required")
_METHOD_COLLECTION = enum("always", "if_required")
_TRIAL_SETTINGS = obj(
    ("end_behavior",),
    end_behavior=obj(("missing_payment_method",), missing_payment_method=enum("cancel", "create_invoice", "pause")),
)
_SUBSCRIPTION_INVOICE_SETTINGS = obj(
    account_tax_ids=Arr(Str(), emptyable=True),
    custom_fields=_INVOICE_CUSTOM_FIELDS,
    description=Str(),
    footer=Str(),
    issuer=_ISSUER,
)

_PRICE_DATA = obj(
    ("currency",),
    currency=Str(),
    product=Str(),
    product_data=obj(
        ("name",),
        description=Str(max_length=40000),
        images=Arr(Str(max_length=2048), 8),
        metadata=Metadata(),
        name=Str(),
        tax_code=Str(),
        tax_details=obj(performance_location=Str(), tax_code=Str(emptyable=True)),
        unit_label=Str(max_length=12),
    ),
    recurring=obj(("interval",), interval=enum("day", "month", "week", "year"), interval_count=Int(minimum=1)),
    tax_behavior=enum("exclusive", "inclusive", "unspecified"),
    unit_amount=Int(minimum=0, maximum=MAX_AMOUNT),
    unit_amount_decimal=Dec(),
)

PAYMENT_LINK_CREATE = obj(
    ("line_items",),
    after_completion=_AFTER_COMPLETION,
    allow_promotion_codes=Bool(),
    application_fee_amount=Int(minimum=0),
    application_fee_percent=Float(),
    automatic_tax=_AUTOMATIC_TAX,
    billing_address_collection=_BILLING_ADDRESS,
    consent_collection=_CONSENT_COLLECTION,
    currency=Str(),
    custom_fields=Arr(_CUSTOM_FIELD, 3),
    custom_text=_CUSTOM_TEXT,
    customer_creation=_CUSTOMER_CREATION,
    expand=EXPAND,
    inactive_message=Str(max_length=500),
    invoice_creation=_INVOICE_CREATION,
    line_items=Arr(
        obj(
            ("quantity",),
            adjustable_quantity=_ADJUSTABLE_QUANTITY,
            price=Str(),
            price_data=_PRICE_DATA,
            quantity=Int(minimum=1),
        ),
        20,
    ),
    managed_payments=obj(enabled=Bool()),
    metadata=Metadata(),
    name_collection=obj(business=_NAME_PART, individual=_NAME_PART),
    on_behalf_of=Str(),
    optional_items=Arr(_OPTIONAL_ITEM, 10),
    payment_intent_data=obj(
        capture_method=enum("automatic", "automatic_async", "manual"),
        description=Str(max_length=1000),
        metadata=Metadata(),
        setup_future_usage=enum("off_session", "on_session"),
        statement_descriptor=Str(max_length=22),
        statement_descriptor_suffix=Str(max_length=22),
        transfer_group=Str(),
    ),
    payment_method_collection=_METHOD_COLLECTION,
    payment_method_options=obj(card=obj(restrictions=obj(brands_blocked=Arr(_CARD_BRANDS)))),
    payment_method_types=Arr(enum(*PAYMENT_METHOD_TYPES)),
    phone_number_collection=_PHONE,
    restrictions=_RESTRICTIONS,
    shipping_address_collection=_SHIPPING_ADDRESS,
    shipping_options=_SHIPPING_OPTIONS,
    submit_type=_SUBMIT_TYPE,
    subscription_data=obj(
        description=Str(max_length=500),
        invoice_settings=_SUBSCRIPTION_INVOICE_SETTINGS,
        metadata=Metadata(),
        trial_period_days=Int(minimum=1),
        trial_settings=_TRIAL_SETTINGS,
    ),
    tax_id_collection=_TAX_ID,
    transfer_data=obj(("destination",), amount=Int(minimum=0), destination=Str()),
)

PAYMENT_LINK_UPDATE = obj(
    active=Bool(),
    after_completion=_AFTER_COMPLETION,
    allow_promotion_codes=Bool(),
    application_fee_amount=Int(minimum=0, emptyable=True),
    application_fee_percent=Float(emptyable=True),
    automatic_tax=_AUTOMATIC_TAX,
    billing_address_collection=_BILLING_ADDRESS,
    consent_collection=_CONSENT_COLLECTION,
    custom_fields=Arr(_CUSTOM_FIELD, 3, emptyable=True),
    custom_text=_CUSTOM_TEXT,
    customer_creation=_CUSTOMER_CREATION,
    expand=EXPAND,
    inactive_message=Str(max_length=500, emptyable=True),
    invoice_creation=_INVOICE_CREATION,
    line_items=Arr(obj(("id",), adjustable_quantity=_ADJUSTABLE_QUANTITY, id=Str(), quantity=Int(minimum=1)), 20),
    metadata=Metadata(),
    name_collection=obj(emptyable=True, business=_NAME_PART, individual=_NAME_PART),
    on_behalf_of=Str(emptyable=True),
    optional_items=Arr(_OPTIONAL_ITEM, 10, emptyable=True),
    payment_intent_data=obj(
        description=Str(max_length=1000, emptyable=True),
        metadata=Metadata(),
        setup_future_usage=enum("off_session", "on_session", emptyable=True),
        statement_descriptor=Str(max_length=22, emptyable=True),
        statement_descriptor_suffix=Str(max_length=22, emptyable=True),
        transfer_group=Str(emptyable=True),
    ),
    payment_method_collection=_METHOD_COLLECTION,
    payment_method_options=obj(
        emptyable=True,
        card=obj(
            emptyable=True,
            restrictions=obj(emptyable=True, brands_blocked=Arr(_CARD_BRANDS, emptyable=True)),
        ),
    ),
    payment_method_types=Arr(enum(*PAYMENT_METHOD_TYPES), emptyable=True),
    phone_number_collection=_PHONE,
    restrictions=Obj(_RESTRICTIONS.fields, _RESTRICTIONS.required, emptyable=True),
    shipping_address_collection=Obj(_SHIPPING_ADDRESS.fields, _SHIPPING_ADDRESS.required, emptyable=True),
    shipping_options=Arr(_SHIPPING_OPTIONS.item, emptyable=True),
    submit_type=_SUBMIT_TYPE,
    subscription_data=obj(
        invoice_settings=_SUBSCRIPTION_INVOICE_SETTINGS,
        metadata=Metadata(),
        trial_period_days=Int(minimum=1, emptyable=True),
        trial_settings=Obj(_TRIAL_SETTINGS.fields, _TRIAL_SETTINGS.required, emptyable=True),
    ),
    tax_id_collection=_TAX_ID,
    transfer_data=obj(("destination",), emptyable=True, amount=Int(minimum=0, emptyable=True), destination=Str()),
)

_PAGE = {
    "ending_before": Str(),
    "expand": EXPAND,
    "limit": Int(minimum=1, maximum=100),
    "starting_after": Str(),
}

RETRIEVE = obj(expand=EXPAND)
PAYMENT_LINK_LIST = obj(active=Bool(), **_PAGE)
PAYMENT_LINK_LINE_ITEMS = obj(**_PAGE)
EVENT_LIST = obj(created=IntOrRange(), delivery_success=Bool(), type=Str(), types=Arr(Str(), 20), **_PAGE)

# --- payments: Checkout Sessions, PaymentIntents, Charges, Refunds, Disputes -------------------

_CREATED = IntOrRange()
CHECKOUT_SESSION_LIST = obj(
    created=_CREATED,
    customer=Str(),
    customer_account=Str(),
    customer_details=obj(("email",), email=Str()),
    payment_intent=Str(),
    payment_link=Str(),
    status=enum("complete", "expired", "open"),
    subscription=Str(),
    **_PAGE,
)
CHECKOUT_SESSION_EXPIRE = obj(expand=EXPAND)
PAYMENT_INTENT_RETRIEVE = obj(client_secret=Str(), expand=EXPAND)
PAYMENT_INTENT_LIST = obj(created=_CREATED, customer=Str(), customer_account=Str(), **_PAGE)
CHARGE_LIST = obj(created=_CREATED, customer=Str(), payment_intent=Str(), transfer_group=Str(), **_PAGE)
REFUND_CREATE = obj(
    amount=Int(),
    charge=Str(),
    currency=Str(),
    customer=Str(),
    expand=EXPAND,
    instructions_email=Str(),
    metadata=Metadata(),
    origin=enum("customer_balance"),
    payment_intent=Str(),
    reason=enum("duplicate", "fraudulent", "requested_by_customer"),
    refund_application_fee=Bool(),
    reverse_transfer=Bool(),
)
REFUND_UPDATE = obj(expand=EXPAND, metadata=Metadata())
REFUND_LIST = obj(charge=Str(), created=_CREATED, payment_intent=Str(), **_PAGE)
DISPUTE_LIST = obj(charge=Str(), created=_CREATED, payment_intent=Str(), **_PAGE)

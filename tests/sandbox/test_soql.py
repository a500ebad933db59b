"""SOQL parsing and evaluation, table-driven, plus property tests for string literals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.sandbox.clock import SandboxClock
from sync.sandbox.salesforce import ApiError, FieldSchema, OrgSchema, SalesforceEmulator, SObjectSchema
from sync.sandbox.salesforce.ids import checksum_suffix, make_id, to_18
from sync.sandbox.salesforce.jsonwire import dumps, java_double
from sync.sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    CountCall,
    FieldPath,
    Not,
    SubQuery,
    parse,
    quote_string,
    tokenize,
)

SCHEMA = OrgSchema(
    objects=(
        SObjectSchema(
            "Project__c",
            "Project",
            "a0P",
            fields=(FieldSchema("Budget__c", "currency", "Budget", precision=16, scale=2),),
        ),
        SObjectSchema(
            "Payment__c",
            "Payment",
            "a0Q",
            fields=(
                FieldSchema(
                    "Project__c",
                    "reference",
                    "Project",
                    reference_to="Project__c",
                    relationship_name="Project__r",
                    child_relationship_name="Payments__r",
                ),
                FieldSchema("Amount__c", "currency", "Amount", precision=16, scale=2),
                FieldSchema("Status__c", "picklist", "Status", picklist_values=("Draft", "Paid")),
                FieldSchema("Paid_At__c", "datetime", "Paid At"),
                FieldSchema("Due__c", "date", "Due"),
                FieldSchema("Urgent__c", "boolean", "Urgent"),
                FieldSchema("Note__c", "textarea", "Note", length=32768),
            ),
        ),
    )
)


# -- parser -----------------------------------------------------------------------------------------


def test_parses_a_full_statement() -> None:
    query = parse(
        "select Id, Project__r.Name, (SELECT Id FROM Payments__r LIMIT 2) from Payment__c "
        "where (Status__c = 'Paid' or Amount__c > -1.5) and not Urgent__c = true "
        "order by Amount__c desc nulls last, Name limit 10 offset 5"
    )
    assert query.sobject == "Payment__c"
    assert query.select[0] == FieldPath(("Id",), 7)
    assert query.select[1].parts == ("Project__r", "Name")
    assert isinstance(query.select[2], SubQuery) and query.select[2].query.limit == 2
    assert isinstance(query.where, BoolOp) and query.where.op == "AND"
    inner_or, negated = query.where.operands
    assert isinstance(inner_or, BoolOp) and inner_or.op == "OR"
    assert isinstance(inner_or.operands[1], Comparison) and inner_or.operands[1].value.value == Decimal("-1.5")
    assert isinstance(negated, Not)
    assert [(o.field.dotted, o.descending, o.nulls_first) for o in query.order_by] == [
        ("Amount__c", True, False),
        ("Name", False, True),
    ]
    assert (query.limit, query.offset) == (10, 5)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("2026-01-02", "date", date(2026, 1, 2)),
        ("2026-01-02T03:04:05Z", "datetime", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T03:04:05.000+0000", "datetime", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2026-01-02T05:04:05+02:00", "datetime", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("12.50", "number", Decimal("12.50")),
        ("'it\\'s'", "string", "it's"),
    ],
)
def test_literals(text: str, kind: str, value: object) -> None:
    token = tokenize(text)[0]
    assert (token.kind, token.value) == (kind, value)


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        ("", "unexpected token: '<EOF>'"),
        ("SELECT FROM Payment__c", "unexpected token: 'FROM'"),
        ("SELECT Id Payment__c", "unexpected token: 'Payment__c'"),
        ("SELECT Id FROM Payment__c WHERE", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Payment__c WHERE a = 1 OR b = 2 AND c = 3", "unexpected token: 'AND'"),
        ("SELECT Id FROM Payment__c GROUP BY Status__c", "unexpected token: 'GROUP'"),
        ("SELECT Id FROM Payment__c WITH SECURITY_ENFORCED", "unexpected token: 'WITH'"),
        ("SELECT Id FROM Payment__c FOR UPDATE", "unexpected token: 'FOR'"),
        ("SELECT SUM(Amount__c) FROM Payment__c", "unexpected token: '('"),
        ('SELECT Id FROM Payment__c WHERE Name = "x"', "unexpected token: '\"'"),
        ("SELECT Id FROM Payment__c WHERE Status__c INCLUDES ('a')", "unexpected token: 'INCLUDES'"),
        ("SELECT Id FROM Payment__c WHERE Paid_At__c = THIS_MONTH", "unexpected token: 'THIS_MONTH'"),
        ("SELECT Id FROM Payment__c WHERE Name = :name", "unexpected token: ':'"),
        ("SELECT Id FROM Payment__c LIMIT 1.5", "unexpected token: '1.5'"),
        (
            "SELECT Id FROM Payment__c WHERE Name = 'a\\qb'",
            "Illegal character sequence '\\q' in string literal.",
        ),
        ("SELECT Id FROM Payment__c WHERE Name = 'open", "unexpected token: '<EOF>'"),
        ("SELECT Id FROM Payment__c WHERE Name LIKE 5", "unexpected token: '5'"),
    ],
)
def test_malformed_queries_are_rejected(soql: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse(soql)
    assert caught.value.code == "MALFORMED_QUERY"
    assert caught.value.message.endswith(message)


def test_error_points_at_row_and_column() -> None:
    with pytest.raises(ApiError) as caught:
        parse("SELECT Id\nFROM Payment__c\nWHERE Name = 'a' ORDER Name")
    assert (
        caught.value.message
        == "\nWHERE Name = 'a' ORDER Name\n" + " " * 23 + "^\nERROR at Row:3:Column:24\nunexpected token: 'Name'"
    )


def test_count_forms() -> None:
    assert parse("SELECT COUNT() FROM Payment__c").select == (CountCall(None, None, 7),)
    counted = parse("SELECT COUNT(Id) total FROM Payment__c").select[0]
    assert isinstance(counted, CountCall) and counted.alias == "total"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_quoted_strings_round_trip(value: str) -> None:
    tokens = tokenize(f"Name = {quote_string(value)}")
    assert [t.kind for t in tokens] == ["ident", "op", "string", "eof"]
    assert tokens[2].value == value


# -- ids and numbers --------------------------------------------------------------------------------


def test_checksum_matches_known_salesforce_id() -> None:
    # A documented example pair: 001A0000006Vm9r -> 001A0000006Vm9rIAC.
    assert checksum_suffix("001A0000006Vm9r") == "IAC"
    assert to_18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to_18("001A0000006Vm9rIAC") == "001A0000006Vm9rIAC"
    assert to_18("001A0000006Vm9rIAD") is None
    assert to_18("not-an-id") is None


@given(st.integers(min_value=1, max_value=62**9 - 1))
def test_generated_ids_validate(counter: int) -> None:
    new_id = make_id("a0Q", counter)
    assert len(new_id) == 18 and to_18(new_id) == new_id and to_18(new_id[:15]) == new_id


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("5000.00", "5000.0"),
        ("1234.50", "1234.5"),
        ("0.1", "0.1"),
        ("0", "0.0"),
        ("10000000", "1.0E7"),
        ("12345678.9", "1.23456789E7"),
        ("0.0001", "1.0E-4"),
        ("-2.5", "-2.5"),
    ],
)
def test_decimals_are_written_like_java_doubles(value: str, text: str) -> None:
    assert java_double(Decimal(value)) == text
    assert dumps({"a": [Decimal(value)]}) == f'{{"a":[{text}]}}'


# -- evaluation -------------------------------------------------------------------------------------


@pytest.fixture
def org() -> SalesforceEmulator:
    clock = SandboxClock()
    emulator = SalesforceEmulator(SCHEMA, clock=clock)
    project = emulator.create_record("Project__c", {"Name": "P"})
    now = clock.now()
    rows = [
        {
            "Amount__c": 10,
            "Status__c": "Paid",
            "Paid_At__c": (now - timedelta(days=3)).isoformat(),
            "Urgent__c": True,
        },
        {"Amount__c": "20.5", "Status__c": "Draft", "Due__c": now.date().isoformat()},
        {"Amount__c": None, "Status__c": None, "Paid_At__c": now.isoformat(), "Project__c": project},
    ]
    for i, row in enumerate(rows):
        emulator.create_record("Payment__c", {"Name": f"pay {i}", **row})
    return emulator


def names(org: SalesforceEmulator, where: str, order: str = "Name") -> list[str]:
    soql = f"SELECT Name FROM Payment__c WHERE {where} ORDER BY {order}"  # noqa: S608 - SOQL, not SQL
    return [r["Name"] for r in org.query(soql)["records"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Status__c = 'paid'", ["pay 0"]),  # text compares ignore case
        ("Status__c != 'Paid'", ["pay 1", "pay 2"]),  # != also matches null
        ("Status__c = null", ["pay 2"]),
        ("Amount__c > 10", ["pay 1"]),
        ("Amount__c >= 10 AND Amount__c < 20.5", ["pay 0"]),
        ("Amount__c IN (10, 20.50)", ["pay 0", "pay 1"]),
        ("NOT (Amount__c = 10)", ["pay 1", "pay 2"]),
        ("Name LIKE 'PAY _'", ["pay 0", "pay 1", "pay 2"]),
        ("Name LIKE '%1'", ["pay 1"]),
        ("Urgent__c = TRUE", ["pay 0"]),
        ("Urgent__c = false", ["pay 1", "pay 2"]),
        ("Paid_At__c = TODAY", ["pay 2"]),
        ("Paid_At__c = LAST_N_DAYS:3", ["pay 0", "pay 2"]),
        ("Paid_At__c < YESTERDAY", ["pay 0"]),
        ("Due__c = TODAY", ["pay 1"]),
        ("Due__c = NEXT_N_DAYS:5", []),
        ("Paid_At__c > 2000-01-01T00:00:00Z", ["pay 0", "pay 2"]),
        ("Project__r.Name = 'P'", ["pay 2"]),
        ("Project__c != null", ["pay 2"]),
    ],
)
def test_where_semantics(org: SalesforceEmulator, where: str, expected: list[str]) -> None:
    assert names(org, where) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("Amount__c", ["pay 2", "pay 0", "pay 1"]),  # ascending puts nulls first
        ("Amount__c DESC", ["pay 1", "pay 0", "pay 2"]),  # descending puts nulls last
        ("Amount__c NULLS LAST", ["pay 0", "pay 1", "pay 2"]),
        ("Status__c DESC NULLS FIRST, Name", ["pay 2", "pay 0", "pay 1"]),
    ],
)
def test_order_by(org: SalesforceEmulator, order: str, expected: list[str]) -> None:
    assert names(org, "Name != null", order) == expected


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        (
            "SELECT Nope__c FROM Payment__c",
            "INVALID_FIELD",
            "No such column 'Nope__c' on entity 'Payment__c'",
        ),
        (
            "SELECT Project__x.Name FROM Payment__c",
            "INVALID_FIELD",
            "Didn't understand relationship 'Project__x'",
        ),
        (
            "SELECT Id, (SELECT Id FROM Bills__r) FROM Project__c",
            "INVALID_TYPE",
            "Didn't understand relationship 'Bills__r'",
        ),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE", "sObject type 'Nope__c' is not supported."),
        ("SELECT Id FROM Payment__c WHERE Note__c = 'x'", "INVALID_FIELD", "can not be filtered"),
        (
            "SELECT Id FROM Payment__c WHERE Id = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: abc",
        ),
        (
            "SELECT Id FROM Payment__c WHERE Paid_At__c > 2026-01-01",
            "MALFORMED_QUERY",
            "must be of type dateTime",
        ),
        ("SELECT Id FROM Payment__c WHERE Urgent__c > true", "INVALID_QUERY_FILTER_OPERATOR", "boolean"),
        ("SELECT Id, Id FROM Payment__c", "MALFORMED_QUERY", "duplicate field selected: Id"),
        (
            "SELECT COUNT(Id), Name FROM Payment__c",
            "MALFORMED_QUERY",
            "Field must be grouped or aggregated: Name",
        ),
        (
            "SELECT Id FROM Payment__c OFFSET 2001",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ),
    ],
)
def test_resolution_errors(org: SalesforceEmulator, soql: str, code: str, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        org.query(soql)
    assert caught.value.code == code
    assert fragment in caught.value.message


def test_limit_offset_and_subquery(org: SalesforceEmulator) -> None:
    assert [r["Name"] for r in org.query("SELECT Name FROM Payment__c ORDER BY Name LIMIT 1 OFFSET 1")["records"]] == [
        "pay 1"
    ]
    project = org.query("SELECT Name, (SELECT Name FROM Payments__r) FROM Project__c")["records"][0]
    assert [r["Name"] for r in project["Payments__r"]["records"]] == ["pay 2"]


@pytest.mark.parametrize(
    ("where", "found"),
    [
        ("Status__c = 'PAID'", 2),
        ("Status__c IN ('draft', 'Paid')", 3),
        ("Status__c = 'Paid' AND Urgent__c = true", 1),
        ("Urgent__c = false", 4),
        ("Urgent__c = true OR Status__c = 'Draft'", 2),
        ("Name = 'kitchen'", 1),  # a stored Kelvin sign: SQLite's lower() does not fold it, Python's does
        ("Name IN ('über', 'ÜBER')", 1),
        ("Name = 'pay 1' AND Status__c = 'Draft'", 1),
        ("Status__c = null", 2),
        ("Project__c != null AND Project__c IN ('{project}', 'a0P000000000001')", 2),
        ("Project__c = '{project15}'", 2),
    ],
)
def test_filters_narrowed_in_sql_find_what_the_engine_alone_finds(
    org: SalesforceEmulator, where: str, found: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store narrows `field = value` on text and checkboxes in SQL before the engine judges each
    # row; that must never drop a row the WHERE clause matches.
    project = org.query("SELECT Id FROM Project__c")["records"][0]["Id"]
    org.create_record("Payment__c", {"Name": "\u212aitchen", "Status__c": "Paid"})
    org.create_record("Payment__c", {"Name": "Über", "Urgent__c": False, "Project__c": project[:15]})
    where = where.format(project=project, project15=project[:15])
    narrowed = names(org, where)
    monkeypatch.setattr("sync.sandbox.salesforce.query_engine._narrowing", lambda _where: [])
    assert narrowed == names(org, where)
    assert len(narrowed) == found

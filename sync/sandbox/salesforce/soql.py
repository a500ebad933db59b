"""SOQL text to an AST: a tokenizer and a recursive-descent parser for the subset the emulator runs.

Anything outside the subset is rejected with MALFORMED_QUERY rather than ignored. Error messages
copy Salesforce's layout: the offending line, a caret, `ERROR at Row:r:Column:c`, then the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from .errors import ApiError

RESERVED = frozenset(
    {
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
        "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "GROUP", "HAVING", "FOR", "WITH", "USING",
        "INCLUDES", "EXCLUDES", "TYPEOF", "UPDATE",
    }
)  # fmt: skip
DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"})
_N_DAY_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})
COMPARISON_OPS = ("=", "!=", "<>", "<=", ">=", "<", ">")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z][A-Za-z0-9_]*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.:\-])
  | (?P<string>')
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    offset: int
    value: object = None
    like: str | None = None  # for strings: a regex honouring \% and \_ as literal characters


@dataclass(frozen=True)
class FieldPath:
    parts: tuple[str, ...]
    offset: int

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class CountCall:
    field: FieldPath | None
    alias: str | None
    offset: int


@dataclass(frozen=True)
class Literal:
    kind: str  # string, number, null, boolean, date, datetime, date_literal
    value: object
    offset: int
    like: str | None = None


@dataclass(frozen=True)
class Comparison:
    field: FieldPath
    op: str  # =, !=, <, <=, >, >=, LIKE, IN, NOT IN
    value: Literal | tuple[Literal, ...] | Query
    offset: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    operand: Condition


Condition = Comparison | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    field: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class SubQuery:
    query: Query
    offset: int


SelectItem = FieldPath | CountCall | SubQuery


@dataclass(frozen=True)
class Query:
    select: tuple[SelectItem, ...]
    sobject: str
    sobject_offset: int
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    text: str


def soql_error(text: str, offset: int, message: str, code: str = "MALFORMED_QUERY") -> ApiError:
    """Build Salesforce's positioned error: the line, a caret, Row:Column (1-based), the reason."""
    offset = max(0, min(offset, len(text)))
    row = text.count("\n", 0, offset) + 1
    line_start = text.rfind("\n", 0, offset) + 1
    line_end = text.find("\n", offset)
    line = text[line_start : len(text) if line_end == -1 else line_end]
    column = offset - line_start + 1
    caret = " " * (column - 1) + "^"
    return ApiError(400, code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}")


def quote_string(value: str) -> str:
    """Quote a value as a SOQL string literal (the inverse of the tokenizer's unescaping)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    for char, name in (("\n", "n"), ("\r", "r"), ("\t", "t"), ("\b", "b"), ("\f", "f"), ('"', '"')):
        escaped = escaped.replace(char, "\\" + name)
    return f"'{escaped}'"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise soql_error(text, pos, f"unexpected token: '{text[pos]}'")
        kind = match.lastgroup or ""
        if kind == "ws":
            pos = match.end()
            continue
        if kind == "string":
            token, pos = _read_string(text, pos)
            tokens.append(token)
            continue
        raw = match.group()
        tokens.append(Token(kind, raw, pos, _token_value(kind, raw)))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


def _token_value(kind: str, raw: str) -> object:
    if kind == "number":
        return Decimal(raw)
    if kind == "date":
        return date.fromisoformat(raw)
    if kind == "datetime":
        normal = raw.replace("Z", "+00:00")
        if normal[-5] in "+-" and normal[-3] != ":":  # +0000 -> +00:00
            normal = normal[:-2] + ":" + normal[-2:]
        return datetime.fromisoformat(normal).astimezone(UTC)
    return None


def _read_string(text: str, start: int) -> tuple[Token, int]:
    value: list[str] = []
    like: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "'":
            return Token("string", text[start : pos + 1], start, "".join(value), "".join(like)), pos + 1
        if char == "\\":
            nxt = text[pos + 1 : pos + 2]
            if nxt in _ESCAPES:
                value.append(_ESCAPES[nxt])
                like.append(re.escape(_ESCAPES[nxt]))
                pos += 2
            elif nxt in ("%", "_"):
                value.append("\\" + nxt)  # only LIKE gives these a meaning; elsewhere they stay as typed
                like.append(re.escape(nxt))
                pos += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2 : pos + 6]):
                decoded = chr(int(text[pos + 2 : pos + 6], 16))
                value.append(decoded)
                like.append(re.escape(decoded))
                pos += 6
            else:
                sequence = text[pos : pos + 2]
                raise soql_error(
                    text, start,
                    f"Invalid string literal '{text[start + 1 : pos + 2]}'. "
                    f"Illegal character sequence '{sequence}' in string literal.",
                )  # fmt: skip
            continue
        value.append(char)
        like.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        pos += 1
    raise soql_error(text, len(text), "unexpected token: '<EOF>'")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tok
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return token

    def error(self, token: Token | None = None) -> ApiError:
        token = token or self.tok
        return soql_error(self.text, token.offset, f"unexpected token: '{token.text}'")

    def is_kw(self, word: str, token: Token | None = None) -> bool:
        token = token or self.tok
        return token.kind == "ident" and token.text.upper() == word

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.error()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if not (self.tok.kind == "punct" and self.tok.text == char):
            raise self.error()
        return self.advance()

    def at_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == char

    def name(self) -> Token:
        if self.tok.kind != "ident" or self.tok.text.upper() in RESERVED:
            raise self.error()
        return self.advance()

    # query := SELECT items FROM name [WHERE cond] [ORDER BY ...] [LIMIT n] [OFFSET n]
    def query(self, *, nested: bool) -> Query:
        self.expect_kw("SELECT")
        select = [self.select_item()]
        while self.at_punct(","):
            self.advance()
            select.append(self.select_item())
        self.expect_kw("FROM")
        sobject = self.name()
        where = order = limit = offset = None
        if self.is_kw("WHERE"):
            self.advance()
            where = self.condition()
        if self.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            order = self.order_by()
        if self.is_kw("LIMIT"):
            self.advance()
            limit = self.integer()
        if self.is_kw("OFFSET"):
            self.advance()
            offset = self.integer()
        if not (nested and self.at_punct(")")) and self.tok.kind != "eof":
            raise self.error()
        # Nested queries keep the whole statement so their errors point into it.
        return Query(tuple(select), sobject.text, sobject.offset, where, tuple(order or ()), limit, offset, self.text)

    def select_item(self) -> SelectItem:
        if self.at_punct("("):
            open_paren = self.advance()
            sub = self.query(nested=True)
            self.expect_punct(")")
            return SubQuery(sub, open_paren.offset)
        if self.is_kw("COUNT") and self.peek().text == "(":
            start = self.advance().offset
            self.advance()
            path = None if self.at_punct(")") else self.path()
            self.expect_punct(")")
            alias = None
            if self.tok.kind == "ident" and self.tok.text.upper() not in RESERVED and path is not None:
                alias = self.advance().text
            return CountCall(path, alias, start)
        return self.path()

    def path(self) -> FieldPath:
        first = self.name()
        parts = [first.text]
        while self.at_punct("."):
            self.advance()
            parts.append(self.name().text)
        if self.at_punct("("):  # functions such as toLabel() or FORMAT() are not supported
            raise self.error()
        return FieldPath(tuple(parts), first.offset)

    def integer(self) -> int:
        token = self.tok
        if token.kind != "number" or "." in token.text:
            raise self.error()
        self.advance()
        return int(token.text)

    # Salesforce refuses `a AND b OR c`: mixing AND and OR needs parentheses.
    def condition(self) -> Condition:
        first = self.unary()
        if not (self.is_kw("AND") or self.is_kw("OR")):
            return first
        op = self.tok.text.upper()
        operands = [first]
        while self.is_kw("AND") or self.is_kw("OR"):
            if self.tok.text.upper() != op:
                raise self.error()
            self.advance()
            operands.append(self.unary())
        return BoolOp(op, tuple(operands))

    def unary(self) -> Condition:
        if self.is_kw("NOT"):
            self.advance()
            return Not(self.unary())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.path()
        token = self.tok
        if token.kind == "op":
            self.advance()
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field, op, self.literal(), token.offset)
        if self.is_kw("LIKE"):
            self.advance()
            value = self.literal()
            if value.kind != "string":
                raise self.error(self.tokens[self.i - 1])
            return Comparison(field, "LIKE", value, token.offset)
        negated = False
        if self.is_kw("NOT") and self.is_kw("IN", self.peek()):
            self.advance()
            negated = True
        if self.is_kw("IN"):
            self.advance()
            return Comparison(field, "NOT IN" if negated else "IN", self.in_values(), token.offset)
        raise self.error()

    def in_values(self) -> tuple[Literal, ...] | Query:
        self.expect_punct("(")
        if self.is_kw("SELECT"):
            sub = self.query(nested=True)
            self.expect_punct(")")
            return sub
        values = [self.literal()]
        while self.at_punct(","):
            self.advance()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        token = self.tok
        if token.kind == "string":
            self.advance()
            return Literal("string", token.value, token.offset, token.like)
        if token.kind == "punct" and token.text == "-" and self.peek().kind == "number":
            self.advance()
            number = self.advance()
            return Literal("number", -Decimal(number.text), token.offset)
        if token.kind in ("number", "date", "datetime"):
            self.advance()
            return Literal(token.kind, token.value, token.offset)
        if token.kind == "ident":
            word = token.text.upper()
            if word == "NULL":
                self.advance()
                return Literal("null", None, token.offset)
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", token.offset)
            if word in DATE_LITERALS:
                self.advance()
                n = None
                if word in _N_DAY_LITERALS:
                    self.expect_punct(":")
                    n = self.integer()
                return Literal("date_literal", (word, n), token.offset)
        raise self.error()

    def order_by(self) -> list[OrderItem]:
        items = [self.order_item()]
        while self.at_punct(","):
            self.advance()
            items.append(self.order_item())
        return items

    def order_item(self) -> OrderItem:
        field = self.path()
        descending = False
        if self.is_kw("ASC") or self.is_kw("DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_first = not descending  # Salesforce's default: nulls first ascending, last descending
        if self.is_kw("NULLS"):
            self.advance()
            if not (self.is_kw("FIRST") or self.is_kw("LAST")):
                raise self.error()
            nulls_first = self.advance().text.upper() == "FIRST"
        return OrderItem(field, descending, nulls_first)


def parse(text: str) -> Query:
    """Parse a SOQL statement; raises ApiError(MALFORMED_QUERY) for anything outside the subset."""
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise parser.error()
    return parser.query(nested=False)

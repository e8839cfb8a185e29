"""The part of the Logs Insights query language our queries use: tokenizer, parser and compiled expressions.

Commands: `fields`, `filter`, `parse FIELD /regex/`, `stats count(*)|min|max ... by`, `sort`, `limit`, `display`.
Expressions: `and or not`, comparisons, `like /re/`, `not like`, `in [...]`, arithmetic, and the functions
`toMillis ceil floor log coalesce ispresent isempty tolower`. `(?<name>...)` groups become Python's `(?P<name>...)`;
a group name must be letters and digits, starting with a letter (the strictest common rule, Java's: the service's
regex flavour is not documented), else the query is malformed.
Semantics modelled (the queries are written to survive both these and two-valued Insights behaviour):
- a missing field is null; comparisons, `like` and `in` on null are unknown, and `and`/`or`/`not` follow
  three-valued logic (a filter keeps only true);
- a string used as a number is converted when it reads as a decimal number, else the comparison is unknown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_TOKEN = re.compile(
    r"""\s*(?:(?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<str>"(?:[^"\\]|\\.)*")|(?P<bt>`[^`]*`)
    |(?P<id>[@A-Za-z_][\w.@]*)|(?P<op>>=|<=|!=|=~|[=<>|,()\[\]+\-*/%^]))""",
    re.X,
)


_GROUP_NAME = re.compile(r"\(\?<([^=!][^>]*)>")


class InsightsSyntaxError(ValueError):
    pass


# -- tokenizer and parser -----------------------------------------------------------------------------------
def _regex(body: str) -> re.Pattern[str]:
    """An Insights `/regex/` body as a Python pattern; a group name other than letters and digits is refused."""
    for name in _GROUP_NAME.findall(body):
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name):
            raise InsightsSyntaxError(f"named group {name!r}: use letters and digits only")
    return re.compile(body.replace("(?<", "(?P<").replace("(?P<=", "(?<=").replace("(?P<!", "(?<!"))


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        while text[pos].isspace():
            pos += 1
        prev = tokens[-1] if tokens else None
        after_parse = len(tokens) >= 2 and tokens[-2] == ("id", "parse")
        if text[pos] == "/" and (prev == ("id", "like") or after_parse):
            end = pos + 1
            while text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            tokens.append(("re", _regex(text[pos + 1 : end])))
            pos = end + 1
            continue
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise InsightsSyntaxError(f"cannot read the query at {text[pos : pos + 30]!r}")
        kind = m.lastgroup or ""
        value: Any = m.group(kind)
        if kind == "num":
            value = float(value) if any(c in value for c in ".eE") else int(value)
        elif kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "bt":
            kind, value = "id", value[1:-1]
        tokens.append((kind, value))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self, offset: int = 0) -> tuple[str, Any]:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", None)

    def take(self, kind: str | None = None, value: Any = None) -> Any:
        tok = self.peek()
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise InsightsSyntaxError(f"expected {value or kind}, got {tok[1]!r}")
        self.i += 1
        return tok[1]

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok[0] == kind and (value is None or tok[1] == value)

    def expr(self) -> tuple:
        left = self.conj()
        while self.at("id", "or"):
            self.take()
            left = ("or", left, self.conj())
        return left

    def conj(self) -> tuple:
        left = self.neg()
        while self.at("id", "and"):
            self.take()
            left = ("and", left, self.neg())
        return left

    def neg(self) -> tuple:
        if self.at("id", "not"):
            self.take()
            return ("not", self.neg())
        return self.compare()

    def compare(self) -> tuple:
        left = self.arith()
        if self.at("op") and self.peek()[1] in ("=", "!=", "<", "<=", ">", ">="):
            return ("cmp", self.take(), left, self.arith())
        if self.at("id", "like") or self.at("op", "=~"):
            self.take()
            return ("like", left, self.take("re"))
        if self.at("id", "not") and self.peek(1) == ("id", "like"):
            self.take(), self.take()
            return ("not", ("like", left, self.take("re")))
        if self.at("id", "in"):
            self.take()
            self.take("op", "[")
            items = [self.arith()]
            while self.at("op", ","):
                self.take()
                items.append(self.arith())
            self.take("op", "]")
            return ("in", left, items)
        return left

    def arith(self, ops: tuple[str, ...] = ("+", "-")) -> tuple:
        sub = (lambda: self.arith(("*", "/", "%"))) if ops == ("+", "-") else self.unary
        left = sub()
        while self.at("op") and self.peek()[1] in ops:
            left = ("math", self.take(), left, sub())
        return left

    def unary(self) -> tuple:
        if self.at("op", "-"):
            self.take()
            return ("math", "-", ("lit", 0), self.unary())
        kind, value = self.peek()
        if kind in ("num", "str"):
            self.take()
            return ("lit", value)
        if self.at("op", "("):
            self.take()
            inner = self.expr()
            self.take("op", ")")
            return inner
        name = self.take("id")
        if not self.at("op", "("):
            return ("field", name)
        self.take()
        args: list[tuple] = []
        while not self.at("op", ")"):
            args.append(("star",) if self.at("op", "*") and self.take() else self.expr())
            if self.at("op", ","):
                self.take()
        self.take("op", ")")
        return ("call", name.lower(), args)

    def aliased_list(self) -> list[tuple[tuple, str]]:
        items = []
        while True:
            expr = self.expr()
            alias = self.take("id") if self.at("id", "as") and self.take() else _name(expr)
            items.append((expr, alias))
            if not self.at("op", ","):
                return items
            self.take()


def _name(expr: tuple) -> str:
    return expr[1] if expr[0] == "field" else repr(expr)


def parse_query(text: str) -> list[tuple[Any, ...]]:  # noqa: C901, PLR0912 - an interpreter dispatches on the query language
    """The query as a list of commands (tuples)."""
    tokens = tokenize(text)
    parts: list[list[tuple[str, Any]]] = [[]]
    for tok in tokens:
        if tok == ("op", "|"):
            parts.append([])
        else:
            parts[-1].append(tok)
    commands: list[tuple[Any, ...]] = []
    for part in parts:
        p = _Parser(part)
        verb = p.take("id").lower()
        if verb == "fields":
            commands.append(("fields", p.aliased_list()))
        elif verb == "display":
            commands.append(("display", [alias for _, alias in p.aliased_list()]))
        elif verb == "filter":
            commands.append(("filter", p.expr()))
        elif verb == "parse":
            commands.append(("parse", p.take("id"), p.take("re")))
        elif verb == "stats":
            aggs = p.aliased_list()
            by = [alias for _, alias in p.aliased_list()] if p.at("id", "by") and p.take() else []
            commands.append(("stats", aggs, by))
        elif verb == "sort":
            commands.append(("sort", p.take("id"), p.take("id") if p.at("id") else "desc"))
        elif verb == "limit":
            commands.append(("limit", p.take("num")))
        else:
            raise InsightsSyntaxError(f"unsupported command {verb!r}")
        if not p.at("end"):
            raise InsightsSyntaxError(f"unexpected {p.peek()[1]!r} after {verb}")
    return commands


# -- evaluator ------------------------------------------------------------------------------------------------
def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    return float(text) if _NUMBER.fullmatch(text) else None


def as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        x: Any
        y: Any
        x, y = a, b
    else:
        x, y = as_number(a), as_number(b)
        if x is None or y is None:
            return None
    return {"=": x == y, "!=": x != y, "<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def _numeric(fn: Callable[[float], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        x = as_number(value)
        return None if x is None else fn(x)

    return apply


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "coalesce": lambda *args: next((a for a in args if a is not None), None),
    "ispresent": lambda value: value is not None,
    "isempty": lambda value: value is None or value == "",
    "tolower": lambda value: None if value is None else str(value).lower(),
    "tomillis": lambda value: value,  # @timestamp is kept as epoch milliseconds
    "log": _numeric(lambda x: math.log(x) if x > 0 else None),
    "ceil": _numeric(lambda x: float(math.ceil(x))),
    "floor": _numeric(lambda x: float(math.floor(x))),
}


def compile_expr(expr: tuple) -> Callable[[dict[str, Any]], Any]:  # noqa: C901, PLR0911 - an interpreter dispatches on the query language
    """The expression as a function of a row; booleans are three-valued (True, False, None = unknown)."""
    kind = expr[0]
    if kind in ("and", "or", "not"):
        return _compile_logic(expr)
    if kind == "lit":
        value = expr[1]
        return lambda row: value
    if kind == "field":
        name = expr[1]
        return lambda row: row.get(name)
    if kind == "cmp":
        op, a, b = expr[1], compile_expr(expr[2]), compile_expr(expr[3])
        return lambda row: _compare(op, a(row), b(row))
    if kind == "like":
        value_of, pattern = compile_expr(expr[1]), expr[2]

        def like(row: dict[str, Any]) -> bool | None:
            v = value_of(row)
            return None if v is None else pattern.search(as_text(v)) is not None

        return like
    if kind == "in":
        value_of, items = compile_expr(expr[1]), [compile_expr(item) for item in expr[2]]

        def member(row: dict[str, Any]) -> Any:
            found = [_compare("=", value_of(row), item(row)) for item in items]
            return True if True in found else (None if None in found else False)

        return member
    if kind == "math":
        op, a, b = expr[1], compile_expr(expr[2]), compile_expr(expr[3])
        return lambda row: _math(op, as_number(a(row)), as_number(b(row)))
    if kind == "call" and expr[1] in _FUNCTIONS:
        fn, args = _FUNCTIONS[expr[1]], [compile_expr(arg) for arg in expr[2]]
        if len(args) == 1:
            only = args[0]
            return lambda row: fn(only(row))
        return lambda row: fn(*(arg(row) for arg in args))
    raise InsightsSyntaxError(f"cannot evaluate {expr[:2]}")


def _compile_logic(expr: tuple) -> Callable[[dict[str, Any]], Any]:
    """and / or / not in three-valued logic, short-circuiting where the answer is already known."""
    if expr[0] == "not":
        inner = compile_expr(expr[1])

        def negate(row: dict[str, Any]) -> bool | None:
            v = inner(row)
            return None if v is None else not v

        return negate
    a, b = compile_expr(expr[1]), compile_expr(expr[2])
    decisive = expr[0] == "or"  # the value that settles the answer: True for or, False for and

    def logic(row: dict[str, Any]) -> Any:
        x = a(row)
        if x is decisive:
            return decisive
        y = b(row)
        if y is decisive:
            return decisive
        return None if x is None or y is None else not decisive

    return logic


def _math(op: str, a: float | None, b: float | None) -> float | None:
    if a is None or b is None or (op in "/%" and b == 0):
        return None
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "%": a % b}[op]

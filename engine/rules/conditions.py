"""Compile rule conditions (text leaves joined by all / any / not) into IR conditions."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable

from engine.rules import ir
from engine.rules.literals import Literal, LiteralError, epoch, parse_literal, units
from engine.rules.never_true import contradiction
from engine.rules.paths import PathError, Ref, Scope, choice_hint, derived, resolve
from engine.rules.yaml_lines import line_of

_VALUE = re.compile(r"^\s*((?:count|sum|min|max|avg)\([^)]*\)|[a-z_][\w.]*(?:\([^)]*\))?)\s*(.*)$", re.S)
_SYMBOL_OPS = ("==", "!=", "<=", ">=", "<", ">")
_WORD_OPS = (
    "not in",
    "in",
    "exists",
    "missing",
    "between",
    "within_next",
    "within",
    "older_than",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "has",
)
_TEXT_TESTS = ("contains", "starts_with", "ends_with", "matches")
_FACTOR = r"([+-]?\d+(?:\.\d+)?)\s*\*\s*"
_OTHER_VALUE = re.compile(
    r"^(?:" + _FACTOR + r")?((?:count|sum|min|max|avg)\([^)]*\)|event\.\w+|table\.\w+\.\w+|"
    r"client\.[a-z_][\w.]*(?:\([^)]*\))?)(?:\s*\*\s*([+-]?\d+(?:\.\d+)?))?$"
)
_WHAT = {
    "number": "a number",
    "money": "money",
    "time": "a date/time",
    "text": "text",
    "bool": "true/false",
    "set": "a list",
}
_NAME = re.compile(r"^[a-z][\w\-]*$")
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


class CondError(ValueError):
    """A condition leaf is wrong (message says how)."""


@dataclass
class CondContext:
    """What compiling one rule's conditions needs: scope, definitions, error sink."""

    scope: Scope
    error: Callable[[int, str], None]
    named: Callable[[str, int], ir.Cond | None] = lambda name, line: None
    file: str = ""
    rule_id: str = "-"


def _split_op(rest: str) -> tuple[str, str]:
    for op in _SYMBOL_OPS:
        if rest.startswith(op):
            return op, rest[len(op) :].strip()
    for op in _WORD_OPS:
        if rest == op or rest.startswith(op + " ") or rest.startswith(op + "["):
            return op, rest[len(op) :].strip()
    if rest.startswith("="):
        raise CondError("use == to compare")
    word = rest.split()[0] if rest.split() else rest
    raise CondError(f"unknown operator {word!r} (operators: ==, !=, <, <=, >, >=, " + ", ".join(_WORD_OPS) + ")")


def _lit(text: str) -> Literal:
    try:
        return parse_literal(text)
    except LiteralError as exc:
        raise CondError(str(exc)) from None


def _operand(ref: Ref, lit: Literal):
    """Convert `lit` to the comparable form of `ref`, or raise a type mismatch."""
    name, kind = ref.value.key, ref.value.kind
    if kind == "number" and ref.unit in ("amount", "money"):
        raise CondError(f"{name} is money: compare it with money like 10 USD, not {lit.describe()}")
    expect = {"number": "number", "text": "text", "time": "time", "bool": "bool"}.get(kind)
    if expect is None:
        raise CondError(f"{name} is a list: test it with has, exists or missing")
    if lit.kind != expect:
        if kind == "text" and lit.kind == "number":
            raise CondError(f'{name} is text, compared with a number (quote it: "{lit.source}")')
        what = {"number": "a number", "text": "text", "time": "a date/time", "bool": "true/false"}
        raise CondError(f"{name} is {what[kind]}, compared with {lit.describe()} {lit.source}")
    if kind == "number":
        return units(lit.value)
    if kind == "time":
        return epoch(lit.value)
    if kind == "text":
        _check_text(ref, lit.value)
    return lit.value


def _check_text(ref: Ref, text: str) -> None:
    if ref.choices and text not in ref.choices:
        raise CondError(f"{text!r} is not a value of {ref.value.key} ({choice_hint(text, ref.choices)})")
    if ref.unit == "country" and not re.fullmatch(r"[A-Z]{2}", text):
        raise CondError(f"{text!r} is not a country code (two capital letters, like GB)")
    if ref.unit == "currency" and not re.fullmatch(r"[A-Z]{3}", text):
        raise CondError(f"{text!r} is not a currency code (three capital letters, like USD)")


def _compare(ref: Ref, op: str, lit: Literal, text: str) -> ir.Cond:
    if ref.unit in ("amount", "money") and lit.kind == "money":
        amount, code = lit.value
        currency = derived(ref, "currency", kind="text")
        return ir.MoneyCompare(ref.value, currency, op, units(amount), code, text)
    if ref.unit in ("amount", "money") and lit.kind == "number":
        raise CondError(
            f"{ref.value.key} is money, compared with a plain number (write the currency: {lit.source} USD)"
        )
    if ref.value.kind == "number" and lit.kind == "money":
        raise CondError(f"{ref.value.key} is a plain number, compared with money {lit.source}")
    operand = _operand(ref, lit)
    if op not in ("==", "!=") and ref.value.kind in ("text", "bool"):
        raise CondError(
            f"{ref.value.key} is {'text' if ref.value.kind == 'text' else 'true/false'}: "
            f"only == and != compare it, not {op}"
        )
    return ir.Compare(ref.value, op, operand, text)


def _one_of(ref: Ref, lit: Literal, text: str) -> ir.Cond:
    if lit.kind != "list" or not lit.value:
        raise CondError("`in` needs a list like [a, b]")
    if ref.unit in ("amount", "money"):
        return ir.Any(tuple(_compare(ref, "==", item, text) for item in lit.value))
    if ref.value.kind == "bool":
        raise CondError(f"{ref.value.key} is true/false: use == instead of in")
    return ir.OneOf(ref.value, tuple(_operand(ref, item) for item in lit.value), text)


def _between(ref: Ref, rest: str, text: str) -> ir.Cond:
    low, sep, high = rest.partition(" and ")
    if not sep:
        raise CondError("write `between LOW and HIGH`")
    return ir.All((_compare(ref, ">=", _lit(low), text), _compare(ref, "<=", _lit(high), text)))


def _age(ref: Ref, op: str, rest: str, text: str) -> ir.Cond:
    lit = _lit(rest)
    if ref.value.kind != "time" or lit.kind != "duration":
        raise CondError(f"`{op}` needs a date/time value and a duration like 30d")
    age = derived(ref, "age", kind="number")
    if op == "within_next":  # from now to D ahead, both ends included (age is negative ahead)
        return ir.All((ir.Compare(age, "<=", 0, text), ir.Compare(age, ">=", -int(str(lit.value)), text)))
    return ir.Compare(age, "<=" if op == "within" else ">", lit.value, text)


def _flag(ref: Ref, op: str, rest: str, text: str) -> ir.Cond:
    lit = _lit(rest)
    if lit.kind != "text":
        raise CondError(f"`{op}` needs text (quote it), not {lit.describe()}")
    if op == "has":
        if ref.value.kind != "set":
            raise CondError(f"`has` tests a list; {ref.value.key} is not one")
    elif ref.value.kind != "text":
        raise CondError(f"`{op}` tests text; {ref.value.key} is not text")
    elif op == "matches":
        try:
            re.compile(lit.value)
        except re.error as exc:
            raise CondError(f"bad pattern {lit.source}: {exc}") from None
    return ir.Compare(derived(ref, op, lit.value), "==", True, text)


def compile_leaf(text: str, line: int, ctx: CondContext) -> ir.Cond | None:
    """Compile one condition written as text; report errors through ctx."""
    text = " ".join(text.split())
    if _NAME.match(text) and "." not in text:
        return ctx.named(text, line)
    try:
        m = _VALUE.match(text)
        if not m:
            raise CondError(f"cannot read condition {text!r}: start with event., client. or count(")
        ref = resolve(m[1], ctx.scope)
        op, rest = _split_op(m[2].strip())
        cond = _build(ref, op, rest, text, ctx.scope)
    except (CondError, PathError) as exc:
        ctx.error(line, str(exc))
        return None
    return cond


def _is_value(text: str, scope: Scope) -> bool:
    """Whether `text` names a value (`client.registered` may also be text: an event type)."""
    try:
        resolve(text, scope)
    except PathError:
        return not (text.startswith("client.") and "(" not in text)
    return True


def _relation_kind(ref: Ref) -> str:
    return "money" if ref.unit in ("amount", "money") else ref.value.kind


def _relation(left: Ref, op: str, m: re.Match, scope: Scope, text: str) -> ir.Cond:
    """Compile `value op [N *] value [* N]`: two values of one kind, compared by the reader."""
    right = resolve(m[2], scope)
    factor_text = m[1] or m[3]
    lkind, rkind = _relation_kind(left), _relation_kind(right)
    if lkind != rkind:
        raise CondError(
            f"{left.value.key} is {_WHAT[lkind]}, compared with {right.value.key}, "
            f"which is {_WHAT[rkind]}" + (" (money compares with money only)" if "money" in (lkind, rkind) else "")
        )
    if lkind == "set":
        raise CondError(f"{left.value.key} is a list: test it with has, exists or missing")
    if lkind in ("text", "bool") and op not in ("==", "!="):
        raise CondError(f"{left.value.key} is {_WHAT[lkind]}: only == and != compare it, not {op}")
    if factor_text and lkind not in ("number", "money"):
        raise CondError(f"{right.value.key} is {_WHAT[rkind]}: only numbers and money can be multiplied")
    factor = units(_lit(factor_text).value) if factor_text else units(Decimal(1))
    relation = ir.Relation(left.value, "==" if op == "!=" else op, right.value, factor, lkind)
    digest = hashlib.sha256(repr(relation).encode()).hexdigest()[:16]
    value = ir.Value(f"relation:{digest}", "relation", "", "bool", "relation", relation=relation)
    cond = ir.Compare(value, "==", True, text)
    return ir.Not(cond) if op == "!=" else cond


def _build(ref: Ref, op: str, rest: str, text: str, scope: Scope | None = None) -> ir.Cond:
    if op in ("exists", "missing"):
        if rest:
            raise CondError(f"`{op}` takes no value")
        return ir.Exists(ref.value, text) if op == "exists" else ir.Not(ir.Exists(ref.value, text))
    if op in _SYMBOL_OPS:
        other = _OTHER_VALUE.match(rest) if ref.value.key != "event.type" else None
        if other and scope is not None and _is_value(other[2], scope):
            return _relation(ref, op, other, scope, text)
        return _compare(ref, op, _lit(rest), text)
    if op in ("in", "not in"):
        cond = _one_of(ref, _lit(rest), text)
        return cond if op == "in" else ir.Not(cond)
    if op == "between":
        return _between(ref, rest, text)
    if op in ("within", "within_next", "older_than"):
        return _age(ref, op, rest, text)
    return _flag(ref, op, rest, text)


def _values(cond: ir.Cond):
    if isinstance(cond, (ir.All, ir.Any)):
        for item in cond.items:
            yield from _values(item)
    elif isinstance(cond, ir.Not):
        yield from _values(cond.item)
    elif isinstance(cond, ir.MoneyCompare):
        yield from (cond.value, cond.currency)
    else:
        yield cond.value
        if cond.value.relation is not None:  # the two values compared: loaded and shown
            yield from (cond.value.relation.left, cond.value.relation.right)


def compile_condition(node, line: int, ctx: CondContext, *, of_any: bool = False) -> ir.Cond | None:
    """Compile a condition: text, a list (all of; `of_any`: the list of an `any:`), or
    {all|any|not: ...}. An `all` that can never hold is an error."""
    if isinstance(node, str):
        return _possible([(line, compile_leaf(node, line, ctx))], ctx)
    if isinstance(node, list):
        lines = [line_of(node, i, line) for i in range(len(node))]
        items = [compile_condition(item, at, ctx) for item, at in zip(node, lines)]
        if None in items:
            return None
        if of_any or len(items) == 1:
            return items[0] if len(items) == 1 else ir.All(tuple(items))
        return _possible(list(zip(lines, items)), ctx)
    if isinstance(node, dict) and len(node) == 1 and next(iter(node)) in ("all", "any", "not"):
        ((key, body),) = node.items()
        inner = compile_condition(body, line_of(node, key, line), ctx, of_any=key == "any")
        if key == "not":
            return None if inner is None else ir.Not(inner)
        if key in ("all", "any"):
            if not isinstance(body, list):
                ctx.error(line_of(node, key, line), f"`{key}:` takes a list of conditions")
                return None
            parts = inner.items if isinstance(inner, ir.All) and len(body) > 1 else (inner,)
            return None if inner is None else (ir.All(parts) if key == "all" else ir.Any(parts))
    return _bad_node(node, line, ctx)


def _possible(parts: list, ctx: CondContext) -> ir.Cond | None:
    """Return the `all` of `parts` ([(line, cond)]), or report it and return None when it
    can never hold (contradictory tests of one value)."""
    if any(cond is None for _, cond in parts):
        return None
    found = contradiction(parts)
    if found is not None:
        ctx.error(*found)
        return None
    return parts[0][1] if len(parts) == 1 else ir.All(tuple(cond for _, cond in parts))


def _bad_node(node, line: int, ctx: CondContext) -> None:
    if isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        ctx.error(
            line,
            f"a condition must be text; YAML read `{key}: ...` as a key and value "
            "(put the condition in quotes, or use all:/any:/not:)",
        )
    elif isinstance(node, dict):
        ctx.error(line, f"a condition block has one key (all, any or not), not {sorted(map(str, node))}")
    else:
        ctx.error(line, f"a condition must be text, not {node!r}")
    return None


def negate_op(op: str) -> str:
    """Return the comparison that is true exactly when `op` is false (on present values)."""
    return _NEGATE[op]


def values_of(cond: ir.Cond) -> frozenset:
    """Return every Value a condition reads (a decision table's output: its inputs too)."""
    return with_table_inputs(_values(cond))


def with_table_inputs(values) -> frozenset:
    """Return `values` and what the decision tables among them read (loaded and shown)."""
    found = set(values)
    for table in {v.table for v in found if v.table is not None}:
        # A list input (`client.accounts.types`) is read only through its cells' tests (`has pro`).
        found.update(v for v in table.inputs if v.kind != "set")
        for row in table.rows:
            found.update(_values(row.when))
    return frozenset(found)

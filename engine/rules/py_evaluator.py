"""The reference evaluator: a direct reading of the IR over a dict of comparable values."""

from __future__ import annotations

import operator
from decimal import Decimal
from typing import Mapping

from engine.rules import ir

_ABSENT = object()
_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def holds(cond: ir.Cond, values: Mapping) -> bool:
    """Return whether `cond` is true; a comparison on an absent value is false."""
    if isinstance(cond, ir.All):
        return all(holds(c, values) for c in cond.items)
    if isinstance(cond, ir.Any):
        return any(holds(c, values) for c in cond.items)
    if isinstance(cond, ir.Not):
        return not holds(cond.item, values)
    if isinstance(cond, ir.Exists):
        return cond.value.key in values
    if isinstance(cond, ir.OneOf):
        return values.get(cond.value.key, _ABSENT) in cond.options
    if cond.op == "!=":  # "is not": the negation of ==, so true for a missing value too
        return not holds(ir.replace(cond, op="=="), values)
    if cond.value.key not in values:
        return False
    actual = values[cond.value.key]
    if isinstance(cond, ir.MoneyCompare):
        return values.get(cond.currency.key) == cond.code and _OPS[cond.op](actual, cond.operand)
    return _OPS[cond.op](actual, cond.operand)


def matching_rules(ruleset: ir.Ruleset, event_type: str, values: Mapping) -> list[str]:
    """Return the ids of the rules for `event_type` whose condition holds, in run order."""
    return [r.id for r in ruleset.rules_for(event_type) if holds(r.condition, values)]


def show(value: ir.Value, values: Mapping) -> str:
    """Format a comparable value for people (units back to decimals, seconds to ages)."""
    if value.key not in values:
        return "missing"
    raw = values[value.key]
    if value.kind == "number" and not value.derive and not isinstance(raw, bool):
        return f"{Decimal(raw).scaleb(-8).normalize():f}"
    if value.derive == "age":
        return f"{raw}s ago"
    return str(raw).lower() if isinstance(raw, bool) else str(raw)


def explain(cond: ir.Cond, values: Mapping) -> list[dict]:
    """Return one entry per condition leaf: its text, the outcome, and the value it read."""
    if isinstance(cond, (ir.All, ir.Any)):
        return [entry for c in cond.items for entry in explain(c, values)]
    if isinstance(cond, ir.Not):
        inner = explain(cond.item, values)
        if isinstance(cond.item, (ir.All, ir.Any, ir.Not)):
            return [dict(entry, text=f"under not: {entry['text']}") for entry in inner]
        result = "false" if inner[0]["result"].startswith("true") else "true"
        return [dict(inner[0], text=f"not ({inner[0]['text']})", result=result)]
    outcome = "true" if holds(cond, values) else "false"
    read = f"{cond.value.key} = {show(cond.value, values)}"
    if cond.value.relation is not None:  # show the two values compared, not the outcome
        pair = (cond.value.relation.left, cond.value.relation.right)
        read = ", ".join(f"{v.key} = {show(v, values)}" for v in pair)
    if isinstance(cond, ir.MoneyCompare):
        currency = values.get(cond.currency.key, "no currency")
        read = f"{cond.value.key} = {show(cond.value, values)} {currency}"
        if cond.value.key in values and currency != cond.code:
            outcome += f" (the amount is in {currency}; this compares {cond.code} amounts only)"
    return [{"text": cond.text or cond.value.key, "result": outcome, "read": read}]

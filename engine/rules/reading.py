"""Flatten an event and client facts into one dict of comparable values.

Keys are `Value.key`s; values are int (units of 10^-8, epoch or age seconds), str
or bool. An absent or None value is left out, which is what "missing" means to
both evaluators. The converters are chosen once per value when a reader is built,
so the per-event path is a loop of plain function calls.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable, Mapping

from engine.rules.errors import RuleRuntimeError
from engine.rules.ir import Relation, Value
from engine.rules.paths import base_key
from engine.values import Money, parse_datetime

_SCALE = 100_000_000
_INT64 = 2**63 - 1


def to_units(raw) -> int:
    """Convert an exact number (int, Decimal, decimal string, Money) to units of 10^-8."""
    kind = type(raw)
    units = None
    if kind is str:  # fast path for plain decimal text: "-12.5" -> int("-1250000000")
        whole, _, frac = raw.partition(".")
        if len(frac) <= 8 and whole[-1:].isdigit() and "_" not in raw:
            try:
                units = int(whole + frac.ljust(8, "0"))
            except ValueError:
                units = None
    elif kind is int:
        units = raw * _SCALE
    if units is None:
        if kind is Money:
            raw = raw.amount
        elif kind is float or kind is bool:
            raise RuleRuntimeError(f"refusing inexact number {raw!r}")
        elif kind is str and "_" in raw:  # Decimal() would read "1_0" as 10
            raise RuleRuntimeError(f"not a decimal number: {raw!r}")
        try:
            scaled = (raw if kind is Decimal else Decimal(raw)).scaleb(8)
            units = int(scaled)
        except (InvalidOperation, ValueError, TypeError):
            raise RuleRuntimeError(f"not a decimal number: {raw!r}") from None
        if units != scaled:
            raise RuleRuntimeError(f"{raw} has more than 8 decimal places")
    if -_INT64 <= units <= _INT64:
        return units
    raise RuleRuntimeError(f"{raw} is too large to compare exactly")


def to_epoch(raw) -> int:
    """Convert an aware datetime (or ISO-8601 text) to whole epoch seconds."""
    if type(raw) is not datetime:
        raw = parse_datetime(raw) if isinstance(raw, str) else raw
    if not isinstance(raw, datetime) or raw.tzinfo is None:
        raise RuleRuntimeError(f"not an aware UTC time: {raw!r}")
    return int(raw.timestamp() // 1)


def _text(raw) -> str:
    if type(raw) is not str:
        raise RuleRuntimeError(f"expected text, got {raw!r}")
    return raw


def _flag(raw) -> bool:
    if type(raw) is not bool:
        raise RuleRuntimeError(f"expected true/false, got {raw!r}")
    return raw


_BASE = {"number": to_units, "time": to_epoch, "text": _text, "bool": _flag}


def _convert(value: Value) -> Callable[[object, int], object]:
    """Return convert(raw, now_epoch) for one value."""
    derive, arg = value.derive, value.arg
    if derive == "age":
        return lambda raw, now: now - to_epoch(raw)
    if derive == "currency":
        if value.source == "event":
            return lambda raw, now: _text(raw)
        return lambda raw, now: _text(raw.currency)
    if derive == "has":
        return lambda raw, now: arg in raw
    if derive == "matches":
        pattern = re.compile(arg, re.IGNORECASE)
        return lambda raw, now: pattern.search(_text(raw)) is not None
    if derive in ("contains", "starts_with", "ends_with"):
        needle = arg.casefold()
        test = {
            "contains": lambda s: needle in s,
            "starts_with": lambda s: s.startswith(needle),
            "ends_with": lambda s: s.endswith(needle),
        }[derive]
        return lambda raw, now: test(_text(raw).casefold())
    base = _BASE[value.kind]
    return lambda raw, now: base(raw)


def _raw(value: Value) -> Callable[[Mapping, Mapping, Mapping], object]:
    """Return fetch(event, data, facts) -> the raw value of an event field or a fact."""
    if value.source != "event":
        key = base_key(value)
        return lambda event, data, facts: facts.get(key)
    if value.path in ("type", "source", "occurred_at"):
        return lambda event, data, facts: event.get(value.path)
    return lambda event, data, facts: data.get(value.path)


def _money(value: Value, raw, data: Mapping) -> tuple[int, object]:
    if type(raw) is Money:
        return to_units(raw.amount), raw.currency
    return to_units(raw), data.get("currency") if value.source == "event" else None


_RELATION_OPS = {"==": int.__eq__, "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__}


def _relation(relation: Relation) -> Callable[[Mapping, Mapping, Mapping], object]:
    """Return compare(event, data, facts): True/False, or None when either value is missing.

    Numbers and money compare exactly: left * 10^8 against right * factor (both in units of
    10^-8). Money compares only in one currency: two currencies make it false.
    """
    left, right, kind = _raw(relation.left), _raw(relation.right), relation.kind
    test = _RELATION_OPS[relation.op]

    def compare(event, data, facts):
        a, b = left(event, data, facts), right(event, data, facts)
        if a is None or b is None:
            return None
        if kind == "money":
            (a, currency_a), (b, currency_b) = _money(relation.left, a, data), _money(relation.right, b, data)
            if currency_a is None or currency_a != currency_b:
                return False
        if kind in ("number", "money"):
            if kind == "number":
                a, b = to_units(a), to_units(b)
            return test(a * _SCALE, b * relation.factor)
        if kind == "time":
            return test(to_epoch(a), to_epoch(b))
        return (_text(a) == _text(b)) if kind == "text" else (_flag(a) == _flag(b))

    return compare


def _source(value: Value) -> str:
    """Return the Python expression that fetches the raw value (None when absent)."""
    if value.source != "event":
        return f"facts.get({base_key(value)!r})"  # derived values read their base fact
    if value.path in ("type", "source", "occurred_at"):
        return f"event.get({value.path!r})"
    if value.derive == "currency":  # an event amount's currency is the sibling field
        return "data.get('currency')"
    return f"data.get({value.path!r})"


_INLINE = {
    ("number", ""): "to_units(v)",
    ("time", ""): "to_epoch(v)",
    ("text", ""): "v if type(v) is str else _text(v)",
    ("bool", ""): "v if type(v) is bool else _flag(v)",
    ("number", "age"): "now - to_epoch(v)",
}


def build_reader(
    values: Iterable[Value], prefix: Mapping[str, str] | None = None
) -> Callable[[Mapping, Mapping, int], dict]:
    """Return read(event, facts, now_epoch) -> {value key: comparable value}.

    The reader is generated as one straight-line function: it runs for every event
    and a loop over closures cost more than durable-rules matching itself. `prefix`
    holds constant entries the result starts with (the matcher's event type and ids).
    """
    namespace = {
        "to_units": to_units,
        "to_epoch": to_epoch,
        "_text": _text,
        "_flag": _flag,
        "RuleRuntimeError": RuleRuntimeError,
    }
    body = []
    for i, value in enumerate(sorted(set(values), key=lambda v: v.key)):
        convert = _INLINE.get((value.kind, value.derive))
        if value.relation is not None:
            namespace[f"relation{i}"] = _relation(value.relation)
            body += [
                f"        k = {value.key!r}",
                f"        v = relation{i}(event, data, facts)",
                "        if v is not None:",
                "            out[k] = v",
            ]
            continue
        if convert is None or (value.derive == "currency" and value.source != "event"):
            namespace[f"convert{i}"] = _convert(value)
            convert = f"convert{i}(v, now)"
        body += [
            f"        k = {value.key!r}",
            f"        v = {_source(value)}",
            "        if v is not None:",
            f"            out[k] = {convert}",
        ]
    source = "\n".join(
        [
            "def read(event, facts, now):",
            "    data = event.get('data') or {}",
            f"    out = {dict(prefix or {})!r}",
            "    k = None",
            "    try:",
            *(body or ["        pass"]),
            "    except RuleRuntimeError as exc:",
            "        raise RuleRuntimeError(f'{k}: {exc}') from None",
            "    return out",
        ]
    )
    exec(compile(source, "<rule reader>", "exec"), namespace)  # noqa: S102 - keys are repr()-quoted
    return namespace["read"]

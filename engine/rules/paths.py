"""Resolve the value paths a rule names (`event.amount`, `client.kyc.status`, `count(...)`)."""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Mapping

from engine.rules.ir import Aggregate, Filter, Table, Value
from engine.rules.literals import LiteralError, parse_literal, units
from engine.subjects import noun

# Envelope fields every event has, next to its `data` fields.
ENVELOPE = {"type": "string", "source": "string", "occurred_at": "datetime"}
COMPARABLE = {
    "string": "text",
    "enum": "text",
    "country": "text",
    "currency": "text",
    "decimal": "number",
    "integer": "number",
    "amount": "number",
    "money": "number",
    "datetime": "time",
    "boolean": "bool",
    "list": "set",
    "object": "set",
}
_COUNT = re.compile(r"^count\(\s*([a-z_][\w.]*)\s*(?:within\s+(\S+)\s*)?\)$")
_AGGREGATE = re.compile(
    r"^(count|sum|min|max|avg)\(\s*([a-z_][\w.]*)\s*(?:within\s+(\S+)\s*)?"
    r"(?:where\s+(.*?)\s*)?\)$",
    re.S,
)
_FILTER = re.compile(r"^([a-z_]\w*)\s*(==|!=|<=|>=|<|>|not in\b|in\b)\s*(.+)$")
AGGREGATE_FUNCTIONS = ("count", "sum", "min", "max", "avg")
_NUMBER_FIELDS = ("decimal", "integer", "amount")
_TEXT_FIELDS = ("string", "enum", "country", "currency")
_FACT = re.compile(r"^client\.([a-z_][\w.]*?)(?:\((.*)\))?$")
_EVENT = re.compile(r"^event\.([a-z_]\w*)$")
_SUBJECT_FACT = re.compile(r"^([a-z]+)\.([a-z_][\w.]*?)(?:\((.*)\))?$")  # staff.role: another subject's fact
_TABLE = re.compile(r"^table\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)$")
_SAFE_ARG = re.compile(r"^[\w.\-@]*$", re.ASCII)


_PARAM_LITERALS = {
    "duration": ("duration", "a duration like 60s or 7d"),
    "decimal": ("number", "a number"),
    "integer": ("number", "a whole number"),
    "datetime": ("time", "a date/time"),
}


class PathError(ValueError):
    """A value path does not exist or is malformed."""


@dataclass(frozen=True)
class Ref:
    value: Value
    unit: str  # catalogue/fact kind: amount, money, decimal, enum, ...
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    events: tuple[str, ...]  # event types the rule reacts to
    catalogue: Mapping
    facts: Mapping
    tables: Mapping = field(default_factory=dict)  # decision tables of definitions: name -> ir.Table (None: broken)
    # What the rule is about: "client", or another kind of subject (engine.subjects), whose
    # facts are `subject_facts[kind]` and read as `<kind>.<fact>`.
    subject: str = "client"
    subject_facts: Mapping = field(default_factory=dict)


def choice_hint(text: str, choices) -> str:
    """`did you mean X? one of: ...` for a value that is not one of `choices`."""
    close = difflib.get_close_matches(text, list(choices), n=1)
    return (f"did you mean {close[0]}? " if close else "") + f"one of: {', '.join(choices)}"


def _event_field(name: str, scope: Scope) -> Ref:
    if name in ENVELOPE:
        # the type of the triggering event is one of the rule's `when:` types: another one
        # would make the test never (==, in) or always (!=) hold
        kind, choices = ENVELOPE[name], (tuple(scope.events) if name == "type" else ())
    else:
        types = scope.events or tuple(scope.catalogue)  # no types: any event that has it
        found = {t: scope.catalogue[t].fields.get(name) for t in types}
        absent = sorted(t for t, fld in found.items() if fld is None)
        if not scope.events:
            found = {t: fld for t, fld in found.items() if fld is not None}
            absent = [] if found else ["any event type"]
        if absent:
            raise PathError(f"event.{name} is not a field of {', '.join(absent)}")
        kinds = {fld.kind for fld in found.values()}
        if len(kinds) > 1:
            raise PathError(f"event.{name} has different kinds in these events: {sorted(kinds)}")
        kind = kinds.pop()
        choices = tuple(sorted({c for fld in found.values() for c in fld.choices}))
    return Ref(Value(f"event.{name}", "event", name, COMPARABLE[kind], unit=kind), kind, choices)


def _params(text: str, spec) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, raw = part.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or name not in spec.params:
            known = ", ".join(sorted(spec.params)) or "none"
            raise PathError(f"client.{spec.name} has no parameter {name!r} (parameters: {known})")
        try:
            lit = parse_literal(raw)
        except LiteralError as exc:
            raise PathError(f"parameter {name}: {exc}") from None
        want = _PARAM_LITERALS.get(spec.params[name])
        if want and lit.kind != want[0]:
            raise PathError(f"parameter {name} must be {want[1]}, not {raw!r}")
        if spec.params[name] == "currency" and not re.fullmatch(r"[A-Z]{3}", raw):
            raise PathError(f"parameter {name} must be a currency code like USD, not {raw!r}")
        pairs.append((name, raw))
    return tuple(sorted(pairs))


def _fact(name: str, params: str | None, scope: Scope, subject: str = "client") -> Ref:
    if subject != scope.subject:
        raise PathError(_wrong_subject(f"{subject}.{name}", subject, scope))
    facts = scope.facts if subject == "client" else scope.subject_facts[subject]
    spec = facts.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(facts), n=1)
        hint = f" (did you mean {subject}.{close[0]}?)" if close else ""
        raise PathError(f"{subject}.{name} is not a known {noun(subject)} fact{hint}")
    pairs = _params(params, spec) if params else ()
    value = Value(_fact_key(name, pairs, subject), subject, name, COMPARABLE[spec.kind], params=pairs, unit=spec.kind)
    return Ref(value, spec.kind, tuple(spec.choices))


def _wrong_subject(text: str, subject: str, scope: Scope) -> str:
    """Say why a value of one kind of subject cannot be read by a rule about another."""
    theirs, ours = noun(subject), noun(scope.subject)
    about = f" (its events: {', '.join(scope.events)})" if scope.events else ""
    return f"{text} is about a {theirs}, but this rule is about a {ours}{about}"


def _fact_key(name: str, pairs, subject: str = "client") -> str:
    shown = ", ".join(f"{k}={v}" for k, v in pairs)
    return f"{subject}.{name}({shown})" if pairs else f"{subject}.{name}"


def base_key(value: Value) -> str:
    """Return the key of the value a derived value is computed from."""
    if value.source not in ("event", "count", "table", "relation"):  # a fact of a client (or another subject)
        return _fact_key(value.path, value.params, value.source)
    if value.source == "count":
        return value.key if not value.derive else value.key.rsplit(":" + value.derive, 1)[0]
    if value.source == "table":
        return f"table.{value.path}"
    return f"event.{value.path}"


def _table(name: str, column: str, scope: Scope) -> Ref:
    """Resolve `table.NAME.COLUMN`: an output of a decision table of definitions.tables."""
    table: Table | None = scope.tables.get(name)
    if table is None and name in scope.tables:  # defined, but it did not compile
        raise PathError(f"table.{name}: table {name} has errors (see its definition)")
    if table is None:
        close = difflib.get_close_matches(name, list(scope.tables), n=1)
        hint = (
            f" (did you mean {close[0]}?)"
            if close
            else (
                f" (tables: {', '.join(sorted(scope.tables))})" if scope.tables else " (definitions define no tables:)"
            )
        )
        raise PathError(f"table.{name}: unknown decision table {name!r}{hint}")
    units = dict(table.outputs)
    if column not in units:
        raise PathError(
            f"table.{name}.{column}: {column!r} is not an output of table {name} (outputs: {', '.join(units)})"
        )
    unit = units[column] if table.hit == "first" else "list"
    return Ref(
        Value(f"table.{name}.{column}", "table", f"{name}.{column}", COMPARABLE[unit], unit=unit, table=table), unit
    )


def _same_subject(fn: str, event_type: str, scope: Scope) -> None:
    """An aggregate counts the subject's own events: another kind's would always be none."""
    subject = getattr(scope.catalogue[event_type], "subject", "client")
    if subject != scope.subject:
        raise PathError(_wrong_subject(f"{fn}() of {event_type}", subject, scope))


def _count(event_type: str, window: str | None, scope: Scope) -> Ref:
    if event_type not in scope.catalogue:
        raise PathError(f"count() of unknown event type {event_type}")
    _same_subject("count", event_type, scope)
    seconds = None
    if window:
        lit = _literal(window)
        if lit.kind != "duration":
            raise PathError(f"count() window must be a duration like 1h or 7d, not {window!r}")
        seconds = lit.value
    key = f"count({event_type} within {seconds}s)" if window else f"count({event_type})"
    spec = Aggregate("count", event_type, "", seconds)
    return Ref(Value(key, "count", event_type, "number", window=seconds, unit="integer", aggregate=spec), "integer")


def _aggregate(fn: str, target: str, window: str | None, where: str | None, scope: Scope) -> Ref:
    """Resolve `fn(type[.field] within D where ...)` (an aggregate over the client's events)."""
    event_type, field = (target, "") if fn == "count" else _split_target(fn, target, scope)
    if event_type not in scope.catalogue:
        raise PathError(f"{fn}() of unknown event type {event_type}")
    _same_subject(fn, event_type, scope)
    seconds = _window(fn, window)
    filters = tuple(_filter(fn, event_type, part, scope) for part in _and_parts(where)) if where else ()
    kind = scope.catalogue[event_type].fields[field].kind if field else "integer"
    pinned = sorted(
        {f.currency for f in filters if f.currency}
        | {str(f.operand) for f in filters if f.field == "currency" and f.op == "=="}
    )
    if len(pinned) > 1:
        raise PathError(f"{fn}() filters name two currencies ({', '.join(pinned)}): no event has both")
    currency = pinned[0] if pinned else ""
    if kind == "amount" and not currency:
        raise PathError(
            f"{fn}() of {event_type}.{field} adds up amounts in any currency: name one with `where currency == USD`"
        )
    spec = Aggregate(fn, event_type, field, seconds, filters, currency if kind == "amount" else "")
    if fn == "count" and not filters:
        key = f"count({event_type} within {seconds}s)" if window else f"count({event_type})"
    else:
        key = _aggregate_key(spec, window, where)
    unit = {"integer": "integer", "amount": "money"}.get(kind, "decimal")
    if fn == "count":
        unit = "integer"
    return Ref(Value(key, "count", event_type, "number", window=seconds, unit=unit, aggregate=spec), unit)


def _split_target(fn: str, target: str, scope: Scope) -> tuple[str, str]:
    event_type, _, field = target.rpartition(".")
    if target in scope.catalogue or not event_type:
        raise PathError(f"{fn}() needs a field: write {fn}({target}.<field> within 7d)")
    if event_type not in scope.catalogue:
        raise PathError(f"{fn}() of unknown event type {event_type}")
    found = scope.catalogue[event_type].fields.get(field)
    if found is None:
        raise PathError(f"{fn}(): {field} is not a field of {event_type}")
    if found.kind not in _NUMBER_FIELDS:
        raise PathError(f"{fn}(): {event_type}.{field} is not a number or an amount")
    return event_type, field


def _window(fn: str, window: str | None) -> int | None:
    if not window:
        return None
    lit = _literal(window)
    if lit.kind != "duration":
        raise PathError(f"{fn}() window must be a duration like 1h or 7d, not {window!r}")
    return int(str(lit.value))


def _and_parts(where: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"\s+and\s+", where)]
    if not all(parts):
        raise PathError("write `where FIELD OP VALUE and FIELD OP VALUE`")
    return parts


def _filter(fn: str, event_type: str, text: str, scope: Scope) -> Filter:
    m = _FILTER.match(text)
    if not m:
        raise PathError(f"{fn}(): cannot read the filter {text!r} (write FIELD OP VALUE, like amount >= 1000 USD)")
    name, op, raw = m[1], m[2], m[3].strip()
    found = scope.catalogue[event_type].fields.get(name)
    if found is None:
        raise PathError(f"{fn}(): {name} is not a field of {event_type}")
    lit = _literal(raw)
    if op in ("in", "not in"):
        if lit.kind != "list" or not lit.value:
            raise PathError(f"{fn}(): `{op}` needs a list like [a, b]")
        items = tuple(_filter_operand(fn, name, found, "==", item) for item in lit.value)
        if any(currency for _, currency in items):
            raise PathError(f"{fn}(): compare {name} with one amount, not a list")
        return Filter(name, _filter_kind(found), op, tuple(v for v, _ in items))
    operand, currency = _filter_operand(fn, name, found, op, lit)
    return Filter(name, _filter_kind(found), op, operand, currency)


def _filter_kind(found) -> str:
    return "number" if found.kind in _NUMBER_FIELDS else "text"


def _filter_operand(fn: str, name: str, found, op: str, lit) -> tuple[object, str]:
    """Return (comparable operand, currency of a money operand or "")."""
    if found.kind == "amount":
        if lit.kind != "money":
            raise PathError(
                f"{fn}(): {name} is money, compared with {lit.describe()} (write the currency: {lit.source} USD)"
            )
        if op == "!=":
            raise PathError(f"{fn}(): {name} != money is not supported (use < or >)")
        return units(lit.value[0]), lit.value[1]
    if found.kind in _NUMBER_FIELDS:
        if lit.kind != "number":
            raise PathError(f"{fn}(): {name} is a number, compared with {lit.describe()} {lit.source}")
        return units(lit.value), ""
    if found.kind not in _TEXT_FIELDS:
        raise PathError(f"{fn}(): filters compare numbers, amounts and text; {name} is {found.kind}")
    if lit.kind != "text":
        raise PathError(f"{fn}(): {name} is text, compared with {lit.describe()} {lit.source}")
    if op not in ("==", "!="):
        raise PathError(f"{fn}(): {name} is text: only ==, !=, in and not in compare it, not {op}")
    if found.choices and lit.value not in found.choices:
        raise PathError(f"{fn}(): {lit.value!r} is not a value of {name} ({choice_hint(lit.value, found.choices)})")
    return lit.value, ""


def _aggregate_key(spec: Aggregate, written_window: str | None, where: str | None) -> str:
    """Return the aggregate as written (spaces normalised): explanations show it."""
    target = f"{spec.event_type}.{spec.field}" if spec.field else spec.event_type
    window = f" within {written_window}" if written_window else ""
    shown = " where " + " and ".join(_and_parts(where)) if where else ""
    return f"{spec.fn}({target}{window}{shown})"


def _literal(text: str):
    try:
        return parse_literal(text)
    except LiteralError as exc:
        raise PathError(str(exc)) from None


def resolve(text: str, scope: Scope) -> Ref:
    """Resolve a value path to a Ref, or raise PathError saying why not."""
    text = text.strip()
    if m := _COUNT.match(text):
        return _count(m[1], m[2], scope)
    if m := _AGGREGATE.match(text):
        return _aggregate(m[1], m[2], m[3], m[4], scope)
    if m := _EVENT.match(text):
        return _event_field(m[1], scope)
    if m := _FACT.match(text):
        return _fact(m[1], m[2], scope)
    if m := _TABLE.match(text):
        if scope.subject != "client":  # a table's inputs are client facts
            raise PathError(_wrong_subject(f"table.{m[1]}.{m[2]}", "client", scope))
        return _table(m[1], m[2], scope)
    if (m := _SUBJECT_FACT.match(text)) and m[1] in scope.subject_facts:
        return _fact(m[2], m[3], scope, m[1])
    if text.startswith("event."):
        raise PathError(f"{text} is not an event field (fields are one name: event.amount)")
    if text.startswith("table."):
        raise PathError(f"{text} is not a table output (write table.<table>.<output>)")
    others = "".join(f"{kind}., " for kind in sorted(scope.subject_facts))
    raise PathError(f"{text!r} is not a value: start with event., client., {others}table. or count(")


def derived(ref: Ref, derive: str, arg: str = "", kind: str = "bool") -> Value:
    """Return the value `derive` computes from `ref` (a currency, an age, a text test)."""
    base = ref.value
    # Keys go into durable-rules JSON as field names: keep them to plain characters.
    tag = arg if _SAFE_ARG.match(arg) else "x" + hashlib.sha256(arg.encode()).hexdigest()[:16]
    key = f"{base.key}:{derive}" + (f":{tag}" if arg else "")
    return Value(
        key,
        base.source,
        base.path,
        kind,
        derive,
        arg,
        base.params,
        base.window,
        ref.unit,
        base.aggregate,
        table=base.table,
    )

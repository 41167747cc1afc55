"""Resolve the value paths a rule names (`event.amount`, `client.kyc.status`, `count(...)`)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Mapping

from engine.rules.ir import Value
from engine.rules.literals import LiteralError, parse_literal

# Envelope fields every event has, next to its `data` fields.
ENVELOPE = {"type": "string", "source": "string", "occurred_at": "datetime"}
COMPARABLE = {"string": "text", "enum": "text", "country": "text", "currency": "text",
              "decimal": "number", "integer": "number", "amount": "number", "money": "number",
              "datetime": "time", "boolean": "bool", "list": "set", "object": "set"}
_COUNT = re.compile(r"^count\(\s*([a-z_][\w.]*)\s*(?:within\s+(\S+)\s*)?\)$")
_FACT = re.compile(r"^client\.([a-z_][\w.]*?)(?:\((.*)\))?$")
_EVENT = re.compile(r"^event\.([a-z_]\w*)$")
_SAFE_ARG = re.compile(r"^[\w.\-@]*$", re.ASCII)


_PARAM_LITERALS = {"duration": ("duration", "a duration like 60s or 7d"),
                   "decimal": ("number", "a number"), "integer": ("number", "a whole number"),
                   "datetime": ("time", "a date/time")}


class PathError(ValueError):
    """A value path does not exist or is malformed."""


@dataclass(frozen=True)
class Ref:
    value: Value
    unit: str                   # catalogue/fact kind: amount, money, decimal, enum, ...
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    events: tuple[str, ...]     # event types the rule reacts to
    catalogue: Mapping
    facts: Mapping


def _event_field(name: str, scope: Scope) -> Ref:
    if name in ENVELOPE:
        kind, choices = ENVELOPE[name], ()
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


def _fact(name: str, params: str | None, scope: Scope) -> Ref:
    spec = scope.facts.get(name)
    if spec is None:
        raise PathError(f"client.{name} is not a known client fact")
    pairs = _params(params, spec) if params else ()
    value = Value(_fact_key(name, pairs), "client", name, COMPARABLE[spec.kind], params=pairs,
                  unit=spec.kind)
    return Ref(value, spec.kind, tuple(spec.choices))


def _fact_key(name: str, pairs) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in pairs)
    return f"client.{name}({shown})" if pairs else f"client.{name}"


def base_key(value: Value) -> str:
    """Return the key of the value a derived value is computed from."""
    if value.source == "client":
        return _fact_key(value.path, value.params)
    if value.source == "count":
        return value.key if not value.derive else value.key.rsplit(":" + value.derive, 1)[0]
    return f"event.{value.path}"


def _count(event_type: str, window: str | None, scope: Scope) -> Ref:
    if event_type not in scope.catalogue:
        raise PathError(f"count() of unknown event type {event_type}")
    seconds = None
    if window:
        lit = _literal(window)
        if lit.kind != "duration":
            raise PathError(f"count() window must be a duration like 1h or 7d, not {window!r}")
        seconds = lit.value
    key = f"count({event_type} within {seconds}s)" if window else f"count({event_type})"
    return Ref(Value(key, "count", event_type, "number", window=seconds, unit="integer"), "integer")


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
    if m := _EVENT.match(text):
        return _event_field(m[1], scope)
    if m := _FACT.match(text):
        return _fact(m[1], m[2], scope)
    if text.startswith("event."):
        raise PathError(f"{text} is not an event field (fields are one name: event.amount)")
    raise PathError(f"{text!r} is not a value: start with event., client. or count(")


def derived(ref: Ref, derive: str, arg: str = "", kind: str = "bool") -> Value:
    """Return the value `derive` computes from `ref` (a currency, an age, a text test)."""
    base = ref.value
    # Keys go into durable-rules JSON as field names: keep them to plain characters.
    tag = arg if _SAFE_ARG.match(arg) else "x" + hashlib.sha256(arg.encode()).hexdigest()[:16]
    key = f"{base.key}:{derive}" + (f":{tag}" if arg else "")
    return Value(key, base.source, base.path, kind, derive, arg, base.params, base.window, ref.unit)

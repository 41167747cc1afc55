"""What one evaluation needs besides matching: loading facts, showing values, explanations."""

from __future__ import annotations

import re
from contextvars import ContextVar
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterable

from sqlalchemy.orm import Session

from engine.currencies import amount_text, stored_decimal_text
from engine.events.models import Event
from engine.facts import load_domain_facts, subject_facts
from engine.rules import aggregates, ir, py_evaluator, tables
from engine.rules.actions import TEMPLATE_FIELD
from engine.rules.errors import RuleRuntimeError
from engine.rules.literals import parse_literal
from engine.rules.paths import base_key
from engine.values import Money, iso

# Fact values that replace the loaders ({"client.kyc.status": "approved", ...}): rule tests
# set them for the whole test, across the sessions the pipeline opens.
FACT_OVERRIDES: ContextVar[dict] = ContextVar("rule_fact_overrides", default={})


def _param(kind: str, text: str):
    if kind == "duration":
        return timedelta(seconds=parse_literal(text).value)
    if kind in ("decimal", "integer"):
        value = parse_literal(text).value
        return int(value) if kind == "integer" else value
    return parse_literal(text).value


def fact_params(spec, value: ir.Value) -> dict:
    """The parameters a fact's loader is given for `value` (`client.trades.lots(within=30d)`)."""
    return {name: _param(spec.params.get(name, "string"), text) for name, text in value.params}


class FactLoader:
    """Load client facts and event counts for one client at one moment, each once.

    `client` may be another kind of subject (engine.subjects): its rules read its facts
    and count its events (stored with its ref) the same way."""

    def __init__(self, session: Session, client, at: datetime):
        self.session, self.client, self.at = session, client, at
        self.raw: dict[str, object] = {}
        self.overrides = FACT_OVERRIDES.get()

    def load(self, values: Iterable[ir.Value]) -> dict:
        """Make sure every client/count value in `values` is loaded; return all raw facts."""
        for value in values:
            if value.source not in ("event", "relation"):  # a relation reads its two values
                key = base_key(value)
                if key not in self.raw:
                    self.raw[key] = self._load(value, key)
        return self.raw

    def _load(self, value: ir.Value, key: str):
        if key in self.overrides:
            return self.overrides[key]
        if value.source == "count":
            return self._count(value)
        if value.source == "table":
            return tables.lookup(value, self)
        registry = load_domain_facts() if value.source == "client" else subject_facts().get(value.source, {})
        spec = registry.get(value.path)
        if spec is None:
            raise RuleRuntimeError(f"{value.source}.{value.path}: no such fact is registered")
        return spec.loader(self.session, self.client, **fact_params(spec, value))

    def _count(self, value: ir.Value):
        spec = value.aggregate or ir.Aggregate("count", value.path, "", value.window)
        return aggregates.compute(self.session, self.client.ref, spec, self.at)


def display(raw) -> object:
    """Return a raw value as people read it (and as JSON can hold it)."""
    if raw is None:
        return None
    if isinstance(raw, Money):
        return f"{amount_text(raw.amount, raw.currency)} {raw.currency}"
    if isinstance(raw, datetime):
        return iso(raw)
    if isinstance(raw, Decimal):
        return stored_decimal_text(raw)
    if isinstance(raw, (list, tuple, set)):
        return [display(x) for x in raw]
    return raw if isinstance(raw, (str, int, bool, float, dict)) else str(raw)


def raw_value(value_path: str, event: Event | None, facts: dict):
    """Return the raw value of `event.x` or `client.x` for templates and explanations."""
    if value_path.startswith("event."):
        if event is None:
            return None
        name = value_path[len("event.") :]
        envelope = {"type": event.type, "source": event.source, "occurred_at": event.occurred_at}
        return envelope[name] if name in envelope else (event.data or {}).get(name)
    return facts.get(value_path.split(":", 1)[0])


def render(template: str, event: Event | None, facts: dict) -> str:
    """Fill `{event.x}` and `{client.x}` placeholders (a missing value shows as nothing)."""

    def fill(match: re.Match) -> str:
        shown = display(raw_value(match[1].strip(), event, facts))
        if isinstance(shown, list):
            return ", ".join(map(str, shown))
        return "" if shown is None else str(shown)

    return TEMPLATE_FIELD.sub(fill, template).strip()


def explanation(ruleset: ir.Ruleset, rule: ir.Rule, events: list[Event], values: dict, facts: dict, **extra) -> dict:
    """Return why `rule` acted: rule, version, events, every value read, each condition."""
    trigger = events[0] if events else None
    shown = {
        v.key: _shown(v, trigger, facts)
        for v in sorted(rule.reads, key=lambda v: v.key)
        if not v.derive or v.derive == "age"
    }
    return {
        "rule": rule.id,
        "description": rule.description,
        "ruleset": rule.ruleset,
        "ruleset_version": ruleset.version,
        "events": [e.seq for e in events],
        "event_ids": [f"{e.source}/{e.event_id}" for e in events],
        "facts": shown,
        "conditions": py_evaluator.explain(rule.condition, values),
        **extra,
    }


def _shown(value: ir.Value, event: Event | None, facts: dict):
    if value.source == "count":
        return display(facts.get(base_key(value)))
    if value.source == "event" and value.unit == "amount" and event is not None:
        amount = (event.data or {}).get(value.path)
        currency = (event.data or {}).get("currency")
        return None if amount is None else f"{amount} {currency or ''}".strip()
    raw = raw_value(value.key if value.source == "event" else base_key(value), event, facts)
    return display(raw)

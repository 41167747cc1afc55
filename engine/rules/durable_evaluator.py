"""Match rules with durable-rules: the IR translated to its JSON rule definitions.

Used the way its measured limits allow (docs/rules-engine-notes.md): one session
per evaluator, every fact retracted right after matching so no state outlives an
evaluation, only exact comparable values (ints, str, bool) asserted, negation pushed
to the leaves because durable-rules has no `not`, and every refusal raised.
"""
from __future__ import annotations

import itertools
import json
import threading

import durable_rules_engine as dre

from engine.rules import ir
from engine.rules.conditions import negate_op
from engine.rules.errors import RuleEngineError

_JSON_OPS = {"!=": "$neq", "<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}
_names = itertools.count(1)
TYPE_KEY = "event.type"


def _cmp(key: str, op: str, operand) -> dict:
    return {key: operand} if op == "==" else {_JSON_OPS[op]: {key: operand}}


def _missing(key: str) -> dict:
    return {"$nex": {key: 1}}


def _join(op: str, parts: list):
    """Join parts with $and/$or, folding constants (True/False) away."""
    stop, skip = (False, True) if op == "$and" else (True, False)
    kept = []
    for part in parts:
        if part is stop:
            return stop
        if part is not skip:
            kept.append(part)
    if not kept:
        return skip
    return kept[0] if len(kept) == 1 else {op: kept}


def to_json(cond: ir.Cond, negated: bool = False):
    """Translate a condition to durable-rules JSON (or True/False when constant)."""
    if isinstance(cond, ir.Not):
        return to_json(cond.item, not negated)
    if isinstance(cond, (ir.All, ir.Any)):
        op = "$and" if isinstance(cond, ir.All) != negated else "$or"
        return _join(op, [to_json(c, negated) for c in cond.items])
    key = cond.value.key
    if isinstance(cond, ir.Exists):
        return _missing(key) if negated else {"$ex": {key: 1}}
    if isinstance(cond, ir.OneOf):
        if not negated:
            return _join("$or", [{key: option} for option in cond.options])
        return _join("$or", [_join("$and", [_cmp(key, "!=", o) for o in cond.options]), _missing(key)])
    if isinstance(cond, ir.MoneyCompare):
        currency = cond.currency.key
        if not negated:
            return {"$and": [{currency: cond.code}, _cmp(key, cond.op, cond.operand)]}
        return {"$or": [_cmp(currency, "!=", cond.code), _missing(currency),
                        _cmp(key, negate_op(cond.op), cond.operand), _missing(key)]}
    if not negated:
        return _cmp(key, cond.op, cond.operand)
    return {"$or": [_cmp(key, negate_op(cond.op), cond.operand), _missing(key)]}


def ruleset_json(ruleset: ir.Ruleset) -> dict:
    """Return the durable-rules definitions: one rule per IR rule that can ever match."""
    definitions = {}
    for rule in ruleset.rules:
        body = to_json(rule.condition)
        if body is False:
            continue
        types = _join("$or", [{TYPE_KEY: t} for t in rule.events])
        definitions[rule.id] = {"all": [{"m": types if body is True else {"$and": [types, body]}}]}
    if not definitions:  # durable-rules refuses an empty ruleset
        definitions["-never-"] = {"all": [{"m": {TYPE_KEY: "-never-"}}]}
    return definitions


class DurableEvaluator:
    """One durable-rules ruleset and one session for a compiled ruleset."""

    def __init__(self, ruleset: ir.Ruleset):
        self.ruleset = ruleset
        definitions = ruleset_json(ruleset)
        self.name = f"fxcrm{next(_names)}"
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        try:
            self._handle = dre.create_ruleset(self.name, json.dumps(definitions, ensure_ascii=False))
        except dre.error as exc:
            raise RuleEngineError(f"durable-rules refused ruleset {ruleset.version[:12]}: {exc}") from None

    def matching_rules(self, event_type: str, values: dict) -> list[str]:
        """Return the ids of the rules whose condition holds, in run order."""
        fact = dict(values)
        fact[TYPE_KEY], fact["sid"], fact["id"] = event_type, "0", next(self._ids)
        payload = json.dumps(fact, ensure_ascii=False)
        with self._lock:
            fired = self._match(payload)
        return [r.id for r in self.ruleset.rules_for(event_type) if r.id in fired]

    def _match(self, payload: str) -> set[str]:
        try:
            code, state = dre.assert_fact(self._handle, payload)
            if code == 2:
                raise RuleEngineError("durable-rules dropped a fact as already seen")
            fired = set()
            message = dre.start_action_for_state(self._handle, state) if code == 0 else None
            message = message and message[1]
            while message:
                fired.add(message[2:message.index('"', 2)])  # '{"rule-id": {...}}'
                message = dre.complete_and_start_action(self._handle, state)
            dre.retract_fact(self._handle, payload)
        except dre.error as exc:
            raise RuleEngineError(f"durable-rules failed: {exc}") from None
        return fired

    def close(self) -> None:
        """Free the durable-rules ruleset."""
        if self._handle is not None:
            dre.delete_ruleset(self._handle)
            self._handle = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to free into
            pass

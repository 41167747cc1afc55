"""Match rules with durable-rules: the IR translated to its JSON rule definitions.

Used the way its measured limits allow (docs/rules-engine-notes.md): one session
("0") per evaluator and one fact id ("0"), asserted and retracted around every
match, so no state outlives an evaluation and no 32-bit id hash can collide; a
fact left behind would make the next assert come back "already seen", which raises; only exact comparable values (ints, str, bool) asserted, negation pushed
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
FACT_IDS = {"sid": "0", "id": "0"}  # one session, one fact id: see the module docstring


def _refuse(value):
    raise RuleEngineError(f"not a comparable value: {value!r}")


try:  # one compact encoder built once: json.dumps(ensure_ascii=False) builds one per call
    from json.encoder import c_make_encoder, encode_basestring

    _c_encode = c_make_encoder(None, _refuse, encode_basestring, None, ":", ",", False, False, False)

    def _encode(values: dict) -> str:
        return "".join(_c_encode(values, 0))
except ImportError:  # pragma: no cover - CPython always has the C encoder
    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


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
        if isinstance(part, dict) and list(part) == [op]:
            kept.extend(part[op])  # ($and a ($and b c)) is ($and a b c): fewer network nodes
        elif part is not skip:
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
    if cond.op == "!=":  # `!=` is `not ==`: true when missing (durable's $neq is not)
        return to_json(ir.replace(cond, op="=="), not negated)
    if isinstance(cond, ir.MoneyCompare):
        currency = cond.currency.key
        if not negated:
            return {"$and": [{currency: cond.code}, _cmp(key, cond.op, cond.operand)]}
        return {
            "$or": [
                _cmp(currency, "!=", cond.code),
                _missing(currency),
                _cmp(key, negate_op(cond.op), cond.operand),
                _missing(key),
            ]
        }
    if not negated:
        return _cmp(key, cond.op, cond.operand)
    return {"$or": [_cmp(key, negate_op(cond.op), cond.operand), _missing(key)]}


def ruleset_json(ruleset: ir.Ruleset) -> dict:
    """Return the durable-rules definitions: one rule per IR rule that can ever match."""
    definitions = {}
    for rule in ruleset.rules:
        body = to_json(rule.condition)
        if body is False or not rule.events:  # absence and scheduled rules match no event
            continue
        types = _join("$or", [{TYPE_KEY: t} for t in rule.events])
        definitions[rule.id] = {"all": [{"m": types if body is True else _join("$and", [types, body])}]}
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
        try:
            self._handle = dre.create_ruleset(self.name, json.dumps(definitions, ensure_ascii=False))
        except dre.error as exc:
            raise RuleEngineError(f"durable-rules refused ruleset {ruleset.version[:12]}: {exc}") from None

    def matching_rules(self, event_type: str, values: dict) -> list[str]:
        """Return the ids of the rules whose condition holds, in run order.

        `values` gains "event.type" (its true value) and is otherwise left as given.
        """
        values[TYPE_KEY] = event_type
        values.update(FACT_IDS)
        try:
            fired = self.fired(values)
        finally:
            del values["sid"], values["id"]
        return [r.id for r in self.ruleset.rules_for(event_type) if r.id in fired] if fired else []

    def fired(self, fact: dict) -> set[str]:
        """Return the ids of the rules that match `fact` (it holds "event.type", "sid" and "id")."""
        payload = _encode(fact)
        with self._lock:
            return self._match(payload)

    def _match(self, payload: str) -> set[str]:
        fired = set()
        try:
            code, state = dre.assert_fact(self._handle, payload)
            if code == 2:
                raise RuleEngineError("durable-rules dropped a fact as already seen")
            message = dre.start_action_for_state(self._handle, state) if code == 0 else None
            message = message and message[1]
            while message:  # an $or fires once per true branch; the set keeps one per rule
                fired.add(message[2 : message.index('"', 2)])  # '{"rule-id": {...}}'
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

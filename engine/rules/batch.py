"""The set-based form of the rules evaluator: take an event only when the rules do nothing.

`runtime.evaluate_event` for one event: the event hooks (closing rule tasks), cancelling
delay timers whose `unless` holds, arming absence timers, then matching the event's rules
and acting. The set-based path takes an event only when it can tell, exactly and from a
few bulk reads for the whole group, that all of this does nothing but stamp the event
with the active ruleset's version:
- every event hook has a bulk `quiet` check (engine.rules.actions.HOOK_QUIET) that says
  it leaves this client alone;
- the client has no pending delay timer of a rule with `unless` (when the ruleset has any);
- no absence rule is armed by the event's type;
- the same matcher (`loaded.matcher`) matches no rule, on values read from facts known
  for the whole group (engine.facts.BATCH_FACTS, and facts that are columns of the clients
  row no set-based form changes). When a rule reads a fact not known here, its condition
  must be a conjunction with one part, reading only known values, that is false (the
  reference evaluator decides that part, as it does every `unless`); otherwise the
  client's events go to the per-event path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.facts import BATCH_FACTS, load_domain_facts
from engine.projections import BATCH_FORMS
from engine.rules import activation, ir, py_evaluator
from engine.rules.actions import EVENT_HOOKS, HOOK_QUIET, load_domain_actions
from engine.rules.conditions import values_of
from engine.rules.evaluation import FACT_OVERRIDES
from engine.rules.literals import epoch
from engine.rules.models import DELAY, RuleTimer
from engine.rules.paths import base_key


@dataclass
class RulesState:
    loaded: object | None  # activation.Loaded, or None: no active ruleset
    quiet: set[str] = field(default_factory=set)  # clients every hook leaves alone
    facts: dict[str, dict[str, object]] = field(default_factory=dict)  # fact key -> {ref: raw}
    known: frozenset[str] = frozenset()  # fact keys known for the group


def load(session: Session, clients: dict, events: list) -> RulesState:
    loaded = activation.current(session)
    if loaded is None:
        return RulesState(None)
    load_domain_actions()
    refs = sorted({e.client_ref for e in events})
    quiet, ruleset, types = set(refs), loaded.ruleset, sorted({e.type for e in events})
    for hook in EVENT_HOOKS:
        check = HOOK_QUIET.get(hook)
        quiet &= check(session, refs, ruleset, types) if check is not None else set()
    if any(r.unless is not None for r in ruleset.rules) and quiet:
        with_unless = [r.id for r in ruleset.rules if r.unless is not None]
        quiet -= set(
            session.scalars(
                select(RuleTimer.client_ref).where(
                    RuleTimer.client_ref.in_(sorted(quiet)),
                    RuleTimer.kind == DELAY,
                    RuleTimer.status == "pending",
                    RuleTimer.rule_id.in_(with_unless),
                )
            )
        )
    state = RulesState(loaded, quiet)
    _load_facts(session, state, clients, {e.type for e in events}, sorted(quiet))
    return state


def _load_facts(session: Session, state: RulesState, clients: dict, types: set[str], refs: list[str]) -> None:
    """Load, for the quiet clients, the facts the types' rules read that the group can know."""
    specs = load_domain_facts()
    changed = frozenset().union(*(f.client_columns for f in BATCH_FORMS))
    known = set()
    for value in frozenset().union(*(state.loaded.matcher.reads(t) for t in types)):
        if value.source != "client" or value.params:
            continue
        key, spec = base_key(value), specs.get(value.path)
        if key in state.facts or spec is None:
            continue
        if value.path in BATCH_FACTS:
            state.facts[key] = BATCH_FACTS[value.path](session, refs) if refs else {}
        elif spec.column and spec.column not in changed:
            state.facts[key] = {ref: getattr(clients[ref], spec.column) for ref in refs}
        else:
            continue
        known.add(key)
    state.known = frozenset(known)


def accepts(state: RulesState, event, client) -> bool:
    if state.loaded is None:
        return True  # no active ruleset: the evaluator does nothing
    if FACT_OVERRIDES.get() or client.ref not in state.quiet:
        return False
    ruleset, matcher = state.loaded.ruleset, state.loaded.matcher
    if ruleset.absence_rules_for(event.type):
        return False
    rules = ruleset.rules_for(event.type)
    if not rules:
        return True
    from engine.rules.runtime import envelope

    raw, missing = {}, False
    for value in matcher.reads(event.type):
        if value.source in ("event", "relation"):
            continue
        key = base_key(value)
        if key in state.known:
            raw[key] = state.facts[key].get(client.ref)
        else:
            missing = True
    try:
        values = matcher.read(envelope(event), raw, epoch(event.occurred_at))
    except Exception:
        return False  # the per-event path raises on this event, and isolates it
    if not missing:
        return not matcher.match(event.type, values)
    return all(_cannot_match(rule, state.known, values) for rule in rules)


def _known(value: ir.Value, known: frozenset[str]) -> bool:
    if value.source == "event":
        return True
    if value.relation is not None:
        return _known(value.relation.left, known) and _known(value.relation.right, known)
    return value.source == "client" and not value.params and base_key(value) in known


def _cannot_match(rule: ir.Rule, known: frozenset[str], values: dict) -> bool:
    """Whether a part of the rule's `if:` conjunction that reads only known values is false."""
    parts = rule.condition.items if isinstance(rule.condition, ir.All) else (rule.condition,)
    return any(
        all(_known(v, known) for v in values_of(part)) and not py_evaluator.holds(part, values) for part in parts
    )


def apply(state: RulesState, event, client) -> None:
    """What the evaluator leaves on an event it acts on nothing for: the ruleset version
    (written with the processed mark, as on the per-event path)."""
    if state.loaded is not None:
        set_committed_value(event, "ruleset_version", state.loaded.ruleset.version)


def write(session: Session, state: RulesState) -> None:
    """Nothing: the rules acted on nothing."""

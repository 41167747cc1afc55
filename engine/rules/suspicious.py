"""Warnings of `rules check`: rules that are valid but probably not what was meant.

- a delay nothing can cancel: `after:` without `unless:`, or an `unless:` that reads only
  the triggering event (it cannot change while the delay runs);
- a `start_timer` no rule reacts to (`when: timer.fired` with its name), a `cancel_timer`
  of a name no rule starts;
- a loop: a rule whose `emit` (or timer) triggers itself, directly or through other rules;
- two rules that can match the same trigger and conflict: they set one value (a status,
  a risk category) to different values, both do what may happen once (a CPA for one
  commission profile), or one starts the timer the other cancels. Rules whose conditions exclude each other (never_true) do not;
- a fact parameter naming what no action creates (`client.score(name=X)`, no score X).

A warning does not stop a ruleset: activating it needs the warnings accepted.
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from engine.rules import ir
from engine.rules.actions import ActionSpec
from engine.rules.conditions import values_of
from engine.rules.errors import RuleError
from engine.rules.never_true import Domain, compatible, domains, leaves

if TYPE_CHECKING:
    from engine.facts import FactSpec

TIMER_FIRED = "timer.fired"
Rules = Sequence[ir.Rule]  # a ruleset's rules, in file order


def find(
    rules: tuple[ir.Rule, ...], specs: Mapping[str, ActionSpec], facts: Mapping[str, FactSpec] | None = None
) -> list[RuleError]:
    """Return the warnings about `rules` (in file order)."""
    found = [
        *_delays(rules),
        *_timers(rules),
        *_loops(rules),
        *_conflicts(rules, specs),
        *_uncreated(rules, specs, facts or {}),
    ]
    return sorted(set(found))


def _warn(rule: ir.Rule, line: int, message: str) -> RuleError:
    return RuleError(rule.file, line, rule.id, message, "warning")


def _delays(rules: Rules) -> Iterator[RuleError]:
    for rule in rules:
        if rule.after is None:
            continue
        if rule.unless is None:
            yield _warn(
                rule,
                rule.line,
                "after: without unless: nothing cancels the delay, the "
                "actions run when it falls due whatever happened meanwhile "
                "(add unless: with what should cancel it, or drop after:)",
            )
        elif all(v.source == "event" for v in values_of(rule.unless)):
            yield _warn(
                rule,
                rule.line,
                "unless: reads only the triggering event, which does not "
                "change while the delay runs: it cannot cancel it "
                "(test client facts or counts)",
            )


def _uncreated(rules: Rules, specs: Mapping[str, ActionSpec], facts: Mapping[str, FactSpec]) -> Iterator[RuleError]:
    """A fact parameter naming something no action of the ruleset creates (a score no
    rule adds to reads 0 forever): probably a misspelt name."""
    created: dict[str, set[str]] = {}  # kind (score, ...) -> the names actions create
    for rule in rules:
        for action in rule.actions:
            spec = specs.get(action.name)
            for param, kind in spec.creates.items() if spec else ():
                created.setdefault(kind, set()).add(action.param(param))
    for rule in rules:
        for value in sorted(rule.reads | rule.template_reads, key=lambda v: v.key):
            fact = facts.get(value.path) if value.source == "client" else None
            if fact is None:
                continue
            for param, given in value.params:
                named = fact.names.get(param)
                if named and given not in created.get(named, set()):
                    close = difflib.get_close_matches(given, sorted(created.get(named, ())), n=1)
                    hint = f"did you mean {close[0]}?" if close else f"no rule creates any {named}"
                    yield _warn(rule, rule.line, f"{value.key}: no rule's action creates the {named} {given} ({hint})")


def _timer_names(rule: ir.Rule) -> set[object] | None:
    """The timer names a `when: timer.fired` rule reacts to; None: any name."""
    names: set[object] | None = None
    for _, cond in leaves([(0, rule.condition)]):
        if isinstance(cond, ir.Compare) and cond.value.key == "event.name" and cond.op == "==":
            names = {cond.operand} if names is None else names & {cond.operand}
        elif isinstance(cond, ir.OneOf) and cond.value.key == "event.name":
            names = set(cond.options) if names is None else names & set(cond.options)
    return names


def _reacts(rule: ir.Rule, timer: object) -> bool:
    if TIMER_FIRED not in rule.events:
        return False
    names = _timer_names(rule)
    return names is None or timer in names


def _actions(rules: Rules, name: str) -> Iterator[tuple[ir.Rule, ir.Action]]:
    for rule in rules:
        for action in rule.actions:
            if action.name == name:
                yield rule, action


def _timers(rules: Rules) -> Iterator[RuleError]:
    started = {action.param("name") for _, action in _actions(rules, "start_timer")}
    for rule, action in _actions(rules, "start_timer"):
        name = action.param("name")
        if not any(_reacts(other, name) for other in rules):
            yield _warn(
                rule,
                action.line,
                f"start_timer: no rule reacts to timer {name} "
                f"(add a rule `when: timer.fired` with `if: event.name == {name}`)",
            )
    for rule, action in _actions(rules, "cancel_timer"):
        name = action.param("name")
        if name not in started:
            yield _warn(rule, action.line, f"cancel_timer: no rule starts a timer named {name}")


def _triggers(rule: ir.Rule, rules: Rules) -> list[tuple[str, ir.Rule]]:
    """The rules an action of `rule` can trigger, each with what triggers it."""
    found: list[tuple[str, ir.Rule]] = []
    for action in rule.actions:
        if action.name == "emit":
            event_type = action.param("type")
            found += [
                (f"emits {event_type}", other)
                for other in rules
                if event_type in other.events and _accepts(other, dict(action.param("data", ())))
            ]
        elif action.name == "start_timer":
            name = action.param("name")
            found += [(f"starts timer {name}", other) for other in rules if _reacts(other, name)]
    return found


def _accepts(rule: ir.Rule, data: Mapping[str, object]) -> bool:
    """Whether `rule`'s condition may hold for an event with `data`: an emitted literal text
    value its condition excludes (`event.result == rejected` for `result: approved`) cannot
    trigger it. Values with {placeholders}, and numbers, are not known here."""
    allowed = domains([c for _, c in leaves([(0, rule.condition)])])
    for field, value in data.items():
        domain = allowed.get(f"event.{field}")
        if domain is None or not isinstance(value, str) or "{" in value:
            continue
        if (
            domain.lo is None
            and domain.hi is None
            and all(isinstance(v, str) for v in (domain.allowed or set()) | domain.excluded)
        ):
            emitted = Domain(allowed={value}, present=True)
            if not domain.merged(emitted).possible():
                return False
    return True


def _loops(rules: Rules) -> Iterator[RuleError]:
    """One warning per loop, on its first rule in file order: the shortest path back."""
    reported: set[frozenset[str]] = set()
    for rule in rules:
        path = _path_back(rule, rules)
        if path is None:
            continue
        members = frozenset(r.id for _, r in path) | {rule.id}
        if members in reported:
            continue
        reported.add(members)
        text = " ".join([rule.id] + [f"{how} -> {target.id}" for how, target in path])
        yield _warn(
            rule,
            rule.line,
            f"can trigger itself without end: {text} (make sure a condition or cancel_timer ends the loop)",
        )


def _path_back(start: ir.Rule, rules: Rules) -> list[tuple[str, ir.Rule]] | None:
    """The shortest chain of triggers from `start` back to itself, or None."""
    queue: deque[tuple[ir.Rule, list[tuple[str, ir.Rule]]]] = deque([(start, [])])
    seen = {start.id}
    while queue:
        rule, path = queue.popleft()
        for how, target in _triggers(rule, rules):
            if target.id == start.id:
                return path + [(how, target)]
            if target.id not in seen:
                seen.add(target.id)
                queue.append((target, path + [(how, target)]))
    return None


def _conflicts(rules: Rules, specs: Mapping[str, ActionSpec]) -> Iterator[RuleError]:
    """For each action of a rule, the first earlier rule that can match the same trigger
    (same event type and delay, conditions that do not exclude each other) and conflicts."""
    watched = {name for name, spec in specs.items() if spec.sets or spec.once_for} | set(_OPPOSITE)
    allowed: dict[str, dict[str, Domain]] = {}
    for i, later in enumerate(rules):
        for action in (a for a in later.actions if a.name in watched):
            found = [
                (earlier, message)
                for earlier in rules[:i]
                if (message := _conflict(specs.get(action.name), action, earlier))
                and _both_match(earlier, later, allowed)
            ]
            if found:
                earlier, message = found[0]
                shared = next(t for t in later.events if t in earlier.events)
                more = f" (and {len(found) - 1} more rules)" if len(found) > 1 else ""
                yield _warn(
                    later,
                    action.line,
                    f"on {shared} this rule and {earlier.id} "
                    f"({earlier.file}:{earlier.line}){more} can both "
                    f"match: {message} (give them conditions that "
                    f"exclude each other, or merge them)",
                )


def _both_match(a: ir.Rule, b: ir.Rule, allowed: dict[str, dict[str, Domain]]) -> bool:
    if not set(a.events) & set(b.events) or a.after != b.after:
        return False
    for rule in (a, b):
        if rule.id not in allowed:
            allowed[rule.id] = domains([c for _, c in leaves([(0, rule.condition)])])
    return compatible(allowed[a.id], allowed[b.id])


# The rules' own actions that undo each other: which one wins depends on the rules' order.
_OPPOSITE = {"start_timer": "cancel_timer", "cancel_timer": "start_timer"}


def _conflict(spec: ActionSpec | None, action: ir.Action, other: ir.Rule) -> str | None:
    if action.name in _OPPOSITE:
        name = action.param("name")
        if any(a.name == _OPPOSITE[action.name] and a.param("name") == name for a in other.actions):
            return f"{action.name} {name} here, {_OPPOSITE[action.name]} {name} there"
        return None
    if spec is None:
        return None
    for theirs in (a for a in other.actions if a.name == action.name):
        if spec.sets and theirs.param(spec.sets) != action.param(spec.sets):
            return f"{action.name} to {action.param(spec.sets)} here, to {theirs.param(spec.sets)} there"
        if spec.once_for and all(theirs.param(k) == action.param(k) for k in spec.once_for):
            key = ", ".join(f"{k} {action.param(k) or '(default)'}" for k in spec.once_for)
            return f"both record a {action.name} for the same {key}"
    return None

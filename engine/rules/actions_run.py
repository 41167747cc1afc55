"""Carry out rule actions through the domain services, once each, with an explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.events.models import Event
from engine.rules import ir, tables
from engine.rules.actions import load_domain_actions
from engine.rules.evaluation import FactLoader, raw_value, render
from engine.rules.models import RuleAction
from engine.values import utcnow

if TYPE_CHECKING:
    from engine.clients.models import Client


class _Acting:
    """What an action reads of the rule acting (a Run, or a Call of the set-based path)."""

    ruleset: ir.Ruleset
    rule: ir.Rule
    client: Client
    events: list[Event]
    explanation: dict

    @property
    def raw(self) -> dict:
        raise NotImplementedError

    @property
    def event(self) -> Event | None:
        return self.events[0] if self.events else None

    def text(self, template: str) -> str:
        return render(template, self.event, self.raw)

    def value(self, path: str):
        return raw_value(path, self.event, self.raw)

    @property
    def actor(self) -> str:
        return f"rule:{self.rule.id}"

    @property
    def subject_kind(self) -> str:
        """What the rule acts about: "client", or another kind of subject (engine.subjects)."""
        return getattr(self.client, "subject_kind", "client")


@dataclass
class Run(_Acting):
    """One rule acting for one client: the trigger, the facts and why."""

    session: Session
    ruleset: ir.Ruleset
    rule: ir.Rule
    client: Client
    events: list[Event]  # the triggering event(s), first is the trigger
    now: datetime
    facts: FactLoader
    trigger: str  # unique per trigger: "<source>/<id>" or "timer:<key>"
    explanation: dict = field(default_factory=dict)

    @property
    def raw(self) -> dict:
        return self.facts.raw


@dataclass
class Call(_Acting):
    """One action of a rule acting at once on the set-based path (engine.rules.batch): what
    its `run` would be given, with the facts known for the group instead of a session."""

    ruleset: ir.Ruleset
    rule: ir.Rule
    client: Client
    events: list[Event]
    now: datetime
    facts: dict  # the raw facts, as the per-event FactLoader holds them
    trigger: str
    key: str  # the rule_actions key (`execute`)
    action: ir.Action
    params: dict = field(default_factory=dict)  # filled when decided
    explanation: dict = field(default_factory=dict)

    @property
    def raw(self) -> dict:
        return self.facts


def thaw(value):
    """Undo ir freezing: tuples of (name, value) pairs become dicts, other tuples lists."""
    if isinstance(value, tuple):
        if value and all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in value):
            return {k: thaw(v) for k, v in value}
        return [thaw(x) for x in value]
    return value


def execute(run: Run) -> list[str]:
    """Run every action of `run.rule` that has not run for this trigger; return results."""
    run.facts.load(run.rule.template_reads)
    keys = [action_key(run.trigger, run.rule, index) for index in range(len(run.rule.actions))]
    # The keys name this trigger and rule: none is recorded while these actions run but by
    # this loop, so one read tells which ran before (a replay).
    done = set(run.session.scalars(select(RuleAction.key).where(RuleAction.key.in_(keys)))) if keys else set()
    results = []
    for key, action in zip(keys, run.rule.actions, strict=True):
        if key in done:
            continue  # done when this trigger was processed before
        spec = load_domain_actions()[action.name]
        params = filled_params(action, run.raw)
        result = spec.run(run, params, key)
        run.session.add(RuleAction(**action_row(run, key, action, params, result)))
        results.append(result)
    run.session.flush()
    return results


def action_key(trigger: str, rule: ir.Rule, index: int) -> str:
    """The key that makes the rule's `index`th action run once per trigger."""
    return f"{trigger}:{rule.id}:{index}"[:300]


def filled_params(action: ir.Action, raw: dict) -> dict:
    """The action's parameters as it is given them (table-bound ones from the facts)."""
    spec = load_domain_actions()[action.name]
    return tables.fill_params({k: thaw(v) for k, v in action.params}, action.tables, spec.schema, raw)


def action_row(run: _Acting, key: str, action: ir.Action, params: dict, result: str) -> dict:
    """The rule_actions row recording that `run` took `action` (once-only, audit, why)."""
    return {
        "key": key,
        "client_ref": run.client.ref,
        "rule_id": run.rule.id,
        "ruleset_version": run.ruleset.version,
        "action": action.name,
        "params": params,
        "event_seq": run.event.seq if run.event is not None else None,
        "at": utcnow(),
        "result": result,
        "explanation": run.explanation,
    }

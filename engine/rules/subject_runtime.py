"""Evaluate the active ruleset for an event about a subject other than a client (a staff member).

Registered with processing (`engine.projections.subject_evaluator`) and run by
engine.processing.subjects inside the event's savepoint. Such a rule (its `when:`
events are about that kind of subject) reads the subject's facts and counts of its own
events, and acts at once with the actions fit for it (the compiler refuses the rest):
no delays, absence or episodes, which are a client's timers and events.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.events.models import Event
from engine.projections import subject_evaluator
from engine.rules import activation
from engine.rules.actions_run import Run, execute
from engine.rules.evaluation import FactLoader, explanation
from engine.rules.literals import epoch
from engine.rules.runtime import envelope


@subject_evaluator
def evaluate_subject_event(session: Session, event: Event, subject) -> None:
    """Run the active rules that react to this event for its subject, once each."""
    loaded = activation.current(session)
    if loaded is None:
        return
    ruleset = loaded.ruleset
    # Not a change of its own: processing writes it with the processed mark, in one statement.
    set_committed_value(event, "ruleset_version", ruleset.version)
    if not ruleset.rules_for(event.type):
        return
    facts = FactLoader(session, subject, event.occurred_at)
    matcher = loaded.matcher
    raw = facts.load(matcher.reads(event.type))
    values = matcher.read(envelope(event), raw, epoch(event.occurred_at))
    trigger = f"{event.source}/{event.event_id}"
    for rule in matcher.match(event.type, values):
        why = explanation(ruleset, rule, [event], values, raw)
        execute(Run(session, ruleset, rule, subject, [event], event.occurred_at, facts, trigger, why))

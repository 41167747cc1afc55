"""Evaluate the active ruleset for an event about a subject other than a client (a staff member).

Registered with processing (`engine.projections.subject_evaluator`) and run by
engine.processing.subjects inside the event's savepoint. Such a rule (its `when:`
events are about that kind of subject) reads the subject's facts and counts of its own
events, and acts at once with the actions fit for it (the compiler refuses the rest):
no delays, absence or episodes, which are a client's timers and events.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.events.models import Event
from engine.projections import subject_evaluator
from engine.rules.actions_run import Run, execute
from engine.rules.evaluation import FactLoader
from engine.rules.runtime import active_ruleset, matching_rules


@subject_evaluator
def evaluate_subject_event(session: Session, event: Event, subject) -> None:
    """Run the active rules that react to this event for its subject, once each."""
    loaded = active_ruleset(session, event)
    if loaded is None or not loaded.ruleset.rules_for(event.type):
        return
    facts = FactLoader(session, subject, event.occurred_at)
    trigger = f"{event.source}/{event.event_id}"
    for rule, why in matching_rules(loaded, event, facts):
        execute(Run(session, loaded.ruleset, rule, subject, [event], event.occurred_at, facts, trigger, why))

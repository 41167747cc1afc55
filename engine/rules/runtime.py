"""Evaluate the active ruleset for each processed event and act on what matches.

Registered with the processing pipeline (`engine.projections.evaluator`): it runs
after the projections of every event, inside that event's savepoint, so an error
rolls back everything the rules did for it and the event is retried.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Iterator

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from engine.db import cached

from engine.events.models import Event
from engine.projections import batch_form, evaluator
from engine.rules import absence, activation, batch, ir, py_evaluator, timers
from engine.rules.actions import EVENT_HOOKS, load_domain_actions
from engine.rules.actions_run import Run, execute
from engine.rules.evaluation import FactLoader, explanation
from engine.rules.literals import epoch
from engine.rules.models import ABSENCE, DELAY, NAMED, TIMER_CANCELLED, TIMER_FIRED, RuleTimer
from engine.rules.reading import build_reader


def envelope(event: Event) -> dict:
    """Return what a reader reads from a stored event."""
    return {"type": event.type, "source": event.source, "occurred_at": event.occurred_at, "data": event.data or {}}


_TIMER_TABLES = frozenset({"rule_timers"})


@lru_cache(maxsize=256)
def _reader(values: frozenset):
    return build_reader(values)


def read_values(values: frozenset, event: Event | None, facts: FactLoader) -> dict:
    """Load and flatten `values` for the reference evaluator (re-checks, not the hot path)."""
    raw = facts.load(values)
    return _reader(values)(envelope(event) if event is not None else {"data": {}}, raw, epoch(facts.at))


def active_ruleset(session: Session, event: Event) -> activation.Loaded | None:
    """The active ruleset as loaded (None when there is none), its version stamped on `event`."""
    loaded = activation.current(session)
    if loaded is not None:
        # Not a change of its own: processing writes it with the processed mark, in one statement.
        set_committed_value(event, "ruleset_version", loaded.ruleset.version)
    return loaded


def matching_rules(loaded: activation.Loaded, event: Event, facts: FactLoader) -> Iterator[tuple[ir.Rule, dict]]:
    """Each rule of the `loaded` ruleset whose `when:` this event matches, with why."""
    ruleset, matcher = loaded.ruleset, loaded.matcher
    if not ruleset.rules_for(event.type):
        return
    raw = facts.load(matcher.reads(event.type))
    values = matcher.read(envelope(event), raw, epoch(event.occurred_at))
    for rule in matcher.match(event.type, values):
        yield rule, explanation(ruleset, rule, [event], values, raw)


@evaluator
def evaluate_event(session: Session, event: Event, client) -> None:
    """Close, cancel and start what this event decides under the active ruleset."""
    loaded = active_ruleset(session, event)
    if loaded is None:
        return
    ruleset = loaded.ruleset
    facts = FactLoader(session, client, event.occurred_at)
    load_domain_actions()  # hooks are registered with the actions (engine.tasks.actions closes tasks)
    for hook in EVENT_HOOKS:
        hook(session, ruleset, client, event, facts)
    cancel_timers(session, ruleset, client, event, facts)
    absence.arm(session, ruleset, client, event)
    for rule, why in matching_rules(loaded, event, facts):
        if rule.after is not None:
            timers.start_delay(session, **delay_timer(ruleset, rule, client.ref, event, why))
        else:
            act_on_event(session, ruleset, rule, client, event, facts, why)


# ---- decisions both paths take (the set-based form: engine.rules.batch) -------------


def delay_key(rule: ir.Rule, event: Event) -> str:
    """The key of the delay timer `event` starts for `rule` (one per rule and trigger)."""
    return f"delay:{rule.id}:{event.source}/{event.event_id}"


def delay_timer(ruleset: ir.Ruleset, rule: ir.Rule, client_ref: str, event: Event, why: dict) -> dict:
    """What `timers.start_delay` is given for a delayed rule that matched `event`."""
    return {
        "key": delay_key(rule, event),
        "client_ref": client_ref,
        "rule_id": rule.id,
        "version": ruleset.version,
        "event_seq": event.seq,
        "due_at": event.occurred_at + timedelta(seconds=rule.after or 0),
        "explanation": why,
    }


def unless_reads(rule: ir.Rule) -> frozenset:
    """The values the rule's `unless` reads (loaded to decide whether to cancel its timers)."""
    return _values(rule.unless) if rule.unless is not None else frozenset()


def unless_holds(rule: ir.Rule, trigger: Event | None, raw: dict, at, reads: frozenset | None = None) -> bool:
    """Whether the rule's `unless` holds for a timer started by `trigger`, with these facts
    (`reads`: its `unless_reads`, when the caller has them)."""
    reads = unless_reads(rule) if reads is None else reads
    values = _reader(reads)(envelope(trigger) if trigger is not None else {"data": {}}, raw, epoch(at))
    return py_evaluator.holds(rule.unless, values)


def cancelled_outcome(event: Event) -> str:
    """What a delay timer cancelled by `event` (its rule's `unless` held) records."""
    return f"unless held after {event.type} ({event.source}/{event.event_id})"


def act_on_event(
    session: Session, ruleset: ir.Ruleset, rule: ir.Rule, client, event: Event, facts: FactLoader, why: dict
) -> None:
    """Run the actions of `rule` for `event` (once per event: the trigger is the event's id)."""
    execute(Run(session, ruleset, rule, client, [event], event.occurred_at, facts, event_trigger(event), why))


def event_trigger(event: Event) -> str:
    """What names an event as the trigger of rule actions (their once-only keys)."""
    return f"{event.source}/{event.event_id}"


batch_form(
    "rules",
    (evaluate_event,),
    load=batch.load,
    accepts=batch.accepts,
    apply=batch.apply,
    write=batch.write,
    sees=batch.sees,
)


def cancel_timers(session: Session, ruleset: ir.Ruleset, client, event: Event, facts: FactLoader) -> None:
    """Cancel the client's delay timers whose rule's `unless` now holds."""
    if not any(r.unless is not None for r in ruleset.rules):
        return  # only the active ruleset's `unless` conditions cancel timers
    pending = cached(
        session,
        ("delay_timers", client.ref),
        _TIMER_TABLES,
        lambda: timers.pending(session, client.ref, DELAY),
        client_ref=client.ref,
    )
    for timer in list(pending):
        rule = _rule(ruleset, timer.rule_id)
        if rule is None or rule.unless is None:
            continue
        trigger = session.get(Event, timer.event_seq) if timer.event_seq else None
        reads = unless_reads(rule)
        if unless_holds(rule, trigger, facts.load(reads), facts.at, reads):
            timers.close(session, timer, TIMER_CANCELLED, cancelled_outcome(event), event.occurred_at)


def fire_timer(session: Session, timer: RuleTimer, client) -> bool:
    """Fire one due timer under the active ruleset; return whether it fired."""
    if timer.status != "pending":
        return False
    if timer.kind == NAMED:
        return _fire_named(session, timer, client)
    if timer.kind == ABSENCE:
        return absence.fire(session, timer, client)
    loaded = activation.current(session)
    rule = _rule(loaded.ruleset, timer.rule_id) if loaded else None
    if rule is None:
        timers.close(
            session, timer, TIMER_CANCELLED, "the rule is not in the active ruleset", timer.due_at, when_due=True
        )
        return False
    trigger = session.get(Event, timer.event_seq) if timer.event_seq else None
    facts = FactLoader(session, client, timer.due_at)
    # `if:` was decided when the event came (it may say "the first deposit"); when due,
    # only `unless:` is asked again, with the facts as they are now.
    values = read_values(rule.reads, trigger, facts)
    if rule.unless is not None and py_evaluator.holds(rule.unless, values):
        outcome, status = "unless held when due", TIMER_CANCELLED
    else:
        outcome, status = "fired", TIMER_FIRED
    if not timers.close(session, timer, status, outcome, timer.due_at, when_due=True) or status != TIMER_FIRED:
        return False
    why = explanation(
        loaded.ruleset,
        rule,
        [trigger] if trigger else [],
        values,
        facts.raw,
        timer={
            "id": timer.id,
            "started": timer.created_at.isoformat(),
            "due_at": timer.due_at.isoformat(),
            "started_with": timer.explanation,
        },
    )
    execute(
        Run(
            session,
            loaded.ruleset,
            rule,
            client,
            [trigger] if trigger else [],
            timer.due_at,
            facts,
            f"timer:{timer.id}",
            why,
        )
    )
    return True


def _fire_named(session: Session, timer: RuleTimer, client) -> bool:
    from engine.events.schemas import validate_envelope
    from engine.events.store import record
    from engine.values import iso

    if not timers.close(session, timer, TIMER_FIRED, "fired: timer.fired recorded", timer.due_at, when_due=True):
        return False
    record(
        session,
        validate_envelope(
            {
                "id": f"timer-{timer.id}",
                "type": "timer.fired",
                "source": "timers",
                "occurred_at": iso(timer.due_at),
                "client": client.ref,
                "data": {"timer_id": str(timer.id), "name": timer.name, "rule_id": timer.rule_id},
            },
            allow_internal=True,
        ),
        via="timer",
    )
    return True


def _rule(ruleset: ir.Ruleset, rule_id: str) -> ir.Rule | None:
    return next((r for r in ruleset.rules if r.id == rule_id), None)


def _values(cond: ir.Cond) -> frozenset:
    from engine.rules.conditions import values_of

    return values_of(cond)

"""Absence rules at run time: a durable timer per client and rule, restarted by each event.

`absent: {events: [trade.opened, trade.closed], for: 90d, since: payment.deposit_completed}`:
each trade moves the client's one pending timer of the rule to 90 days after the trade; a
deposit starts one when none is running. When the timer falls due (90 days of silence),
`if:` is decided on the client's facts at that moment and the actions run once for it.
A late event (older than the one that set the timer) never moves the timer back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db import cached
from engine.events.models import Event
from engine.rules import activation, ir, py_evaluator, timers
from engine.rules.actions_run import Run, execute
from engine.rules.evaluation import FactLoader, explanation
from engine.rules.models import ABSENCE, TIMER_CANCELLED, TIMER_FIRED, RuleTimer
from engine.values import iso, utcnow

if TYPE_CHECKING:
    from engine.clients.models import Client

_TIMER_TABLES = frozenset({"rule_timers"})


def _pending(session: Session, client_ref: str) -> list[RuleTimer]:
    found: list[RuleTimer] = cached(
        session,
        ("absence_timers", client_ref),
        _TIMER_TABLES,
        lambda: list(
            session.scalars(
                select(RuleTimer).where(
                    RuleTimer.client_ref == client_ref, RuleTimer.kind == ABSENCE, RuleTimer.status == "pending"
                )
            )
        ),
    )
    return found


def arm(session: Session, ruleset: ir.Ruleset, client: Client, event: Event) -> None:
    """Start or restart the silence of every absence rule `event` belongs to."""
    rules = ruleset.absence_rules_for(event.type)
    if not rules:
        return
    pending = _pending(session, client.ref)
    for rule in rules:
        assert rule.absent is not None
        _arm_one(session, ruleset, rule, rule.absent, client, event, [t for t in pending if t.rule_id == rule.id])


def _arm_one(
    session: Session,
    ruleset: ir.Ruleset,
    rule: ir.Rule,
    absent: ir.Absence,
    client: Client,
    event: Event,
    running: list[RuleTimer],
) -> None:
    due = event.occurred_at + timedelta(seconds=absent.seconds)
    restarts = event.type in absent.events
    if running and (not restarts or any(t.due_at >= due for t in running)):
        return  # a `since` event never restarts; a late event never moves the timer back
    key = f"absent:{rule.id}:{event.source}/{event.event_id}"[:300]
    if session.scalar(select(RuleTimer.id).where(RuleTimer.key == key)) is not None:
        return  # this event armed it before (a replay)
    for timer in running:
        timers.close(
            session,
            timer,
            TIMER_CANCELLED,
            f"restarted by {event.type} ({event.source}/{event.event_id})",
            event.occurred_at,
        )
    session.add(
        RuleTimer(
            key=key,
            kind=ABSENCE,
            client_ref=client.ref,
            rule_id=rule.id,
            ruleset_version=ruleset.version,
            event_seq=event.seq,
            due_at=due,
            status="pending",
            created_at=utcnow(),
            explanation={
                "last_event": f"{event.type} ({event.source}/{event.event_id})",
                "silent_since": iso(event.occurred_at),
            },
        )
    )
    session.flush()


def fire(session: Session, timer: RuleTimer, client: Client) -> bool:
    """The silence lasted: decide `if:` on the facts now and act; return whether it acted."""
    from engine.rules.runtime import read_values

    loaded = activation.current(session)
    rule = next((r for r in loaded.ruleset.rules if r.id == timer.rule_id), None) if loaded else None
    if loaded is None or rule is None or rule.absent is None:
        timers.close(session, timer, TIMER_CANCELLED, "the rule is not in the active ruleset", timer.due_at)
        return False
    facts = FactLoader(session, client, timer.due_at)
    values = read_values(rule.reads, None, facts)
    holds = py_evaluator.holds(rule.condition, values)
    outcome = "fired" if holds else "if: did not hold when due"
    if not timers.close(session, timer, TIMER_FIRED if holds else TIMER_CANCELLED, outcome, timer.due_at) or not holds:
        return False
    last = session.get(Event, timer.event_seq) if timer.event_seq else None
    why = explanation(
        loaded.ruleset,
        rule,
        [],
        values,
        facts.raw,
        silence={
            **(timer.explanation or {}),
            "due_at": iso(timer.due_at),
            "last_event_seq": last.seq if last is not None else None,
        },
    )
    execute(Run(session, loaded.ruleset, rule, client, [], timer.due_at, facts, f"timer:{timer.id}", why))
    return True

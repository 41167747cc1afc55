"""Settle the pending timers when another ruleset version becomes active (activation, rollback).

A pending timer was started by a rule of the version it replaces; it fires under the
active one. So at activation each is asked again under the new version, in the same
transaction: kept (the same rule still waits as long), rescheduled (its delay changed:
the due time moves, counted from the same start), or cancelled (the rule is gone, no
longer waits, or no longer matches the event that started it). The activation row keeps
the list, and the caller prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.clients.models import Client
from engine.events.models import Event
from engine.rules import ir, py_evaluator
from engine.rules.errors import RuleRuntimeError
from engine.rules.evaluation import FactLoader
from engine.rules.models import DELAY, TIMER_CANCELLED, TIMER_PENDING, RulesetActivation, RuleTimer
from engine.values import iso

KEPT, RESCHEDULED, CANCELLED = "kept", "rescheduled", "cancelled"


@dataclass(frozen=True)
class Settled:
    timer: int
    kind: str
    rule: str
    client: str
    name: str | None
    outcome: str  # kept, rescheduled, cancelled
    due_at: str
    new_due_at: str | None
    reason: str

    def line(self) -> str:
        what = f"timer {self.timer} ({self.rule}{', ' + self.name if self.name else ''}) of {self.client}"
        due = f"due {self.due_at}" + (f" -> {self.new_due_at}" if self.new_due_at else "")
        return f"  {self.outcome}: {what}, {due}: {self.reason}"


def _rule(ruleset: ir.Ruleset | None, rule_id: str) -> ir.Rule | None:
    return next((r for r in ruleset.rules if r.id == rule_id), None) if ruleset else None


def _named_after(rule: ir.Rule | None, name: str | None) -> int | None:
    """The delay (seconds) with which `rule` starts timer `name`, or None if it does not."""
    for action in rule.actions if rule else ():
        params = dict(action.params)
        if action.name == "start_timer" and params.get("name") == name:
            return _seconds(params["after"])
    return None


def _seconds(after: object) -> int:
    """A loaded `after:` (a Duration: whole seconds) as an int."""
    if isinstance(after, int | float | str):
        return int(after)
    raise TypeError(f"start_timer after: is not a number of seconds: {after!r}")


def _still_matches(
    session: Session, rule: ir.Rule, old: ir.Rule | None, timer: RuleTimer, trigger: Event | None
) -> str | None:
    """None if `rule` still starts this delay timer, else why not.

    An unchanged condition matched when the timer started and is not asked again; a
    changed one is asked of the triggering event with the client's facts now.
    """
    if trigger is not None and trigger.type not in rule.events:
        return f"rule {rule.id} no longer reacts to {trigger.type}"
    if old is not None and (old.condition, old.events) == (rule.condition, rule.events):
        return None
    client = session.scalar(select(Client).where(Client.ref == timer.client_ref))
    if client is None:
        return None
    from engine.rules.runtime import read_values

    facts = FactLoader(session, client, trigger.occurred_at if trigger else timer.created_at)
    try:
        holds = py_evaluator.holds(rule.condition, read_values(rule.reads, trigger, facts))
    except RuleRuntimeError:
        return None  # not askable now (a fact that cannot load): kept, `unless:` still decides when due
    return None if holds else f"the changed condition of {rule.id} no longer matches"


def _decide(
    session: Session, timer: RuleTimer, old_set: ir.Ruleset | None, new_set: ir.Ruleset
) -> tuple[str, datetime | None, str]:
    """Return (outcome, new due time or None, reason) for one pending timer."""
    rule, old = _rule(new_set, timer.rule_id), _rule(old_set, timer.rule_id)
    if rule is None:
        return CANCELLED, None, f"rule {timer.rule_id} is not in version {new_set.version[:12]}"
    new_after: int | None
    if timer.kind == DELAY:
        if rule.after is None:
            return CANCELLED, None, f"rule {rule.id} no longer waits (no `after:`)"
        trigger = session.get(Event, timer.event_seq) if timer.event_seq else None
        why_not = _still_matches(session, rule, old, timer, trigger)
        if why_not:
            return CANCELLED, None, why_not
        if trigger is not None:  # a delay counts from its event: exact whatever moved it before
            due = trigger.occurred_at + timedelta(seconds=rule.after)
            if due == timer.due_at:
                return KEPT, None, f"rule {rule.id} waits as before"
            return RESCHEDULED, due, f"rule {rule.id} now waits {rule.after}s after {trigger.type}"
        new_after, old_after = rule.after, old.after if old else None
    else:
        new_after, old_after = _named_after(rule, timer.name), _named_after(old, timer.name)
        if new_after is None:
            return CANCELLED, None, f"rule {rule.id} no longer starts timer {timer.name}"
    if old_after is None or old_after == new_after:
        return KEPT, None, f"rule {rule.id} waits as before"
    due = timer.due_at + timedelta(seconds=new_after - old_after)
    return RESCHEDULED, due, f"rule {rule.id} now waits {new_after}s instead of {old_after}s"


def settle_timers(session: Session, old_set: ir.Ruleset | None, new_set: ir.Ruleset, at: datetime) -> list[Settled]:
    """Settle every pending timer under `new_set`; return what happened to each."""
    done = []
    pending = session.scalars(
        select(RuleTimer)
        .where(RuleTimer.status == TIMER_PENDING)
        .order_by(RuleTimer.client_ref, RuleTimer.due_at, RuleTimer.id)
        .with_for_update()
    )
    for timer in pending:
        outcome, due, reason = _decide(session, timer, old_set, new_set)
        before = timer.due_at
        if outcome == CANCELLED:
            timer.status, timer.closed_at, timer.outcome = TIMER_CANCELLED, at, f"activation: {reason}"[:2000]
        elif outcome == RESCHEDULED and due is not None:  # _decide gives a rescheduled timer its due time
            timer.due_at = due
        done.append(
            Settled(
                timer.id,
                timer.kind,
                timer.rule_id,
                timer.client_ref,
                timer.name,
                outcome,
                iso(before),
                iso(due) if due else None,
                reason,
            )
        )
    session.flush()
    return done


def lock_activations(session: Session, row: RulesetActivation) -> tuple[bool, RulesetActivation | None]:
    """Wait for any other activation under way; return (still the newest, the one `row` replaces).

    Two activations at once both lock the newest activation committed before theirs, so
    they settle the timers one after the other. When a later activation than `row`
    committed meanwhile, that one is active and settles the timers itself: (False, None).
    """
    earlier = (
        select(RulesetActivation).where(RulesetActivation.id < row.id).order_by(RulesetActivation.id.desc()).limit(1)
    )
    session.scalar(earlier.with_for_update())
    newest = session.scalar(select(RulesetActivation.id).order_by(RulesetActivation.id.desc()).limit(1))
    if newest != row.id:
        return False, None
    return True, session.scalar(earlier.execution_options(populate_existing=True))


def as_records(settled: list[Settled]) -> list[dict[str, object]]:
    return [asdict(s) for s in settled]


def summary(settled: Sequence[Mapping[str, object]]) -> str:
    """`timers: 2 kept, 1 rescheduled, 0 cancelled`."""
    counts = {o: sum(s["outcome"] == o for s in settled) for o in (KEPT, RESCHEDULED, CANCELLED)}
    return "timers: " + ", ".join(f"{n} {o}" for o, n in counts.items())

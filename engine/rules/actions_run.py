"""Carry out rule actions through the domain services, once each, with an explanation."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.events.models import Event
from engine.rules import ir
from engine.rules.evaluation import FactLoader, raw_value, render
from engine.rules.models import RuleAction
from engine.values import iso, utcnow

HANDLERS: dict[str, Callable[["Run", dict, str], str]] = {}


@dataclass
class Run:
    """One rule acting for one client: the trigger, the facts and why."""

    session: Session
    ruleset: ir.Ruleset
    rule: ir.Rule
    client: object
    events: list[Event]          # the triggering event(s), first is the trigger
    now: datetime
    facts: FactLoader
    trigger: str                 # unique per trigger: "<source>/<id>" or "timer:<key>"
    explanation: dict = field(default_factory=dict)

    @property
    def event(self) -> Event | None:
        return self.events[0] if self.events else None

    def text(self, template: str) -> str:
        return render(template, self.event, self.facts.raw)

    @property
    def actor(self) -> str:
        return f"rule:{self.rule.id}"


def handler(name: str):
    """Register the decorated function(run, params, key) -> result text for action `name`."""
    def register(fn):
        HANDLERS[name] = fn
        return fn
    return register


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
    results = []
    for index, action in enumerate(run.rule.actions):
        key = f"{run.trigger}:{run.rule.id}:{index}"[:300]
        if run.session.scalar(select(RuleAction.id).where(RuleAction.key == key)) is not None:
            continue  # done when this trigger was processed before
        params = {k: thaw(v) for k, v in action.params}
        result = HANDLERS[action.name](run, params, key)
        run.session.add(RuleAction(
            key=key, client_ref=run.client.ref, rule_id=run.rule.id,
            ruleset_version=run.ruleset.version, action=action.name, params=params,
            event_seq=run.event.seq if run.event is not None else None, at=utcnow(),
            result=result, explanation=run.explanation))
        results.append(result)
    run.session.flush()
    return results


def open_rule_tasks(session: Session, client_ref: str, rule_id: str | None = None) -> list:
    """Return the client's open tasks made by rules (by one rule when given)."""
    from engine.tasks.models import OPEN_STATUSES, Task
    stmt = select(Task).where(Task.client_ref == client_ref, Task.rule_id.is_not(None),
                              Task.status.in_(OPEN_STATUSES))
    if rule_id is not None:
        stmt = stmt.where(Task.rule_id == rule_id)
    return list(session.scalars(stmt.order_by(Task.id)))


@handler("task")
def _task(run: Run, p: dict, key: str) -> str:
    from engine.tasks import service as tasks_service
    queue = p["queue"]
    for path, table in (p.get("route") or {}).items():
        queue = table.get(str(raw_value(path, run.event, run.facts.raw)), queue)
    due = run.now + timedelta(seconds=p["due_in"]) if p.get("due_in") else None
    open_key = f"rule:{run.rule.id}:{run.client.ref}" if p.get("one_open_per") == "client" else None
    data = {k: p[k] for k in ("close_when", "open_while") if p.get(k)}
    task, created = tasks_service.create(
        run.session, queue=queue, title=run.text(p["title"]), client_ref=run.client.ref,
        priority=p["priority"], due_at=due, rule_id=run.rule.id, ruleset_version=run.ruleset.version,
        open_key=open_key, trigger_key=key, explanation=run.explanation, created_by=run.actor,
        description=run.text(p["description"]) if p.get("description") else None, data=data or None)
    return f"task {task.id} {'created' if created else 'already open'} in {queue}"


@handler("raise_priority")
def _raise_priority(run: Run, p: dict, key: str) -> str:
    from engine.tasks import service as tasks_service
    from engine.tasks.models import PRIORITIES
    raised = []
    for task in open_rule_tasks(run.session, run.client.ref, p["task_of"]):
        if PRIORITIES[p["to"]] > task.priority_rank:
            tasks_service.set_priority(run.session, task, p["to"], actor=run.actor,
                                       reason=f"rule {run.rule.id}")
            raised.append(str(task.id))
    return f"raised task {', '.join(raised)} to {p['to']}" if raised else "no open task to raise"


@handler("set_status")
def _set_status(run: Run, p: dict, key: str) -> str:
    from engine.kyc import service as kyc_service
    change = kyc_service.set_status(run.session, client=run.client, status=p["status"],
                                    reason=run.text(p["reason"]), actor=run.actor, rule_id=run.rule.id)
    return f"status {p['status']}" if change else f"status unchanged ({run.client.status})"


@handler("set_risk")
def _set_risk(run: Run, p: dict, key: str) -> str:
    from engine.kyc import service as kyc_service
    changed = kyc_service.set_risk(run.session, client=run.client, category=p["category"],
                                   reason=run.text(p["reason"]), actor=run.actor)
    return f"risk {p['category']}" if changed else "risk unchanged"


@handler("notify")
def _notify(run: Run, p: dict, key: str) -> str:
    from engine.notifications import service as notifications_service
    note = notifications_service.send(run.session, client=run.client, template=p["template"],
                                      channel=p["channel"], explanation=run.explanation,
                                      rule_id=run.rule.id, dedup_key=key)
    return f"notification {note.id} ({p['template']}, {p['channel']})"


@handler("commission")
def _commission(run: Run, p: dict, key: str) -> str:
    from engine.ib import service as ib_service
    records = ib_service.record_commission(
        run.session, client=run.client, type=p["type"], explanation=run.explanation,
        event=run.event, once_per=p["once_per"], review=p["review"], profile=p.get("profile"),
        amount=p.get("amount"), actor=run.actor)
    return f"commissions {', '.join(str(r.id) for r in records)}" if records else "no commission due"


@handler("emit")
def _emit(run: Run, p: dict, key: str) -> str:
    from engine.events.schemas import validate_envelope
    from engine.events.store import record
    data = {k: run.text(v) if isinstance(v, str) else v for k, v in p["data"].items()}
    envelope = validate_envelope({"id": key, "type": p["type"], "source": "rules",
                                  "occurred_at": iso(run.now), "client": run.client.ref,
                                  "data": data}, allow_internal=True)
    seq, created = record(run.session, envelope, via="rules")
    return f"event {p['type']} {seq}" if created else f"event {p['type']} already emitted"


@handler("start_timer")
def _start_timer(run: Run, p: dict, key: str) -> str:
    from engine.rules import timers
    timer = timers.start_named(run, p["name"], timedelta(seconds=p["after"]), key)
    return f"timer {timer.name} due {iso(timer.due_at)}"


@handler("cancel_timer")
def _cancel_timer(run: Run, p: dict, key: str) -> str:
    from engine.rules import timers
    count = timers.cancel_named(run.session, run.client.ref, p["name"], f"cancelled by {run.rule.id}", run.now)
    return f"cancelled {count} timer(s) {p['name']}"

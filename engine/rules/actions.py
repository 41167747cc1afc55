"""The action registry: every action a rule may take, its parameters' schema and what it does.

Add an action here, in one place: a marshmallow schema for its parameters and a
function decorated with `@action(name, Schema, ...)`. The metadata (which parameters
are templates, event types, rule ids, queues or named conditions) lets the compiler
cross-check them without knowing the action.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from engine.clients.models import STATUSES as CLIENT_STATUSES
from engine.tasks.models import PRIORITIES
from engine.values import ValueError_, iso, parse_datetime, parse_decimal, parse_duration, utcnow

NAME = validate.Regexp(r"^[a-z][a-z0-9_\-]*$", error="must be a lower-case name like kyc-reminder")
RISK_CATEGORIES = ("low", "medium", "high")
CHANNELS = ("email", "sms", "push", "in_app")
COMMISSION_TYPES = ("cpa", "lot_rebate", "spread_share", "revshare")  # engine.ib.service.EARNED_TYPES


class Duration(fields.Field):
    """A duration like 30s, 15m, 48h, 7d, kept as whole seconds."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return int(parse_duration(value).total_seconds())
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None


class MoneyField(fields.Field):
    """Money like `200 USD`, kept as {"amount": "200", "currency": "USD"}."""

    def _deserialize(self, value, attr, data, **kwargs):
        m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s+([A-Z]{3})\s*", str(value))
        if not m:
            raise ValidationError("must be money like 200 USD")
        try:
            return {"amount": str(parse_decimal(m[1])), "currency": m[2]}
        except ValueError_ as exc:
            raise ValidationError(str(exc)) from None


class TemplateText(fields.Field):
    """Text with {event.x}/{client.x} placeholders, or {template: name} from definitions."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict) and list(value) == ["template"] and isinstance(value["template"], str):
            return {"template": value["template"]}
        raise ValidationError("must be text, or {template: name}")


class OneOrMany(fields.List):
    """A list that may also be written as a single item."""

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value if isinstance(value, list) else [value], attr, data, **kwargs)


class Params(Schema):
    class Meta:
        unknown = RAISE


class TaskParams(Params):
    queue = fields.Str(required=True, validate=NAME)
    route = fields.Dict(keys=fields.Str(), values=fields.Dict(keys=fields.Str(), values=fields.Str(validate=NAME)))
    title = TemplateText(required=True)
    description = TemplateText()
    priority = fields.Str(load_default="normal", validate=validate.OneOf(tuple(PRIORITIES)))
    due_in = Duration()
    one_open_per = fields.Str(validate=validate.OneOf(("client",)))
    close_when = OneOrMany(fields.Str())
    open_while = fields.Str(validate=NAME)
    episode_ends_with = OneOrMany(fields.Str())

    @validates_schema
    def _episodes_need_one_task(self, data, **kwargs):
        if data.get("episode_ends_with") and data.get("one_open_per") != "client":
            raise ValidationError("needs one_open_per: client (one task per episode)",
                                  "episode_ends_with")


class RaisePriorityParams(Params):
    task_of = fields.Str(required=True)
    to = fields.Str(required=True, validate=validate.OneOf(tuple(PRIORITIES)))


class SetStatusParams(Params):
    status = fields.Str(required=True, validate=validate.OneOf(CLIENT_STATUSES))
    reason = TemplateText(required=True)


class SetRiskParams(Params):
    category = fields.Str(required=True, validate=validate.OneOf(RISK_CATEGORIES))
    reason = TemplateText(required=True)


class NotifyParams(Params):
    template = fields.Str(required=True, validate=NAME)
    channel = fields.Str(load_default="email", validate=validate.OneOf(CHANNELS))


class StartTimerParams(Params):
    name = fields.Str(required=True, validate=NAME)
    after = Duration(required=True)


class CancelTimerParams(Params):
    name = fields.Str(required=True, validate=NAME)


class CommissionParams(Params):
    type = fields.Str(required=True, validate=validate.OneOf(COMMISSION_TYPES))
    once_per = fields.Str(load_default="client", validate=validate.OneOf(("client", "event", "trade")))
    review = fields.Bool(load_default=False)
    profile = fields.Str(validate=NAME)
    amount = MoneyField()


class EmitParams(Params):
    type = fields.Str(required=True)
    data = fields.Dict(keys=fields.Str(), values=fields.Raw(), load_default=dict)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    schema: type[Schema]
    doc: str
    shorthand: str | None = None         # the parameter a bare scalar sets
    templates: tuple[str, ...] = ()      # parameters with {event.x}/{client.x} placeholders
    event_types: tuple[str, ...] = ()    # parameters naming event types
    rule_refs: tuple[str, ...] = ()      # parameters naming rule ids
    queues: tuple[str, ...] = ()         # parameters naming task queues
    conditions: tuple[str, ...] = ()     # parameters naming defined conditions
    run: Callable | None = None          # run(run, params, key) -> result text (engine.rules.actions_run.Run)


ACTIONS: dict[str, ActionSpec] = {}


def action(name: str, schema: type[Schema], **meta):
    """Register the decorated run(run, params, key) as action `name`, its parameters loaded by `schema`.

    This is the one place an action is declared: its schema and metadata for the
    compiler, and what it does at run time (domain services are imported when it runs,
    so the compiler stays free of them).
    """
    def register(fn):
        ACTIONS[name] = ActionSpec(name, schema, (fn.__doc__ or "").strip(), run=fn, **meta)
        return fn
    return register


@action("task", TaskParams, templates=("title", "description"), event_types=("close_when", "episode_ends_with"),
        queues=("queue",), conditions=("open_while",))
def _task(run, p: dict, key: str) -> str:
    """Create an inbox task (or add to the client's open one)."""
    from engine.tasks import service as tasks_service
    fields_ = _task_fields(run, p)
    if p.get("episode_ends_with"):
        return _episode_task(run, p, key, fields_)
    open_key = f"rule:{run.rule.id}:{run.client.ref}" if p.get("one_open_per") == "client" else None
    data = {k: p[k] for k in ("close_when", "open_while") if p.get(k)}
    task, created = tasks_service.create(
        run.session, **fields_, client_ref=run.client.ref, priority=p["priority"], rule_id=run.rule.id,
        ruleset_version=run.ruleset.version, open_key=open_key, trigger_key=key,
        explanation=run.explanation, created_by=run.actor, data=data or None)
    return f"task {task.id} {'created' if created else 'already open'} in {fields_['queue']}"


def _task_fields(run, p: dict) -> dict:
    """Return what a trigger decides of its task: queue (routed), title, description, due time."""
    queue = p["queue"]
    for path, table in (p.get("route") or {}).items():
        queue = table.get(str(run.value(path)), queue)
    return {"queue": queue, "title": run.text(p["title"])[:300],
            "description": run.text(p["description"]) if p.get("description") else None,
            "due_at": run.now + timedelta(seconds=p["due_in"]) if p.get("due_in") else None}


def _episode_task(run, p: dict, key: str, fields_: dict) -> str:
    """Keep one task per episode of the rule (its triggers between two `episode_ends_with` events).

    In order, an episode's first trigger opens the task and the event that ends the
    episode closes it. Delivered late, a trigger finds its episode by occurred_at: it
    joins the episode's task, re-routing and re-titling it when it is older than the
    trigger the task came from, or records the task closed when the ending event came
    first.
    """
    from engine.tasks import service as tasks_service
    start, end = _episode_bounds(run, p["episode_ends_with"])
    task = _episode_member(run, start, end)
    if task is not None:
        if _trigger_at(task) is not None and run.now < _trigger_at(task):
            return _reroute(run, task, fields_, key)
        _note(task, run.actor, "triggered_again", fields_["title"], {"trigger_key": key})
        return f"task {task.id} already has this episode ({task.status})"
    open_key = f"rule:{run.rule.id}:{run.client.ref}"
    earlier = tasks_service.get_open_by_key(run.session, open_key)
    if earlier is not None and end is None:  # still open from an episode `start` ended
        tasks_service.close_if_open(run.session, earlier, actor=run.actor,
                                    resolution=f"its episode ended with {_named(start)}")
    data = {k: p[k] for k in ("close_when", "open_while", "episode_ends_with") if p.get(k)}
    task, created = tasks_service.create(
        run.session, **fields_, client_ref=run.client.ref, priority=p["priority"], rule_id=run.rule.id,
        ruleset_version=run.ruleset.version, open_key=open_key if end is None else None,
        trigger_key=key, explanation=run.explanation, created_by=run.actor,
        data={**data, "trigger_at": iso(run.now)})
    if created and end is not None:
        tasks_service.close(run.session, task, status="done", actor=run.actor,
                            resolution=f"{_named(end)} came first; in order it closed this task")
    return f"task {task.id} {'created' if created else 'already there'} in {task.queue} ({task.status})"


def _episode_bounds(run, types) -> tuple:
    """Return the client's last event of `types` before the trigger and the first processed at or after it.

    An older one counts as soon as it is stored (it was applied earlier in this
    transaction, or arrives late); a newer one only once processed: a pending one is
    applied after this trigger, as in order, and closes the task then.
    """
    from sqlalchemy import select
    from engine.events.models import PARKED, PROCESSED, Event
    known = select(Event).where(Event.client_ref == run.client.ref, Event.type.in_(list(types)))
    before = run.session.scalar(known.where(Event.occurred_at < run.now, Event.status != PARKED)
                                .order_by(Event.occurred_at.desc(), Event.seq.desc()).limit(1))
    after = run.session.scalar(known.where(Event.occurred_at >= run.now, Event.status == PROCESSED)
                               .order_by(Event.occurred_at, Event.seq).limit(1))
    return before, after


def _episode_member(run, start, end):
    """Return the rule's task (open or closed) for the client whose trigger lies in (start, end]."""
    from sqlalchemy import select
    from engine.tasks.models import Task
    for task in run.session.scalars(select(Task).where(
            Task.client_ref == run.client.ref, Task.rule_id == run.rule.id).order_by(Task.id)):
        at = _trigger_at(task)
        if at is None:  # made before tasks kept their trigger time: the open one is current
            if task.is_open and end is None:
                return task
        elif (start is None or at > start.occurred_at) and (end is None or at <= end.occurred_at):
            return task
    return None


def _trigger_at(task):
    """Return when the trigger that gave the task its fields occurred, if recorded."""
    at = (task.data or {}).get("trigger_at")
    return parse_datetime(at) if at else None


def _reroute(run, task, fields_: dict, key: str) -> str:
    """Give the task the fields of an older trigger of its episode, as in-order processing would."""
    before = {"queue": task.queue, "title": task.title, "trigger_at": (task.data or {}).get("trigger_at")}
    task.queue, task.title = fields_["queue"], fields_["title"]
    task.description, task.due_at = fields_["description"], fields_["due_at"]
    task.explanation, task.updated_at = run.explanation, utcnow()
    task.data = {**(task.data or {}), "trigger_at": iso(run.now)}
    _note(task, run.actor, "rerouted", f"an older trigger arrived late: {before['queue']} -> {task.queue}",
          {"from": before, "to": {"queue": task.queue, "title": task.title, "trigger_at": iso(run.now)},
           "trigger_key": key})
    return f"task {task.id} re-routed to {task.queue} for an older trigger"


def _note(task, actor: str, action: str, detail: str, data: dict) -> None:
    from engine.tasks.models import TaskEvent
    task.history.append(TaskEvent(at=utcnow(), actor=actor, action=action, detail=detail, data=data))


def _named(event) -> str:
    return f"{event.type} ({event.source}/{event.event_id}, {iso(event.occurred_at)})"


@action("raise_priority", RaisePriorityParams, rule_refs=("task_of",))
def _raise_priority(run, p: dict, key: str) -> str:
    """Raise the priority of a rule's open task for the client."""
    from engine.rules.actions_run import open_rule_tasks
    from engine.tasks import service as tasks_service
    raised = []
    for task in open_rule_tasks(run.session, run.client.ref, p["task_of"]):
        if PRIORITIES[p["to"]] > task.priority_rank:
            tasks_service.set_priority(run.session, task, p["to"], actor=run.actor,
                                       reason=f"rule {run.rule.id}")
            raised.append(str(task.id))
    return f"raised task {', '.join(raised)} to {p['to']}" if raised else "no open task to raise"


@action("set_status", SetStatusParams, templates=("reason",))
def _set_status(run, p: dict, key: str) -> str:
    """Set the client's status, with a reason."""
    from engine.kyc import service as kyc_service
    change = kyc_service.set_status(run.session, client=run.client, status=p["status"],
                                    reason=run.text(p["reason"]), actor=run.actor, rule_id=run.rule.id)
    return f"status {p['status']}" if change else f"status unchanged ({run.client.status})"


@action("set_risk", SetRiskParams, templates=("reason",))
def _set_risk(run, p: dict, key: str) -> str:
    """Set the client's risk category, with a reason."""
    from engine.kyc import service as kyc_service
    changed = kyc_service.set_risk(run.session, client=run.client, category=p["category"],
                                   reason=run.text(p["reason"]), actor=run.actor)
    return f"risk {p['category']}" if changed else "risk unchanged"


@action("notify", NotifyParams, shorthand="template")
def _notify(run, p: dict, key: str) -> str:
    """Send the client a notification from a template."""
    from engine.notifications import service as notifications_service
    note = notifications_service.send(run.session, client=run.client, template=p["template"],
                                      channel=p["channel"], explanation=run.explanation,
                                      rule_id=run.rule.id, dedup_key=key)
    return f"notification {note.id} ({p['template']}, {p['channel']})"


@action("commission", CommissionParams)
def _commission(run, p: dict, key: str) -> str:
    """Record a commission for the client's IB."""
    from engine.ib import service as ib_service
    records = ib_service.record_commission(
        run.session, client=run.client, type=p["type"], explanation=run.explanation,
        event=run.event, once_per=p["once_per"], review=p["review"], profile=p.get("profile"),
        amount=p.get("amount"), actor=run.actor)
    return f"commissions {', '.join(str(r.id) for r in records)}" if records else "no commission due"


@action("emit", EmitParams, event_types=("type",))
def _emit(run, p: dict, key: str) -> str:
    """Emit a follow-up event for the client."""
    from engine.events.schemas import validate_envelope
    from engine.events.store import record
    data = {k: run.text(v) if isinstance(v, str) else v for k, v in p["data"].items()}
    envelope = validate_envelope({"id": key, "type": p["type"], "source": "rules",
                                  "occurred_at": run.now.isoformat(), "client": run.client.ref,
                                  "data": data}, allow_internal=True)
    seq, created = record(run.session, envelope, via="rules")
    return f"event {p['type']} {seq}" if created else f"event {p['type']} already emitted"


@action("start_timer", StartTimerParams)
def _start_timer(run, p: dict, key: str) -> str:
    """Start (or restart) a named timer for the client."""
    from engine.rules import timers
    timer = timers.start_named(run, p["name"], timedelta(seconds=p["after"]), key)
    return f"timer {timer.name} due {timer.due_at.isoformat()}"


@action("cancel_timer", CancelTimerParams, shorthand="name")
def _cancel_timer(run, p: dict, key: str) -> str:
    """Cancel the client's pending timers of a name."""
    from engine.rules import timers
    count = timers.cancel_named(run.session, run.client.ref, p["name"], f"cancelled by {run.rule.id}", run.now)
    return f"cancelled {count} timer(s) {p['name']}"


def freeze(value):
    """Return a hashable copy of a JSON-like value (dicts become sorted pair tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")

"""Rule actions of the tasks domain: open an inbox task (one per episode if asked), raise its priority.

Tasks own the episode logic: which trigger's task an event joins, re-routing for a
late older trigger, closing when the episode's ending event came first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.rules.actions import (
    NAME,
    Duration,
    OneOrMany,
    Outcome,
    Params,
    TemplateText,
    action,
    action_form,
    compared,
    hook_form,
    known_names,
    on_each_event,
    outcome,
)
from engine.tasks import close_batch, episodes_batch, subjects
from engine.tasks.models import PRIORITIES
from engine.values import iso, parse_datetime, utcnow


class TaskParams(Params):
    queue = fields.Str(required=True, validate=NAME)
    route = fields.Dict(keys=fields.Str(), values=fields.Dict(keys=fields.Str(), values=fields.Str(validate=NAME)))
    title = TemplateText(required=True)
    description = TemplateText()
    priority = fields.Str(load_default="normal", validate=validate.OneOf(tuple(PRIORITIES)))
    due_in = Duration()
    # one open task per client, or per subject of the rule (the same for a rule about a client)
    one_open_per = fields.Str(validate=validate.OneOf(("client", "subject")))
    close_when = OneOrMany(fields.Str())
    open_while = fields.Str(validate=NAME)
    episode_ends_with = OneOrMany(fields.Str())

    @validates_schema
    def _episodes_need_one_task(self, data, **kwargs):
        if data.get("episode_ends_with") and not data.get("one_open_per"):
            raise ValidationError("needs one_open_per: client (one task per episode)", "episode_ends_with")


class RaisePriorityParams(Params):
    task_of = fields.Str(required=True)
    to = fields.Str(required=True, validate=validate.OneOf(tuple(PRIORITIES)))


@known_names("queue")
def _queue_names(config) -> set[str]:
    """The queues staff work (engine.users.permissions): a task in another queue would be
    seen by no one but an admin. A ruleset's `definitions: queues:` narrows the choice."""
    from engine.users.permissions import ALL_QUEUES

    return set(ALL_QUEUES)


@action(
    "task",
    TaskParams,
    templates=("title", "description"),
    event_types=("close_when", "episode_ends_with"),
    queues=("queue",),
    conditions=("open_while",),
    subjects=("*",),
    client_params=("close_when", "open_while", "episode_ends_with"),
)
def _task(run, p: dict, key: str) -> str:
    """Create an inbox task (or add to the client's open one). A task about another kind of
    subject (a staff member) has no client; its subject is the subject itself (`staff`,
    user id), so the web can link to it."""
    from engine.tasks import service as tasks_service
    from engine.tasks import sla

    fields_ = _task_fields(run, p, sla.queue_hours_for(run.session) if p.get("due_in") else None)
    if run.subject_kind == "client" and p.get("episode_ends_with"):
        return _episode_task(run, p, key, fields_)
    task, created = tasks_service.create(run.session, **_task_args(run, p, key, fields_))
    return _task_result(task.id, created, fields_["queue"])


def _task_args(run, p: dict, key: str, fields_: dict) -> dict:
    """What `tasks.service.create` is given for the trigger (both paths ask the same)."""
    from engine.subjects import ident_of

    kind = run.subject_kind
    if kind == "client":
        client_ref, subject = run.client.ref, subjects.of_event(run.event)
        data = {k: p[k] for k in ("close_when", "open_while") if p.get(k)}
    else:
        client_ref, subject = None, subjects.Subject(kind, ident_of(kind, run.client.ref) or run.client.ref)
        data = {}
    return {
        **fields_,
        "client_ref": client_ref,
        "priority": p["priority"],
        "rule_id": run.rule.id,
        "ruleset_version": run.ruleset.version,
        "open_key": f"rule:{run.rule.id}:{run.client.ref}" if p.get("one_open_per") else None,
        "trigger_key": key,
        "explanation": run.explanation,
        "created_by": run.actor,
        "data": data or None,
        "subject": subject,
    }


def _task_result(task_id: int, created: bool, queue: str) -> str:
    return f"task {task_id} {'created' if created else 'already open'} in {queue}"


# ---- the set-based form of `task` (engine.rules.batch) ------------------------------
# A task about the client, outside episodes: the same create (new_task, or the open
# key's task noted "triggered_again") decided on the group's open tasks, read in bulk.


@dataclass
class _TaskState:
    hours: object  # sla.queue_hours_for
    types: frozenset[str]  # the round's event types
    named: frozenset[str]  # the ruleset's named conditions
    open: dict[str, object] = field(default_factory=dict)  # open key -> Task (new) or id
    triggered: set[str] = field(default_factory=set)  # trigger keys some task holds
    steps: list[tuple] = field(default_factory=list)  # ("task", Task) / ("note", Task | id, TaskEvent)
    episodes: episodes_batch.Episodes | None = None  # for the episode tasks (engine.tasks.episodes_batch)
    hook: close_batch.OpenTasks | None = None  # the close_tasks hook form's state (close_batch.peers)


@dataclass
class _TaskDecision:
    args: dict  # what tasks.service.create is given
    existing: object = None  # the open key's task (Task or id): a note, not a new task
    task: object = None  # the new task (set by apply)
    member: object = None  # an episode's task the trigger joins (a note), with its status
    status: str = ""


def _load_tasks(session: Session, calls: list, types: frozenset[str]) -> _TaskState:
    from engine.tasks import sla
    from engine.tasks.models import Task

    ruleset = calls[0].ruleset if calls else None
    state = _TaskState(
        sla.queue_hours_for(session), types, frozenset(dict(ruleset.conditions)) if ruleset else frozenset()
    )
    keys = sorted({f"rule:{c.rule.id}:{c.client.ref}" for c in calls if c.action.param("one_open_per")})
    for part in _chunks(keys):
        state.open.update(session.execute(select(Task.open_key, Task.id).where(Task.open_key.in_(part))).all())
    triggers = sorted({c.key for c in calls})
    for part in _chunks(triggers):
        state.triggered.update(session.scalars(select(Task.trigger_key).where(Task.trigger_key.in_(part))))
    state.episodes = episodes_batch.load(session, calls)
    return state


def _chunks(items: list, size: int = 500) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _decide_task(state: _TaskState, call) -> _TaskDecision | None:
    p = call.params
    if call.key in state.triggered:
        return None  # a replayed trigger: per event
    if call.subject_kind == "client" and p.get("episode_ends_with"):
        return _decide_episode(state, call, p)
    args = _task_args(call, p, call.key, _task_fields(call, p, state.hours))
    return _TaskDecision(args, state.open.get(args["open_key"]) if args["open_key"] else None)


def _decide_episode(state: _TaskState, call, p: dict) -> _TaskDecision | None:
    """As `_episode_task` for a trigger in order (engine.tasks.episodes_batch): join the
    episode's task, or open one; None for what the per-event path must decide."""
    assert state.episodes is not None
    start = episodes_batch.bounds(state.episodes, call)
    if start is False:
        return None  # an ending event at or after the trigger: per event
    tasks = episodes_batch.tasks_of(state.episodes, call)
    if any(_trigger_at(t) is None for t in tasks):
        return None  # a task made before tasks kept their trigger time
    fields_ = _task_fields(call, p, state.hours)
    member = episode_member(tasks, start, None)
    if member is not None:
        if call.now < _trigger_at(member) or any(s[0] == "close" and s[1] is member for s in state.steps):
            return None  # re-routed for an older trigger, or closed by the round: per event
        note = _joined(call.actor, fields_["title"], call.key)
        return _TaskDecision({}, existing=member, member=note, status=member.status)
    open_key = f"rule:{call.rule.id}:{call.client.ref}"
    if open_key in state.open:
        return None  # still open from an ended episode: closed per event
    return _TaskDecision(_episode_args(call, p, call.key, fields_, open_key))


def _apply_task(state: _TaskState, call, decision: _TaskDecision) -> bool:
    from engine.tasks import service as tasks_service

    if decision.member is not None:  # an episode's task: the trigger joins it
        task = decision.existing
        state.steps.append(("note", task.id if task.id is not None else task, decision.member))
        return False
    args = decision.args
    state.triggered.add(args["trigger_key"])
    if decision.existing is not None:
        note = tasks_service.triggered_again(
            args["created_by"], args["title"], args["trigger_key"], args["explanation"]
        )
        state.steps.append(("note", decision.existing, note))
        return False
    decision.task = tasks_service.new_task(**args)
    decision.status = decision.task.status  # as created
    state.steps.append(("task", decision.task))
    if args["open_key"]:
        state.open[args["open_key"]] = decision.task
    if state.episodes is not None and "trigger_at" in (args["data"] or {}):
        episodes_batch.tasks_of(state.episodes, call).append(decision.task)
    data = args["data"] or {}
    # close_tasks (an event hook) would close it on a later event of the round's types:
    # its form decides that (the task joins the client's open tasks it read, as per event
    # the hook reads it with them); without that form the client's later events go per event
    if not (set(data.get("close_when") or ()) & state.types or data.get("open_while") in state.named):
        return False
    if state.hook is None:
        return True
    state.hook.open.setdefault(call.client.ref, []).append(decision.task)
    return False


def _write_tasks(session: Session, state: _TaskState) -> None:
    """Add the tasks and notes in the order the per-event path would, then flush once
    (tasks first, then their history: each table's ids follow the triggers' order; the
    open-task counters see the new tasks as they do any ORM insert)."""
    for step in state.steps:
        if step[0] == "task":
            session.add(step[1])
        elif step[0] == "close":  # the close_tasks hook's (engine.tasks.close_batch)
            close_batch.close(session, step[1], step[2])
        elif step[0] == "priority":  # the raise_priority form's
            from engine.tasks import service as tasks_service

            tasks_service.set_priority(session, step[1], step[2], actor=step[3], reason=step[4])
        elif isinstance(step[1], int):
            step[2].task_id = step[1]
            session.add(step[2])
        else:
            step[1].history.append(step[2])
    session.flush()


def _task_result_of(state: _TaskState, decision: _TaskDecision) -> str:
    if decision.member is not None:
        return _joined_result(decision.existing.id, decision.status)
    if "trigger_at" in (decision.args["data"] or {}):
        return _episode_result(decision.task.id, True, decision.args["queue"], decision.status)
    task = decision.task if decision.task is not None else decision.existing
    return _task_result(task if isinstance(task, int) else task.id, decision.task is not None, decision.args["queue"])


action_form(
    "task", load=_load_tasks, decide=_decide_task, apply=_apply_task, write=_write_tasks, result=_task_result_of
)


def _task_fields(run, p: dict, hours) -> dict:
    """Return what a trigger decides of its task: queue (routed), title, description, due
    time (`hours`: the queue hours of the rules tree, sla.queue_hours_for)."""
    queue = p["queue"]
    for path, table in (p.get("route") or {}).items():
        queue = table.get(str(run.value(path)), queue)
    return {
        "queue": queue,
        "title": run.text(p["title"])[:300],
        "description": run.text(p["description"]) if p.get("description") else None,
        "due_at": _due(run.now, queue, p["due_in"], hours) if p.get("due_in") else None,
    }


def _due(now, queue: str, seconds: float, hours):
    """Return the due time of `due_in`: in the queue's business hours when the rules tree
    sets them (policy/queues.yaml), else in calendar time."""
    from engine.tasks import sla

    if hours is None:
        return now + timedelta(seconds=seconds)
    return sla.rule_due(now, seconds, hours.for_queue(queue))


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
        task.history.append(_joined(run.actor, fields_["title"], key))
        return _joined_result(task.id, task.status)
    open_key = f"rule:{run.rule.id}:{run.client.ref}"
    earlier = tasks_service.get_open_by_key(run.session, open_key)
    if earlier is not None and end is None:  # still open from an episode `start` ended
        tasks_service.close_if_open(
            run.session, earlier, actor=run.actor, resolution=f"its episode ended with {_named(start)}"
        )
    task, created = tasks_service.create(
        run.session, **_episode_args(run, p, key, fields_, open_key if end is None else None)
    )
    if created and end is not None:
        tasks_service.close(
            run.session,
            task,
            status="done",
            actor=run.actor,
            resolution=f"{_named(end)} came first; in order it closed this task",
        )
    return _episode_result(task.id, created, task.queue, task.status)


def _episode_args(run, p: dict, key: str, fields_: dict, open_key: str | None) -> dict:
    """What `tasks.service.create` is given for an episode's first trigger (both paths ask the same)."""
    data = {k: p[k] for k in ("close_when", "open_while", "episode_ends_with") if p.get(k)}
    return {
        **fields_,
        "client_ref": run.client.ref,
        "priority": p["priority"],
        "rule_id": run.rule.id,
        "ruleset_version": run.ruleset.version,
        "open_key": open_key,
        "trigger_key": key,
        "explanation": run.explanation,
        "created_by": run.actor,
        "data": {**data, "trigger_at": iso(run.now)},
        "subject": subjects.of_event(run.event),
    }


def _episode_result(task_id: int, created: bool, queue: str, status: str) -> str:
    return f"task {task_id} {'created' if created else 'already there'} in {queue} ({status})"


def _joined(actor: str, title: str, key: str):
    """The history entry of a trigger that joins its episode's task."""
    return _note_entry(actor, "triggered_again", title, {"trigger_key": key})


def _joined_result(task_id: int, status: str) -> str:
    return f"task {task_id} already has this episode ({status})"


def _episode_bounds(run, types) -> tuple:
    """Return the client's last event of `types` before the trigger and the first processed at or after it.

    An older one counts as soon as it is stored (it was applied earlier in this
    transaction, or arrives late); a newer one only once processed: a pending one is
    applied after this trigger, as in order, and closes the task then.
    """
    from sqlalchemy import select
    from engine.events.models import PARKED, PROCESSED, Event

    known = select(Event).where(Event.client_ref == run.client.ref, Event.type.in_(list(types)))
    before = run.session.scalar(
        known.where(Event.occurred_at < run.now, Event.status != PARKED)
        .order_by(Event.occurred_at.desc(), Event.seq.desc())
        .limit(1)
    )
    after = run.session.scalar(
        known.where(Event.occurred_at >= run.now, Event.status == PROCESSED)
        .order_by(Event.occurred_at, Event.seq)
        .limit(1)
    )
    return before, after


def _episode_member(run, start, end):
    """Return the rule's task (open or closed) for the client whose trigger lies in (start, end]."""
    from sqlalchemy import select
    from engine.tasks.models import Task

    tasks = run.session.scalars(
        select(Task).where(Task.client_ref == run.client.ref, Task.rule_id == run.rule.id).order_by(Task.id)
    )
    return episode_member(
        tasks, start.occurred_at if start is not None else None, end.occurred_at if end is not None else None
    )


def episode_member(tasks, start_at, end_at):
    """Return the first of `tasks` (the rule's tasks for the client, by id) whose trigger
    lies in (start_at, end_at] (None: unbounded), or an open one made before tasks kept
    their trigger time when the episode has no end yet."""
    for task in tasks:
        at = _trigger_at(task)
        if at is None:  # made before tasks kept their trigger time: the open one is current
            if task.is_open and end_at is None:
                return task
        elif (start_at is None or at > start_at) and (end_at is None or at <= end_at):
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
    _note(
        task,
        run.actor,
        "rerouted",
        f"an older trigger arrived late: {before['queue']} -> {task.queue}",
        {
            "from": before,
            "to": {"queue": task.queue, "title": task.title, "trigger_at": iso(run.now)},
            "trigger_key": key,
        },
    )
    return f"task {task.id} re-routed to {task.queue} for an older trigger"


def _note(task, actor: str, action: str, detail: str, data: dict) -> None:
    task.history.append(_note_entry(actor, action, detail, data))


def _note_entry(actor: str, action: str, detail: str, data: dict):
    from engine.tasks.models import TaskEvent

    return TaskEvent(at=utcnow(), actor=actor, action=action, detail=detail, data=data)


def _named(event) -> str:
    return f"{event.type} ({event.source}/{event.event_id}, {iso(event.occurred_at)})"


@action("raise_priority", RaisePriorityParams, rule_refs=("task_of",))
def _raise_priority(run, p: dict, key: str) -> str:
    """Raise the priority of a rule's open task for the client."""
    from engine.tasks import service as tasks_service

    raised = _to_raise(open_rule_tasks(run.session, run.client.ref, p["task_of"]), p["to"], lambda t: t.priority_rank)
    for task in raised:
        tasks_service.set_priority(run.session, task, p["to"], actor=run.actor, reason=f"rule {run.rule.id}")
    return _raised_result([t.id for t in raised], p["to"])


def _to_raise(tasks: list, to: str, rank_of) -> list:
    """The open tasks (by id) whose priority is below `to`."""
    return [t for t in tasks if PRIORITIES[to] > rank_of(t)]


def _raised_result(ids: list, to: str) -> str:
    return f"raised task {', '.join(map(str, ids))} to {to}" if ids else "no open task to raise"


# ---- the set-based form of `raise_priority` (engine.rules.batch) --------------------
# The rule's open tasks for the client as the round left them: those read in bulk, less
# those the round closed, and those it created (the `task` form's steps, where the raises
# go too, written in the triggers' order); each task's rank as the round's raises left it.


@dataclass
class _RaiseState:
    open: dict[tuple[str, str], list] = field(default_factory=dict)  # (client, rule) -> open tasks, by id
    tasks: _TaskState | None = None  # the task form's state (None: no task call in the round)
    ranks: dict[int, int] = field(default_factory=dict)  # id(task) -> rank the round's raises left


def _load_raises(session: Session, calls: list, types: frozenset[str]) -> _RaiseState:
    from engine.tasks.models import OPEN_STATUSES, Task

    state = _RaiseState()
    refs = sorted({c.client.ref for c in calls})
    rules = sorted({str(c.action.param("task_of")) for c in calls})
    for part in _chunks(refs):
        for task in session.scalars(
            select(Task)
            .where(Task.client_ref.in_(part), Task.rule_id.in_(rules), Task.status.in_(OPEN_STATUSES))
            .order_by(Task.id)
        ):
            state.open.setdefault((task.client_ref, task.rule_id), []).append(task)
    return state


def _raises_peers(state: _RaiseState, action_states: dict) -> None:
    state.tasks = action_states.get("task")


def _open_now(state: _RaiseState, ref: str, rule_id: str) -> list | None:
    """open_rule_tasks(ref, rule_id) as the round has left it (None: it cannot tell)."""
    if state.tasks is None:
        return None  # the close_tasks hook's closes are kept with the task form's steps
    steps = state.tasks.steps
    closed = {id(s[1]) for s in steps if s[0] == "close"}
    found = [t for t in state.open.get((ref, rule_id), ()) if id(t) not in closed]
    created = [s[1] for s in steps if s[0] == "task" and (s[1].client_ref, s[1].rule_id) == (ref, rule_id)]
    return found + [t for t in created if id(t) not in closed]


@dataclass
class _Raise:
    to: str
    raised: list = field(default_factory=list)  # the tasks raised (set by apply)


def _decide_raise(state: _RaiseState, call) -> _Raise | None:
    """The raise is worked out by `apply`: on the tasks as the round left them once the
    event's hook and earlier actions applied (as per event, where they ran before it)."""
    return _Raise(call.params["to"]) if state.tasks is not None else None


def _apply_raise(state: _RaiseState, call, decision: _Raise) -> bool:
    found = _open_now(state, call.client.ref, call.params["task_of"])
    assert state.tasks is not None and found is not None
    decision.raised = _to_raise(found, decision.to, lambda t: state.ranks.get(id(t), t.priority_rank))
    for task in decision.raised:
        state.ranks[id(task)] = PRIORITIES[decision.to]
        state.tasks.steps.append(("priority", task, decision.to, call.actor, f"rule {call.rule.id}"))
    return False


action_form(
    "raise_priority",
    load=_load_raises,
    decide=_decide_raise,
    apply=_apply_raise,
    write=lambda session, state: None,  # the task form writes the raises with its steps
    result=lambda state, decision: _raised_result([t.id for t in decision.raised], decision.to),
    peers=_raises_peers,
)


def open_rule_tasks(session: Session, client_ref: str, rule_id: str | None = None) -> list:
    """Return the client's open tasks made by rules (by one rule when given)."""
    from engine.tasks.models import OPEN_STATUSES, Task

    stmt = select(Task).where(Task.client_ref == client_ref, Task.rule_id.is_not(None), Task.status.in_(OPEN_STATUSES))
    if rule_id is not None:
        stmt = stmt.where(Task.rule_id == rule_id)
    return list(session.scalars(stmt.order_by(Task.id)))


_TASK_TABLES = frozenset({"tasks"})


@on_each_event
def close_tasks(session: Session, ruleset, client, event, facts) -> None:
    """Close the client's rule tasks whose close_when is this event or whose open_while cleared."""
    from engine.db import cached
    from engine.rules.api import condition_holds
    from engine.tasks import service as tasks_service

    named = dict(ruleset.conditions)
    tasks = cached(
        session,
        ("open_rule_tasks", client.ref),
        _TASK_TABLES,
        lambda: open_rule_tasks(session, client.ref),
        client_ref=client.ref,
    )
    for task in list(tasks):
        data = task.data or {}
        reason = None
        if event.type in (data.get("close_when") or ()):
            reason = f"closed by {event.type} ({event.source}/{event.event_id})"
        elif data.get("open_while") in named:
            cond = named[data["open_while"]]
            if not condition_holds(cond, facts):
                reason = f"condition {data['open_while']} no longer holds"
        if reason:
            tasks_service.close_if_open(session, task, actor=f"rule:{task.rule_id}", resolution=reason)


# The set-based form of close_tasks (engine.tasks.close_batch) decides the hook for each
# event of a group (without it every event would go per event).
hook_form(
    close_tasks,
    load=close_batch.load,
    decide=close_batch.decide,
    apply=close_batch.apply,
    write=close_batch.write,
    peers=close_batch.peers,
)


@outcome("tasks")
def _task_outcomes(session: Session, actions: list) -> list[dict]:
    """The tasks rules opened, for rule tests."""
    from engine.tasks.models import Task

    return [
        {
            "queue": t.queue,
            "rule": t.rule_id,
            "title": t.title,
            "priority": t.priority,
            "status": t.status,
            "at": iso(t.created_at),
        }
        for t in session.scalars(select(Task).where(Task.rule_id.is_not(None)).order_by(Task.id))
    ]


@compared("task")
def _compared_tasks(session: Session) -> list[Outcome]:
    """The tasks rules opened (queue, title, and priority as rules left it), for backtests."""
    from engine.tasks.models import Task

    priorities = _rule_priorities(session)
    return [
        Outcome(
            t.client_ref or "-",
            "task",
            t.trigger_key or f"task-{t.id}",
            t.rule_id,
            {"queue": t.queue, "title": t.title, "priority": priorities.get(t.id, t.priority)},
            t.explanation,
        )
        for t in session.scalars(select(Task).where(Task.rule_id.is_not(None)).order_by(Task.id))
    ]


def _rule_priorities(session: Session) -> dict[int, str]:
    """The priority of each re-prioritised task as rules set it: what staff changed by hand
    is not replayed by a backtest, so it is not compared either."""
    from engine.tasks.models import TaskEvent

    out: dict[int, str] = {}
    for task_id, actor, data in session.execute(
        select(TaskEvent.task_id, TaskEvent.actor, TaskEvent.data)
        .where(TaskEvent.action == "priority")
        .order_by(TaskEvent.id)
    ):
        out.setdefault(task_id, (data or {}).get("from"))  # as created
        if actor.startswith("rule:"):
            out[task_id] = (data or {}).get("to")
    return {task_id: p for task_id, p in out.items() if p}

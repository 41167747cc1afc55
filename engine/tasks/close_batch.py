"""The set-based form of the `close_tasks` event hook (engine.tasks.actions, issue 20).

Per event the hook closes the client's open rule tasks that the event's type closes
(`close_when`) or whose `open_while` condition no longer holds. For a group, the clients'
open rule tasks are read in one query; each event asks the same questions of them, the
condition decided on the values the rules' form knows for the group (a condition reading
another value sends the event per event, engine.rules.batch). A close is written with
the per-event path's own `close_if_open`, in the order of the round's other task
changes (the `task` action form's steps, when the round has one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

_CHUNK = 500


@dataclass
class OpenTasks:
    named: dict  # the ruleset's named conditions
    open: dict[str, list] = field(default_factory=dict)  # client -> its open rule tasks, by id
    closed: set[int] = field(default_factory=set)  # id(task) of those closed earlier in the round
    steps: list[tuple] = field(default_factory=list)  # ("close", task, reason) left to `write`


def load(session: Session, refs: list[str], ruleset, event_types) -> OpenTasks:
    from engine.tasks.models import OPEN_STATUSES, Task

    state = OpenTasks(dict(ruleset.conditions))
    for part in [refs[i : i + _CHUNK] for i in range(0, len(refs), _CHUNK)]:
        for task in session.scalars(
            select(Task)
            .where(Task.client_ref.in_(part), Task.rule_id.is_not(None), Task.status.in_(OPEN_STATUSES))
            .order_by(Task.id)
        ):
            state.open.setdefault(task.client_ref, []).append(task)
    return state


def decide(state: OpenTasks, event, client, holds) -> list[tuple] | None:
    """The tasks close_tasks closes for this event, with why (as close_tasks words it)."""
    closes = []
    for task in state.open.get(client.ref, ()):
        if id(task) in state.closed:  # (a task the round created has no id yet)
            continue
        data = task.data or {}
        if event.type in (data.get("close_when") or ()):
            closes.append((task, f"closed by {event.type} ({event.source}/{event.event_id})"))
        elif data.get("open_while") in state.named and not holds(state.named[data["open_while"]]):
            closes.append((task, f"condition {data['open_while']} no longer holds"))
    return closes or None


def apply(state: OpenTasks, closes: list[tuple], action_states: dict) -> None:
    task_state = action_states.get("task")
    steps = task_state.steps if task_state is not None else state.steps
    for task, reason in closes:
        state.closed.add(id(task))
        steps.append(("close", task, reason))
        if task_state is not None and task.open_key in task_state.open:
            del task_state.open[task.open_key]  # closing frees its key: a later trigger opens a new task


def peers(state: OpenTasks, action_states: dict) -> None:
    """Given to the `task` form: the tasks it creates in the round join the clients' open
    tasks here, as per event the hook reads them for the client's later events."""
    task_state = action_states.get("task")
    if task_state is not None:
        task_state.hook = state


def close(session: Session, task, reason: str) -> None:
    """As close_tasks closes it."""
    from engine.tasks import service as tasks_service

    tasks_service.close_if_open(session, task, actor=f"rule:{task.rule_id}", resolution=reason)


def write(session: Session, state: OpenTasks) -> None:
    for _, task, reason in state.steps:
        close(session, task, reason)

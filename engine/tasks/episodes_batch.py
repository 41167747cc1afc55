"""The set-based form of an episode task (`task` with `episode_ends_with`, issue 20).

Per event (engine.tasks.actions `_episode_task`) a trigger finds its episode from the
client's events of the ending types (`_episode_bounds`: the last stored, not parked, one
before the trigger; the first processed one at or after it) and the rule's tasks for
the client (`episode_member`). This form takes a trigger delivered in order only: no
ending event of the client at the trigger's moment, none processed after it. Its
episode then has no end, and starts after the last ending event before it; the form
decides with the per-event functions on the group state:
- the ending events of the group's triggering clients from the earliest trigger of
  their chunk on (any status: one query, bounded by the round's triggers), and for
  each client the latest one before that moment that is not parked (one grouped query);
- the rule's tasks for those clients (one query), and the tasks the round creates.
It refuses (the per-event path decides) a trigger that re-routes its episode's task
(an older trigger arriving late), whose member task the round closed, whose episode
has a task made before tasks kept their trigger time, which would close a task left
open from an ended episode, or whose trigger key a task holds already (a replay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

_CHUNK = 500


@dataclass
class Episodes:
    """The episode rules' state for the group's triggering clients."""

    # client -> [(occurred_at, status)] of its ending events from its chunk's earliest trigger
    ends: dict[str, list[tuple[datetime, str]]] = field(default_factory=dict)
    before: dict[str, datetime] = field(default_factory=dict)  # client -> latest not parked before that
    tasks: dict[tuple[str, str], list] = field(default_factory=dict)  # (client, rule) -> its tasks, by id


def load(session: Session, calls: list) -> Episodes:
    """Load what the episode calls among `calls` need (see the module)."""
    from engine.events.models import PARKED, Event
    from engine.tasks.models import Task

    state = Episodes()
    episodic = [c for c in calls if c.subject_kind == "client" and c.action.param("episode_ends_with")]
    by_types: dict[tuple, dict[str, datetime]] = {}  # ending types -> client -> earliest trigger
    for call in episodic:
        first = by_types.setdefault(_types(call.action.param("episode_ends_with")), {})
        ref = call.client.ref
        first[ref] = min(call.now, first.get(ref, call.now))
    for types, firsts in by_types.items():
        refs = sorted(firsts)
        for part in [refs[i : i + _CHUNK] for i in range(0, len(refs), _CHUNK)]:
            since = min(firsts[r] for r in part)
            known = (Event.client_ref.in_(part), Event.type.in_(list(types)))
            for ref, at, status in session.execute(
                select(Event.client_ref, Event.occurred_at, Event.status).where(*known, Event.occurred_at >= since)
            ):
                state.ends.setdefault(ref, []).append((at, status))
            for ref, at in session.execute(
                select(Event.client_ref, func.max(Event.occurred_at))
                .where(*known, Event.occurred_at < since, Event.status != PARKED)
                .group_by(Event.client_ref)
            ):
                state.before[ref] = at
    refs = sorted({c.client.ref for c in episodic})
    rules = sorted({c.rule.id for c in episodic})
    for part in [refs[i : i + _CHUNK] for i in range(0, len(refs), _CHUNK)]:
        for task in session.scalars(
            select(Task).where(Task.client_ref.in_(part), Task.rule_id.in_(rules)).order_by(Task.id)
        ):
            state.tasks.setdefault((task.client_ref, task.rule_id), []).append(task)
    return state


def _types(ends_with) -> tuple[str, ...]:
    return tuple(sorted([ends_with] if isinstance(ends_with, str) else ends_with))


def bounds(state: Episodes, call) -> datetime | None | bool:
    """The start of the trigger's episode (the last ending event before it, None: none),
    or False when the trigger is not in order (an ending event at its moment, or one
    processed after it): the per-event path decides."""
    from engine.events.models import PARKED, PROCESSED

    start = state.before.get(call.client.ref)
    for at, status in state.ends.get(call.client.ref, ()):
        if at == call.now or (at > call.now and status == PROCESSED):
            return False
        if at < call.now and status != PARKED and (start is None or at > start):
            start = at
    return start


def tasks_of(state: Episodes, call) -> list:
    return state.tasks.setdefault((call.client.ref, call.rule.id), [])

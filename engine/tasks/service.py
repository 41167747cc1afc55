"""Task service: create with de-duplication, query, and change status."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.tasks.models import OPEN_STATUSES, PRIORITIES, STATUSES, Task, TaskEvent
from engine.values import iso, utcnow


class TaskError(ValueError):
    """A task operation is not allowed (the message says why)."""


def get(session: Session, task_id: int) -> Task | None:
    """Return the task with this id, or None."""
    return session.get(Task, task_id)


def get_open_by_key(session: Session, open_key: str) -> Task | None:
    """Return the open task holding this de-duplication key, or None."""
    return session.scalar(select(Task).where(Task.open_key == open_key))


def _history(task: Task, actor: str, action: str, detail: str | None = None,
             data: dict | None = None) -> None:
    task.history.append(TaskEvent(at=utcnow(), actor=actor, action=action,
                                  detail=detail, data=data))


def create(session: Session, *, queue: str, title: str, client_ref: str | None = None,
           priority: str = "normal", due_at: datetime | None = None,
           rule_id: str | None = None, ruleset_version: str | None = None,
           open_key: str | None = None, trigger_key: str | None = None,
           explanation: dict | None = None, description: str | None = None,
           created_by: str = "system", data: dict | None = None) -> tuple[Task, bool]:
    """Create a task unless its trigger or open key already has one; return (task, created)."""
    if priority not in PRIORITIES:
        raise TaskError(f"unknown priority {priority!r}; use one of {', '.join(PRIORITIES)}")
    if trigger_key:
        existing = session.scalar(select(Task).where(Task.trigger_key == trigger_key))
        if existing:
            return existing, False
    if open_key:
        existing = get_open_by_key(session, open_key)
        if existing:
            _history(existing, created_by, "triggered_again", title,
                     {"trigger_key": trigger_key, "explanation": explanation})
            return existing, False
    now = utcnow()
    task = Task(queue=queue, title=title[:300], client_ref=client_ref, priority=priority,
                priority_rank=PRIORITIES[priority], due_at=due_at, rule_id=rule_id,
                ruleset_version=ruleset_version, open_key=open_key, trigger_key=trigger_key,
                explanation=explanation, description=description, created_by=created_by,
                data=data, status="open", created_at=now, updated_at=now)
    _history(task, created_by, "created", title)
    session.add(task)
    session.flush()
    return task, True


def set_priority(session: Session, task: Task, priority: str, *, actor: str,
                 reason: str | None = None) -> None:
    """Change a task's priority and record why."""
    if priority not in PRIORITIES:
        raise TaskError(f"unknown priority {priority!r}")
    if task.priority != priority:
        _history(task, actor, "priority", reason, {"from": task.priority, "to": priority})
        task.priority, task.priority_rank, task.updated_at = priority, PRIORITIES[priority], utcnow()


def close(session: Session, task: Task, *, status: str, actor: str,
          resolution: str | None = None) -> None:
    """Close a task as done or dismissed (a reason is required for both)."""
    if status not in ("done", "dismissed"):
        raise TaskError(f"a task is closed as done or dismissed, not {status!r}")
    if not task.is_open:
        raise TaskError(f"task {task.id} is already {task.status}")
    if not resolution:
        raise TaskError("closing a task needs a resolution or reason")
    task.status, task.resolution = status, resolution
    task.closed_at = task.updated_at = utcnow()
    task.open_key, task.lease_expires_at = None, None
    _history(task, actor, status, resolution)


def list_tasks(session: Session, *, queue: str | None = None, status: str | None = None,
               client: str | None = None, rule: str | None = None,
               assignee: str | None = None, limit: int = 100,
               after_id: int | None = None) -> list[Task]:
    """Return tasks matching the filters, newest first, keyset-paginated by id."""
    stmt = select(Task)
    if status == "open_any":
        stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
    elif status:
        if status not in STATUSES:
            raise TaskError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        stmt = stmt.where(Task.status == status)
    for column, value in ((Task.queue, queue), (Task.client_ref, client),
                          (Task.rule_id, rule), (Task.assignee, assignee)):
        if value:
            stmt = stmt.where(column == value)
    if after_id:
        stmt = stmt.where(Task.id < after_id)
    return list(session.scalars(stmt.order_by(Task.id.desc()).limit(limit)))


def to_dict(task: Task, *, history: bool = False) -> dict:
    """Return a task in the SPEC §5 shape."""
    data = {
        "id": task.id, "queue": task.queue, "status": task.status, "priority": task.priority,
        "title": task.title, "description": task.description, "client": task.client_ref,
        "rule_id": task.rule_id, "ruleset_version": task.ruleset_version,
        "created_at": iso(task.created_at), "updated_at": iso(task.updated_at),
        "due_at": iso(task.due_at), "closed_at": iso(task.closed_at),
        "assignee": task.assignee, "waiting_for": task.waiting_for,
        "resolution": task.resolution, "explanation": task.explanation,
    }
    if history:
        data["history"] = [{"at": iso(h.at), "actor": h.actor, "action": h.action,
                            "detail": h.detail} for h in task.history]
    return data

"""Task service: create with de-duplication, query, and work a task through its statuses.

Who holds a task: `assignee`. A claim holds it under a lease that expires
(`lease_expires_at`); an assignment by someone else holds it with no expiry until it
is released or reassigned. Only the holder (or nobody, when it is unheld) may
work it; `assign` and `release(force=True)` are how a colleague takes it over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from engine.errors import Conflict, lock_and_reread
from engine.tasks.subjects import Subject
from engine.tasks.models import OPEN_STATUSES, PRIORITIES, STATUSES, Task, TaskComment, TaskEvent, _OPEN_SQL
from engine.values import iso, utcnow

LEASE = timedelta(minutes=30)
MAX_TEXT = 5000
MAX_DESCRIPTION = 20_000


class TaskError(ValueError):
    """A task operation is not allowed (the message says why)."""


class TaskConflict(TaskError, Conflict):
    """Someone else closed or holds the task (the message says who and how)."""


def lock(session: Session, task: Task) -> Task:
    """Lock the task's row and re-read it: every change below decides on what is committed."""
    return lock_and_reread(session, Task, task)


def get(session: Session, task_id: int) -> Task | None:
    """Return the task with this id, or None."""
    return session.get(Task, task_id)


def get_open_by_key(session: Session, open_key: str) -> Task | None:
    """Return the open task holding this de-duplication key, or None."""
    return session.scalar(select(Task).where(Task.open_key == open_key))


def _history(task: Task, actor: str, action: str, detail: str | None = None, data: dict | None = None) -> None:
    task.history.append(TaskEvent(at=utcnow(), actor=actor, action=action, detail=detail, data=data))


def create(
    session: Session,
    *,
    queue: str,
    title: str,
    client_ref: str | None = None,
    priority: str = "normal",
    due_at: datetime | None = None,
    rule_id: str | None = None,
    ruleset_version: str | None = None,
    open_key: str | None = None,
    trigger_key: str | None = None,
    explanation: dict | None = None,
    description: str | None = None,
    created_by: str = "system",
    data: dict | None = None,
    subject: Subject | None = None,
) -> tuple[Task, bool]:
    """Create a task unless its trigger or open key already has one; return (task, created).

    `subject` is what the task is about (a withdrawal, a payout batch): the web offers
    the owning domain's actions on it.
    """
    if priority not in PRIORITIES:
        raise TaskError(f"unknown priority {priority!r}; use one of {', '.join(PRIORITIES)}")
    if trigger_key:
        existing = session.scalar(select(Task).where(Task.trigger_key == trigger_key))
        if existing:
            return existing, False
    if open_key:
        existing = get_open_by_key(session, open_key)
        if existing:
            existing.history.append(triggered_again(created_by, title, trigger_key, explanation))
            return existing, False
    task = new_task(
        queue=queue,
        title=title,
        client_ref=client_ref,
        priority=priority,
        due_at=due_at,
        rule_id=rule_id,
        ruleset_version=ruleset_version,
        open_key=open_key,
        trigger_key=trigger_key,
        explanation=explanation,
        description=description,
        created_by=created_by,
        data=data,
        subject=subject,
    )
    session.add(task)
    session.flush()
    return task, True


def new_task(*, title: str, priority: str, created_by: str, subject: Subject | None, **columns) -> Task:
    """The open task `create` adds when neither key has one (the set-based path adds it too)."""
    now = utcnow()
    task = Task(
        title=title[:300],
        priority=priority,
        priority_rank=PRIORITIES[priority],
        created_by=created_by,
        status="open",
        created_at=now,
        updated_at=now,
        subject_kind=subject.kind if subject else None,
        subject_id=subject.id if subject else None,
        **columns,
    )
    _history(task, created_by, "created", title)
    return task


def triggered_again(actor: str, title: str, trigger_key: str | None, explanation: dict | None) -> TaskEvent:
    """The history entry of a trigger that found its open key's task already open."""
    data = {"trigger_key": trigger_key, "explanation": explanation}
    return TaskEvent(at=utcnow(), actor=actor, action="triggered_again", detail=title, data=data)


def create_manual(
    session: Session,
    *,
    queue: str,
    title: str,
    actor: str,
    client_ref: str | None = None,
    priority: str = "normal",
    description: str | None = None,
    hours=None,
) -> Task:
    """Create a task by hand (a support ticket), due by the SLA of its priority."""
    from engine.tasks import sla

    title = _text(title, "title")
    if len(title) > 300:
        raise TaskError("title is too long (at most 300 characters)")
    if description is not None and not isinstance(description, str):
        raise TaskError("description must be text")
    if description and len(description) > MAX_DESCRIPTION:
        raise TaskError(f"description is too long (at most {MAX_DESCRIPTION:,} characters)")
    if description and "\x00" in description:
        raise TaskError("description: contains a NUL character")
    if priority not in PRIORITIES:
        raise TaskError(f"priority: unknown {priority!r}; use one of {', '.join(PRIORITIES)}")
    # The queue's own hours (policy/queues.yaml of the active rules) win over the broker's.
    by_queue = sla.queue_hours_for(session)
    if by_queue is not None and queue in by_queue.queues:
        hours = by_queue.for_queue(queue)
    due = sla.due_at(utcnow(), priority, hours or sla.BusinessHours.parse(None))
    task, _ = create(
        session,
        queue=queue,
        title=title,
        client_ref=client_ref,
        priority=priority,
        due_at=due,
        description=(description or "").strip() or None,
        created_by=actor,
    )
    return task


def set_priority(session: Session, task: Task, priority: str, *, actor: str, reason: str | None = None) -> None:
    """Change a task's priority and record why."""
    if priority not in PRIORITIES:
        raise TaskError(f"unknown priority {priority!r}")
    if task.priority != priority:
        _history(task, actor, "priority", reason, {"from": task.priority, "to": priority})
        task.priority, task.priority_rank, task.updated_at = priority, PRIORITIES[priority], utcnow()


def close(session: Session, task: Task, *, status: str, actor: str, resolution: str | None = None) -> None:
    """Close a task as done or dismissed (a reason is required for both)."""
    if status not in ("done", "dismissed"):
        raise TaskError(f"a task is closed as done or dismissed, not {status!r}")
    _require_open(lock(session, task))
    if not resolution:
        raise TaskError("closing a task needs a resolution or reason")
    task.status, task.resolution = status, resolution
    task.closed_at = task.updated_at = utcnow()
    task.open_key, task.lease_expires_at = None, None
    _history(task, actor, status, resolution)


def _text(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise TaskError(f"{what} is required")
    if len(value) > MAX_TEXT:
        raise TaskError(f"{what} is too long (at most {MAX_TEXT} characters)")
    if "\x00" in value:  # PostgreSQL stores no NUL in text
        raise TaskError(f"{what}: contains a NUL character")
    return value


def _require_open(task: Task) -> None:
    if not task.is_open:
        closed = [h for h in task.history if h.action in ("done", "dismissed")]
        by = f" by {closed[-1].actor}" if closed else ""
        how = f": {task.resolution}" if task.resolution else ""
        raise TaskConflict(f"task {task.id} is already {task.status}{by}{how}")


def close_if_open(session: Session, task: Task, *, actor: str, resolution: str) -> bool:
    """Close the task as done unless someone closed it first; return whether this did.

    For the system's own closes (a rule's condition, a decision elsewhere), where a
    colleague closing the task a moment earlier is not an error."""
    if not lock(session, task).is_open:
        return False
    close(session, task, status="done", actor=actor, resolution=resolution)
    return True


def lease_live(task: Task, now: datetime | None = None) -> bool:
    """Return whether someone holds the task right now (an assignment never lapses)."""
    if not task.assignee:
        return False
    return task.lease_expires_at is None or task.lease_expires_at > (now or utcnow())


def check_holder(task: Task, actor: str) -> None:
    """Refuse when the task is closed or someone else holds it."""
    _require_open(task)
    if task.assignee and task.assignee != actor and lease_live(task):
        until = f" until {iso(task.lease_expires_at)}" if task.lease_expires_at else ""
        raise TaskConflict(f"task {task.id} is held by {task.assignee}{until}; ask them or reassign it first")


def _renew(task: Task, actor: str, now: datetime) -> None:
    if task.assignee == actor and task.lease_expires_at is not None:
        task.lease_expires_at = now + LEASE
    task.updated_at = now


def claim(session: Session, task: Task, *, actor: str, lease: timedelta = LEASE) -> None:
    """Take the task for `actor` under a lease that expires unless renewed."""
    lock(session, task)
    check_holder(task, actor)
    now = utcnow()
    previous = task.assignee if task.assignee != actor else None
    task.assignee, task.lease_expires_at, task.updated_at = actor, now + lease, now
    if task.status == "open":
        task.status = "in_progress"
    _history(
        task,
        actor,
        "claimed",
        f"taken over from {previous} (lease lapsed)" if previous else None,
        {"lease_expires_at": iso(task.lease_expires_at)},
    )


def release(session: Session, task: Task, *, actor: str, force: bool = False) -> None:
    """Give the task back to its queue (`force` lets a colleague release someone else's)."""
    lock(session, task)
    _require_open(task)
    if not task.assignee:
        raise TaskError(f"task {task.id} is not held by anyone")
    if not force:
        check_holder(task, actor)
    detail = None if task.assignee == actor else f"released from {task.assignee}"
    task.assignee, task.lease_expires_at, task.updated_at = None, None, utcnow()
    if task.status == "in_progress":
        task.status = "open"
    _history(task, actor, "released", detail)


def assign(session: Session, task: Task, *, actor: str, assignee: str) -> None:
    """Give the task to `assignee` (held until released or reassigned)."""
    lock(session, task)
    _require_open(task)
    assignee = _text(assignee, "assignee").lower()
    if task.assignee == assignee and task.lease_expires_at is None:
        return
    action = "reassigned" if task.assignee and task.assignee != assignee else "assigned"
    _history(task, actor, action, assignee, {"from": task.assignee, "to": assignee})
    task.assignee, task.lease_expires_at, task.updated_at = assignee, None, utcnow()
    if task.status == "open":
        task.status = "in_progress"


def wait(session: Session, task: Task, *, actor: str, waiting_for: str) -> None:
    """Park the task until something happens (say what: "client's proof of address")."""
    lock(session, task)
    check_holder(task, actor)
    waiting_for = _text(waiting_for, "what the task waits for")[:200]
    task.status, task.waiting_for = "waiting", waiting_for
    _renew(task, actor, utcnow())
    _history(task, actor, "waiting", waiting_for)


def resume(session: Session, task: Task, *, actor: str) -> None:
    """Take a waiting task back into work."""
    lock(session, task)
    check_holder(task, actor)
    if task.status != "waiting":
        raise TaskError(f"task {task.id} is {task.status}, not waiting")
    task.status = "in_progress" if task.assignee else "open"
    task.waiting_for = None
    _renew(task, actor, utcnow())
    _history(task, actor, "resumed")


def resolve(session: Session, task: Task, *, actor: str, resolution: str) -> None:
    """Close the task as done, saying how it was resolved."""
    lock(session, task)
    check_holder(task, actor)
    close(session, task, status="done", actor=actor, resolution=_text(resolution, "resolution"))
    _announce_outcome(session, task, actor)


def dismiss(session: Session, task: Task, *, actor: str, reason: str) -> None:
    """Close the task as dismissed, saying why nothing needed doing."""
    lock(session, task)
    check_holder(task, actor)
    close(session, task, status="dismissed", actor=actor, resolution=_text(reason, "reason"))
    _announce_outcome(session, task, actor)


def _announce_outcome(session: Session, task: Task, actor: str) -> None:
    """Record `task.closed` for a client's task a person resolved or dismissed (for rules)."""
    if not task.client_ref:
        return
    from engine.processing.ingest import record_app_event

    record_app_event(
        session,
        type_="task.closed",
        client_ref=task.client_ref,
        event_id=f"task-{task.id}-closed",
        at=task.closed_at,
        data={
            "task_id": str(task.id),
            "queue": task.queue,
            "outcome": task.status,
            "resolution": (task.resolution or "")[:500],
            "actor": actor,
            "rule_id": task.rule_id,
        },
    )


def comment(session: Session, task: Task, *, author: str, body: str) -> TaskComment:
    """Add a comment to the task (allowed in any status)."""
    note = TaskComment(at=utcnow(), author=author, body=_text(body, "comment"))
    task.comments.append(note)
    _history(task, author, "commented", note.body[:200])
    task.updated_at = note.at
    session.flush()
    return note


def expire_lapsed_leases(database) -> int:
    """Ticker sweep: give back the tasks whose claim lease has lapsed; return how many."""
    from engine.db import unit_of_work

    with unit_of_work(database) as session:
        return expire_leases(session)


def expire_leases(session: Session, *, now: datetime | None = None) -> int:
    """Give back to their queues the tasks whose claim lease has lapsed; return how many."""
    now = now or utcnow()
    rows = session.scalars(
        select(Task)
        .where(Task.lease_expires_at.is_not(None), Task.lease_expires_at <= now, text(_OPEN_SQL))
        .with_for_update(skip_locked=True)
        .limit(500)
    )
    count = 0
    for task in rows:
        _history(task, "system", "lease_expired", f"{task.assignee} did not renew the claim")
        task.assignee, task.lease_expires_at, task.updated_at = None, None, now
        task.status = "open" if task.status == "in_progress" else task.status
        count += 1
    session.flush()
    return count


def list_tasks(
    session: Session,
    *,
    queue: str | None = None,
    status: str | None = None,
    client: str | None = None,
    rule: str | None = None,
    assignee: str | None = None,
    limit: int = 100,
    after_id: int | None = None,
) -> list[Task]:
    """Return tasks matching the filters, newest first, keyset-paginated by id."""
    stmt = select(Task)
    if status == "open_any":
        stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
    elif status:
        if status not in STATUSES:
            raise TaskError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
        stmt = stmt.where(Task.status == status)
    for column, value in (
        (Task.queue, queue),
        (Task.client_ref, client),
        (Task.rule_id, rule),
        (Task.assignee, assignee),
    ):
        if value:
            stmt = stmt.where(column == value)
    if after_id:
        stmt = stmt.where(Task.id < after_id)
    return list(session.scalars(stmt.order_by(Task.id.desc()).limit(limit)))


def to_dict(task: Task, *, history: bool = False) -> dict:
    """Return a task in the SPEC §5 shape."""
    now = utcnow()
    data = {
        "id": task.id,
        "queue": task.queue,
        "status": task.status,
        "priority": task.priority,
        "title": task.title,
        "description": task.description,
        "client": task.client_ref,
        "rule_id": task.rule_id,
        "ruleset_version": task.ruleset_version,
        "created_at": iso(task.created_at),
        "updated_at": iso(task.updated_at),
        "due_at": iso(task.due_at),
        "closed_at": iso(task.closed_at),
        "assignee": task.assignee,
        "waiting_for": task.waiting_for,
        "resolution": task.resolution,
        "explanation": task.explanation,
        "lease_expires_at": iso(task.lease_expires_at),
        "created_by": task.created_by,
        "overdue": bool(task.is_open and task.due_at and task.due_at < now),
        "subject": ({"kind": task.subject_kind, "id": task.subject_id} if task.subject_kind else None),
    }
    if history:
        data["history"] = [
            {"at": iso(h.at), "actor": h.actor, "action": h.action, "detail": h.detail} for h in task.history
        ]
        data["comments"] = [{"at": iso(c.at), "author": c.author, "body": c.body} for c in task.comments]
    return data

"""Bulk operations: one action over many tasks, each succeeding or failing on its own."""

from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.tasks import service
from engine.tasks.models import Task

MAX_BULK = 500
OPERATIONS = ("claim", "release", "assign", "resolve", "dismiss")


def _apply(session: Session, task: Task, op: str, actor: str, params: dict) -> None:
    if op == "claim":
        service.claim(session, task, actor=actor)
    elif op == "release":
        service.release(session, task, actor=actor, force=params.get("force", False))
    elif op == "assign":
        service.assign(session, task, actor=actor, assignee=params.get("assignee") or "")
    elif op == "resolve":
        service.resolve(session, task, actor=actor, resolution=params.get("resolution") or "")
    else:
        service.dismiss(session, task, actor=actor, reason=params.get("reason") or "")


def run(
    session: Session, *, ids: list[int], op: str, actor: str, visible: Callable[[Task], bool], **params
) -> dict[int, str]:
    """Apply `op` to each task id; return {id: "ok" or the reason it was refused}."""
    if op not in OPERATIONS:
        raise service.TaskError(f"op: unknown bulk operation {op!r}; use one of {', '.join(OPERATIONS)}")
    if not ids:
        raise service.TaskError("ids: select at least one task")
    if len(ids) > MAX_BULK:
        raise service.TaskError(f"ids: at most {MAX_BULK} tasks at once")
    found = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_(ids)))}
    results: dict[int, str] = {}
    for task_id in sorted(set(ids)):  # locks taken in id order: two bulk runs never deadlock
        task = found.get(task_id)
        if task is None or not visible(task):
            results[task_id] = "no such task"
            continue
        try:
            _apply(session, task, op, actor, params)
            results[task_id] = "ok"
        except service.TaskError as exc:
            results[task_id] = str(exc)
    session.flush()
    return results

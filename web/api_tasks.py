"""The task routes of the JSON API: list, read, act, bulk, counts and manual tasks."""

from __future__ import annotations

from flask import abort, jsonify, request

from engine.db import unit_of_work
from engine.tasks import query as task_query
from engine.tasks import service as tasks_service
from engine.users import permissions
from web import api_schemas, database
from web.api import bp
from web.auth import current_user, requires
from web.json_input import json_body, text_fields
from web.task_actions import ActionError, perform, run_bulk
from web.viewhelpers import filters_from, visible_task

MAX_LIMIT = 500


def _json_body() -> dict:
    body = json_body()
    if body is None and request.content_length:
        abort(400, description="the body must be a JSON object")
    if body is not None and not isinstance(body, dict):
        abort(400, description="the body must be a JSON object")
    return body or {}


def _limit() -> int:
    raw = request.args.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        abort(400, description=f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _cursor(filters) -> str | None:
    after = request.args.get("after") or None
    if after and after.isascii() and after.isdigit() and len(after) <= 18 and filters.sort == "newest":
        from engine.tasks.models import Task

        return task_query.encode_cursor(Task(id=int(after)), "newest")  # plain id still works
    return after


@bp.get("/tasks")
@requires("tasks.view")
def list_tasks():
    """List tasks the caller may see (filters: queue, status, client, rule, assignee, ...)."""
    filters = filters_from(request.args, current_user(), default_status="any")
    limit = _limit()
    with unit_of_work(database()) as s:
        tasks_service.expire_leases(s)
        try:
            rows, cursor = task_query.list_page(s, filters, limit=limit, after=_cursor(filters))
        except task_query.QueryError as exc:
            return jsonify(error=str(exc)), 400
        data = [tasks_service.to_dict(t) for t in rows]
    return jsonify(tasks=data, next_after=cursor)


@bp.get("/tasks/counts")
@requires("tasks.view")
def task_counts():
    """Count open tasks per visible queue, and mine, unassigned and overdue."""
    user = current_user()
    queues = permissions.ALL_QUEUES if user.role == "admin" else permissions.queues_for(user.role)
    with unit_of_work(database()) as s:
        return jsonify(task_query.counts(s, queues, user=user.email))


@bp.get("/tasks/<int:task_id>")
@requires("tasks.view")
def get_task(task_id):
    """Return one task with its history, comments and explanation."""
    with unit_of_work(database()) as s:
        return jsonify(tasks_service.to_dict(visible_task(s, task_id), history=True))


@bp.post("/tasks/<int:task_id>/<action>")
@requires("tasks.work")
def task_action(task_id, action):
    """Claim, release, assign, wait, resume, resolve, dismiss, comment or decide on a task."""
    body = text_fields(_json_body(), lists=("document_types",))
    try:
        with unit_of_work(database()) as s:
            task = visible_task(s, task_id)
            perform(s, current_user(), task, action, body)
            data = tasks_service.to_dict(task, history=True)
    except ActionError as exc:
        return jsonify(error=str(exc), action=action, task=task_id), exc.status
    return jsonify(data)


@bp.post("/tasks")
@requires("tasks.create")
def create_task():
    """Create a manual task: {queue, title, client?, priority?, description?}."""
    from web.pages import create_manual_task

    try:
        body = api_schemas.load(api_schemas.NewTaskSchema(), _json_body())
        task_id = create_manual_task(current_user(), body)
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    with unit_of_work(database()) as s:
        return jsonify(tasks_service.to_dict(tasks_service.get(s, task_id))), 201


@bp.post("/tasks/bulk")
@requires("tasks.bulk")
def bulk_tasks():
    """Apply one operation to many tasks: {op, ids, assignee?, resolution?, reason?}."""
    try:
        body = api_schemas.load(api_schemas.BulkSchema(), _json_body())
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    op, ids = body["op"], body["ids"]
    params = {k: body[k] for k in ("assignee", "resolution", "reason")}
    try:
        with unit_of_work(database()) as s:
            results = run_bulk(s, current_user(), op, ids, params)
    except ActionError as exc:
        return jsonify(error=str(exc)), exc.status
    return jsonify(results={str(k): v for k, v in results.items()}, done=sum(1 for v in results.values() if v == "ok"))
